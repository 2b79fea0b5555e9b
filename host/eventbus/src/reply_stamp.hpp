// What a serving client adds to its handler's reply: the request's correlation id and metadata,
// and its own name when the reply names nobody. Encoded after the reply's own bytes instead of
// set on it: protobuf merges a field that occurs again (a singular field's last value wins, a
// sub-message merges into the earlier one), and every string set on a heap message is an
// allocation and a free per reply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemoneye/rpc/v1/rpc.pb.h"

namespace daemoneye::eventbus {

struct ReplyStamp {
    std::string_view correlation_id;
    // The request's metadata, replacing whatever the reply had (the sender clears the reply's
    // own first: a merge would keep fields the request did not set). Null: none.
    const common::v1::CorrelationMetadata* correlation = nullptr;
    std::string_view responder;  // empty: the reply keeps its own

    // Encoded size; computes (and caches) the metadata's size, which write() then uses.
    std::size_t size() const;
    std::uint8_t* write(std::uint8_t* out) const;
    // For a receiver that needs an object (an in-process caller): the same fields, set on it.
    void apply(rpc::v1::RpcResponse& response) const;
};

}  // namespace daemoneye::eventbus
