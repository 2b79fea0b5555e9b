// What the broker needs from an RpcRequest or RpcResponse, read straight from its bytes: the
// broker routes and forwards RPC bodies without building protobuf objects (a full parse, a copy
// and a destruction per hop were most of its per-call work).
//
// scan_* check the body's top level as protobuf would parse it, and stricter: every field key and
// length is well formed, the fields rpc.proto declares have their declared wire type, and the
// top-level strings are UTF-8 (as proto3 requires). Nested messages (timestamp, correlation,
// payloads) are not opened: whoever parses the body checks them, and a client answers a body it
// cannot parse with an error instead of dropping its connection.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "daemoneye/result.hpp"
#include "utf8.hpp"  // valid_utf8, used by the scan

namespace daemoneye::eventbus {

struct RpcRequestHead {
    std::string_view correlation_id;
    std::string_view target;
    std::uint64_t timeout_ms = 0;
};

struct RpcResponseHead {
    std::string_view correlation_id;
};

// The error says what is wrong and where ("field 3 (target) is not UTF-8").
Result<RpcRequestHead, std::string> scan_rpc_request(std::span<const std::uint8_t> body);
Result<RpcResponseHead, std::string> scan_rpc_response(std::span<const std::uint8_t> body);

}  // namespace daemoneye::eventbus
