// Pure decoder of the records read() returns from an inotify fd. No I/O: unit tests and the fuzz
// target hand it captured, truncated and corrupted buffers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace daemoneye::fsmond {

struct InotifyRecord {
    int32_t wd = -1;
    uint32_t mask = 0;
    uint32_t cookie = 0;
    std::string name;  // empty for events on the watched object itself
};

struct InotifyDecodeResult {
    std::vector<InotifyRecord> records;
    size_t malformed = 0;  // a record whose name runs past the buffer ends decoding
    std::string first_error;
};

InotifyDecodeResult decode_inotify(std::span<const uint8_t> buffer);

}  // namespace daemoneye::fsmond
