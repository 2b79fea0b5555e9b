// IpcConfig from the IPC seed: one struct for every framed endpoint (CLI IPC and the bus).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "daemoneye/wire/crc32.hpp"

namespace daemoneye::wire {

struct IpcConfig {
    std::string endpoint_path;
    std::size_t max_frame_bytes = std::size_t{1024} * 1024;
    std::uint64_t read_timeout_ms = 30000;   // a whole frame, from its first byte to its last
    std::uint64_t write_timeout_ms = 10000;  // a whole frame
    std::size_t max_connections = 16;
    Crc32Variant crc32_variant = Crc32Variant::Ieee;
};

}  // namespace daemoneye::wire
