// What a calling client adds to a request: the correlation id it assigned, its name, and the
// correlation metadata's id and root where the caller left them empty. Encoded after the
// request's own bytes instead of set on it (protobuf merges a field that occurs again: a
// singular field's last value wins, a sub-message merges into the earlier one), so a call does
// not allocate and free a string or sub-message per field it fills in. The counterpart of
// reply_stamp.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemoneye/rpc/v1/rpc.pb.h"

namespace daemoneye::eventbus {

struct RequestStamp {
    std::string_view correlation_id;  // empty: the request has its own
    std::string_view client_id;       // empty: the request has its own
    // Set only where the request's metadata has none: correlation.correlation_id and
    // correlation.root_correlation_id.
    std::string_view metadata_id;
    std::string_view metadata_root;

    // What `request`, sent as call `id` by client `client_name`, lacks: the id itself, the client
    // id, and the metadata id (the call's) and root (the metadata id). Views into the arguments.
    static RequestStamp missing_from(const rpc::v1::RpcRequest& request, std::string_view id,
                                     std::string_view client_name);

    std::size_t size() const;
    std::uint8_t* write(std::uint8_t* out) const;
    // For a receiver that needs an object (the broker, from an in-process caller).
    void apply(rpc::v1::RpcRequest& request) const;
};

}  // namespace daemoneye::eventbus
