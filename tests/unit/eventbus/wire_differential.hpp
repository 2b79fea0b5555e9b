// The bus reads three kinds of bodies by hand instead of through protobuf (MessageView, rpc_head).
// The broker routes, checks grants and forwards by what it reads; every other party may parse the
// same bytes with protobuf. If the two ever read different values from one body, a publisher
// granted `events.a.#` can have the broker route a message as `events.a.x` that a protobuf
// subscriber reads as `control.something`. The properties:
// - a Message the bus accepts (the broker forwards only those) protobuf accepts too, with the
//   same values (the bus may refuse more: a known field of the wrong wire type);
// - an RPC body whose top level the bus accepts and protobuf accepts reads the same (nested
//   messages are checked by whoever parses the body, not by the broker).
//
// Shared by the unit test (wire_differential_test.cpp, mutated bodies) and the libFuzzer target
// (tests/fuzz/eventbus).
#pragma once

#include <cstdint>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/common/v1/common.pb.h"
#include "daemoneye/eventbus/message_view.hpp"
#include "daemoneye/rpc/v1/rpc.pb.h"
#include "rpc_head.hpp"

namespace daemoneye::eventbus::wire_check {

namespace detail {

template <class A, class B>
void differ(std::ostringstream& out, const char* what, const A& hand, const B& protobuf) {
    if (hand == protobuf) return;
    out << what << ": hand reader '" << hand << "', protobuf '" << protobuf << "'; ";
}

inline std::string_view text(std::span<const std::uint8_t> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

inline bool same_correlation(const common::v1::CorrelationMetadata& a,
                             const common::v1::CorrelationMetadata& b) {
    if (a.correlation_id() != b.correlation_id() ||
        a.parent_correlation_id() != b.parent_correlation_id() ||
        a.root_correlation_id() != b.root_correlation_id() ||
        a.sequence_number() != b.sequence_number() || a.workflow_stage() != b.workflow_stage() ||
        a.tags_size() != b.tags_size()) {
        return false;
    }
    for (const auto& [k, v] : a.tags()) {
        auto it = b.tags().find(k);
        if (it == b.tags().end() || it->second != v) return false;
    }
    return true;
}

}  // namespace detail

// A varint of `value` spread over at least `width` bytes: the padded forms protobuf decoders
// accept up to their own limits, which is where readers disagree. For building test bodies.
inline std::string varint(std::uint64_t value, int width = 0) {
    std::string out;
    do {
        out.push_back(static_cast<char>((value & 0x7F) | 0x80));
        value >>= 7;
    } while (value != 0 || static_cast<int>(out.size()) < width);
    out.back() = static_cast<char>(out.back() & 0x7F);
    return out;
}

// Empty when the properties above hold for `bytes`; otherwise what differs.
inline std::string wire_divergence(std::span<const std::uint8_t> bytes) {
    std::ostringstream out;
    const int size = static_cast<int>(bytes.size());

    bus::v1::Message message;
    const bool protobuf_accepts = message.ParseFromArray(bytes.data(), size);
    if (auto view = MessageView::parse(bytes)) {
        if (!protobuf_accepts) {
            out << "Message: the bus accepts (the broker would forward) what protobuf refuses; ";
        } else {
            detail::differ(out, "Message topic", view->topic(), message.topic());
            detail::differ(out, "Message payload_type", view->payload_type(),
                           message.payload_type());
            detail::differ(out, "Message payload", detail::text(view->payload()),
                           message.payload());
            detail::differ(out, "Message timestamp", view->timestamp_unix_nanos(),
                           message.timestamp().unix_nanos());
            detail::differ(out, "Message source_session", view->source_session(),
                           message.source_session());
            detail::differ(out, "Message correlation_id", view->correlation_id(),
                           message.correlation().correlation_id());
            detail::differ(out, "Message sequence_number", view->sequence_number(),
                           message.correlation().sequence_number());
            if (!detail::same_correlation(view->correlation(), message.correlation())) {
                out << "Message correlation(): differs from protobuf's; ";
            }
        }
    }

    rpc::v1::RpcRequest request;
    if (request.ParseFromArray(bytes.data(), size)) {
        if (auto head = scan_rpc_request(bytes)) {
            detail::differ(out, "RpcRequest correlation_id", head->correlation_id,
                           request.correlation_id());
            detail::differ(out, "RpcRequest target", head->target, request.target());
            detail::differ(out, "RpcRequest timeout_ms", head->timeout_ms, request.timeout_ms());
        }
    }

    rpc::v1::RpcResponse response;
    if (response.ParseFromArray(bytes.data(), size)) {
        if (auto head = scan_rpc_response(bytes)) {
            detail::differ(out, "RpcResponse correlation_id", head->correlation_id,
                           response.correlation_id());
        }
    }
    return out.str();
}

}  // namespace daemoneye::eventbus::wire_check
