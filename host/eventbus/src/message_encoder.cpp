#include "message_encoder.hpp"

#include <chrono>

#include "daemoneye/common/v1/common.pb.h"
#include "wire_format.hpp"

namespace daemoneye::eventbus {

using namespace wirefmt;

MessageEncoder::MessageEncoder(std::string_view topic, std::string_view payload_type,
                               std::span<const std::uint8_t> payload, std::uint64_t timestamp_ns,
                               const common::v1::CorrelationMetadata* correlation)
    : topic_(topic),
      type_(payload_type),
      payload_(payload),
      timestamp_ns_(timestamp_ns),
      correlation_(correlation) {
    size_ = len_field_size(topic_.size()) + len_field_size(type_.size()) +
            len_field_size(payload_.size());
    timestamp_body_ = 1 + varint_size(timestamp_ns_);
    size_ += len_field_size(timestamp_body_);
    if (correlation_) {
        correlation_body_ = correlation_->ByteSizeLong();
        size_ += len_field_size(correlation_body_);
    }
}

std::uint8_t* MessageEncoder::write(std::uint8_t* p) const {
    p = put_bytes(p, field::kMsgTopic, topic_.data(), topic_.size());
    p = put_bytes(p, field::kMsgPayloadType, type_.data(), type_.size());
    p = put_bytes(p, field::kMsgPayload, payload_.data(), payload_.size());
    p = put_len_header(p, field::kMsgTimestamp, timestamp_body_);
    p = put_varint(p, tag(field::kTimestampNanos, kVarint));
    p = put_varint(p, timestamp_ns_);
    if (correlation_) {
        p = put_len_header(p, field::kMsgCorrelation, correlation_body_);
        p = correlation_->SerializeWithCachedSizesToArray(p);
    }
    return p;
}

std::size_t stamp_size(std::uint64_t source_session, std::uint64_t sequence) {
    const std::size_t corr_body = 1 + varint_size(sequence);
    return 1 + varint_size(source_session) + len_field_size(corr_body);
}

std::uint8_t* write_stamp(std::uint8_t* p, std::uint64_t source_session, std::uint64_t sequence) {
    p = put_varint(p, tag(field::kMsgSourceSession, kVarint));
    p = put_varint(p, source_session);
    p = put_len_header(p, field::kMsgCorrelation, 1 + varint_size(sequence));
    p = put_varint(p, tag(field::kCorrSequence, kVarint));
    return put_varint(p, sequence);
}

std::uint64_t unix_now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

}  // namespace daemoneye::eventbus
