// How a BusClient introduces itself and behaves (socket, socketpair or in-process).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/wire/crc32.hpp"

namespace daemoneye::eventbus {

// Exponential backoff with jitter between reconnect attempts (socket_path clients only: an
// adopted socketpair cannot be re-dialled, so such a client just reports NotConnected).
// Attempt n waits min(max, initial * multiplier^(n-1)) scaled by the jitter factor.
// While enabled, BusClient::connect and connect_fd refuse (BusError::Code::InvalidOptions, naming
// the field and value) initial <= 0, max < initial, multiplier < 1 and jitter outside [0, 1].
struct ReconnectPolicy {
    bool enabled = true;
    std::chrono::milliseconds initial{100};  // > 0
    std::chrono::milliseconds max{10000};    // >= initial
    double multiplier = 2.0;                 // >= 1
    double jitter = 0.2;           // in [0, 1]: each delay is scaled by a random factor in
                                   // [1 - jitter, 1 + jitter]
    std::size_t max_attempts = 0;  // 0: forever
};

struct ClientOptions {
    // Hello fields.
    bus::v1::Role role = bus::v1::ROLE_CLIENT;
    std::string client_name = "client";
    std::string instance_id;  // collectors: the instance the agent spawned (must match)
    std::optional<bus::v1::PluginManifest> manifest;  // collectors
    std::vector<bus::v1::SandboxLayer> sandbox;       // collectors: layers the launcher applied

    // Socket clients.
    std::string socket_path;  // BusClient::connect
    std::size_t max_frame_bytes = std::size_t{1} << 20;
    wire::Crc32Variant crc32_variant = wire::Crc32Variant::Ieee;
    std::chrono::milliseconds handshake_timeout{10000};  // connect + Hello/Welcome
    std::chrono::milliseconds write_timeout{10000};
    ReconnectPolicy reconnect;
    // Bytes of encoded publishes waiting for the socket. publish() beyond it fails Backpressure
    // (never blocks, never drops silently); co_await wait_writable() to resume.
    std::size_t outbound_buffer_bytes = std::size_t{8} << 20;

    // RPC (rpc.* config).
    std::size_t max_pending_requests = 1000;  // beyond: OVERLOADED at once
    // A call given no timeout (0) waits this long (rpc.default_timeout_seconds).
    std::chrono::milliseconds default_rpc_timeout{30000};
    std::chrono::milliseconds ack_timeout{10000};  // Subscribe/serve acknowledgement
};

}  // namespace daemoneye::eventbus
