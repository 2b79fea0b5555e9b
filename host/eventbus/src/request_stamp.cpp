#include "request_stamp.hpp"

#include <string>

#include "wire_format.hpp"

namespace daemoneye::eventbus {

namespace {

using Req = rpc::v1::RpcRequest;
using Corr = common::v1::CorrelationMetadata;
static_assert(Req::kCorrelationIdFieldNumber < 16 && Req::kClientIdFieldNumber < 16 &&
              Req::kCorrelationFieldNumber < 16 && Corr::kCorrelationIdFieldNumber < 16 &&
              Corr::kRootCorrelationIdFieldNumber < 16);  // one-byte keys (len_field_size)

using wirefmt::optional_field_size;
using wirefmt::put_optional;

}  // namespace

RequestStamp RequestStamp::missing_from(const rpc::v1::RpcRequest& request, std::string_view id,
                                        std::string_view client_name) {
    RequestStamp s;
    if (request.correlation_id().empty()) s.correlation_id = id;
    if (request.client_id().empty()) s.client_id = client_name;
    const auto& corr = request.correlation();
    if (corr.correlation_id().empty()) s.metadata_id = id;
    if (corr.root_correlation_id().empty()) {
        s.metadata_root =
            corr.correlation_id().empty() ? id : std::string_view(corr.correlation_id());
    }
    return s;
}

std::size_t RequestStamp::size() const {
    const std::size_t metadata =
        optional_field_size(metadata_id) + optional_field_size(metadata_root);
    return optional_field_size(correlation_id) + optional_field_size(client_id) +
           (metadata ? wirefmt::len_field_size(metadata) : 0);
}

std::uint8_t* RequestStamp::write(std::uint8_t* p) const {
    p = put_optional(p, Req::kCorrelationIdFieldNumber, correlation_id);
    p = put_optional(p, Req::kClientIdFieldNumber, client_id);
    const std::size_t metadata =
        optional_field_size(metadata_id) + optional_field_size(metadata_root);
    if (metadata) {
        p = wirefmt::put_len_header(p, Req::kCorrelationFieldNumber, metadata);
        p = put_optional(p, Corr::kCorrelationIdFieldNumber, metadata_id);
        p = put_optional(p, Corr::kRootCorrelationIdFieldNumber, metadata_root);
    }
    return p;
}

void RequestStamp::apply(rpc::v1::RpcRequest& request) const {
    if (!correlation_id.empty()) request.set_correlation_id(std::string(correlation_id));
    if (!client_id.empty()) request.set_client_id(std::string(client_id));
    if (!metadata_id.empty()) {
        request.mutable_correlation()->set_correlation_id(std::string(metadata_id));
    }
    if (!metadata_root.empty()) {
        request.mutable_correlation()->set_root_correlation_id(std::string(metadata_root));
    }
}

}  // namespace daemoneye::eventbus
