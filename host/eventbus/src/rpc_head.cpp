#include "rpc_head.hpp"

#include "utf8.hpp"
#include "wire_format.hpp"

namespace daemoneye::eventbus {

using namespace wirefmt;

namespace {

// rpc.proto, the top level of RpcRequest and RpcResponse.
enum class Kind : std::uint8_t { Unknown, String, Varint, Message };

struct FieldSpec {
    Kind kind;
    const char* name;
};

FieldSpec request_field(std::uint32_t f) {
    switch (f) {
        case 1:
            return {Kind::String, "correlation_id"};
        case 2:
            return {Kind::String, "client_id"};
        case 3:
            return {Kind::String, "target"};
        case 4:
            return {Kind::Varint, "operation"};
        case 5:
            return {Kind::Message, "timestamp"};
        case 6:
            return {Kind::Varint, "timeout_ms"};
        case 7:
            return {Kind::String, "reply_to"};
        case 8:
            return {Kind::Message, "correlation"};
        case 10:
            return {Kind::Message, "lifecycle"};
        case 11:
            return {Kind::Message, "health_check"};
        case 12:
            return {Kind::Message, "config_update"};
        case 13:
            return {Kind::Message, "task"};
        default:
            return {Kind::Unknown, nullptr};
    }
}

FieldSpec response_field(std::uint32_t f) {
    switch (f) {
        case 1:
            return {Kind::String, "correlation_id"};
        case 2:
            return {Kind::Varint, "status"};
        case 3:
            return {Kind::Message, "error"};
        case 4:
            return {Kind::Varint, "execution_time_us"};
        case 5:
            return {Kind::Message, "correlation"};
        case 6:
            return {Kind::String, "responder"};
        case 10:
            return {Kind::Message, "lifecycle"};
        case 11:
            return {Kind::Message, "health"};
        case 12:
            return {Kind::Message, "task_result"};
        case 13:
            return {Kind::Message, "capabilities"};
        default:
            return {Kind::Unknown, nullptr};
    }
}

std::string where(std::uint32_t f, const char* name) {
    std::string s = "field " + std::to_string(f);
    if (name) s += std::string(" (") + name + ")";
    return s;
}

// Walks the top level; on_field(f, value bytes or {}, varint) sees each known field.
template <class Spec, class OnField>
Result<void, std::string> walk(std::span<const std::uint8_t> body, Spec spec, OnField on_field) {
    Reader r(body);
    while (!r.done()) {
        std::uint32_t f = 0;
        WireType wt{};
        const auto at = r.position() - body.data();
        if (!r.key(f, wt)) {
            return unexpected("bad field key at byte " + std::to_string(at));
        }
        const FieldSpec fs = spec(f);
        std::span<const std::uint8_t> bytes;
        std::uint64_t v = 0;
        switch (fs.kind) {
            case Kind::Unknown:
                if (!r.skip(wt))
                    return unexpected(where(f, nullptr) +
                                      " is truncated or of an unknown wire type");
                continue;
            case Kind::Varint:
                if (wt != kVarint) return unexpected(where(f, fs.name) + " is not a varint");
                if (!r.varint(v)) return unexpected(where(f, fs.name) + " is truncated");
                break;
            case Kind::String:
            case Kind::Message:
                if (wt != kLen) return unexpected(where(f, fs.name) + " is not length-delimited");
                if (!r.bytes(bytes)) return unexpected(where(f, fs.name) + " is truncated");
                if (fs.kind == Kind::String && !valid_utf8(as_string(bytes))) {
                    return unexpected(where(f, fs.name) + " is not UTF-8");
                }
                break;
        }
        on_field(f, bytes, v);
    }
    return {};
}

}  // namespace

Result<RpcRequestHead, std::string> scan_rpc_request(std::span<const std::uint8_t> body) {
    RpcRequestHead head;
    auto ok = walk(body, request_field,
                   [&](std::uint32_t f, std::span<const std::uint8_t> bytes, std::uint64_t v) {
                       // A repeated singular field: the last occurrence wins, as in protobuf.
                       if (f == 1) head.correlation_id = as_string(bytes);
                       if (f == 3) head.target = as_string(bytes);
                       if (f == 6) head.timeout_ms = v;
                   });
    if (!ok) return unexpected(std::move(ok.error()));
    return head;
}

Result<RpcResponseHead, std::string> scan_rpc_response(std::span<const std::uint8_t> body) {
    RpcResponseHead head;
    auto ok = walk(body, response_field,
                   [&](std::uint32_t f, std::span<const std::uint8_t> bytes, std::uint64_t) {
                       if (f == 1) head.correlation_id = as_string(bytes);
                   });
    if (!ok) return unexpected(std::move(ok.error()));
    return head;
}

}  // namespace daemoneye::eventbus
