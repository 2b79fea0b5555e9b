#include "reply_stamp.hpp"

#include "wire_format.hpp"

namespace daemoneye::eventbus {

namespace {

using R = rpc::v1::RpcResponse;
static_assert(R::kCorrelationIdFieldNumber < 16 && R::kCorrelationFieldNumber < 16 &&
              R::kResponderFieldNumber < 16);  // one-byte keys (wirefmt::len_field_size)

}  // namespace

std::size_t ReplyStamp::size() const {
    std::size_t n = wirefmt::len_field_size(correlation_id.size());
    if (correlation) n += wirefmt::len_field_size(correlation->ByteSizeLong());
    return n + wirefmt::optional_field_size(responder);
}

std::uint8_t* ReplyStamp::write(std::uint8_t* p) const {
    p = wirefmt::put_bytes(p, R::kCorrelationIdFieldNumber, correlation_id.data(),
                           correlation_id.size());
    if (correlation) {
        const auto len = static_cast<std::size_t>(correlation->GetCachedSize());
        p = wirefmt::put_len_header(p, R::kCorrelationFieldNumber, len);
        p = correlation->SerializeWithCachedSizesToArray(p);
    }
    return wirefmt::put_optional(p, R::kResponderFieldNumber, responder);
}

void ReplyStamp::apply(rpc::v1::RpcResponse& response) const {
    response.set_correlation_id(std::string(correlation_id));
    if (correlation) *response.mutable_correlation() = *correlation;
    if (!responder.empty()) response.set_responder(std::string(responder));
}

}  // namespace daemoneye::eventbus
