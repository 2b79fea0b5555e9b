// A read-only view of one encoded daemoneye.bus.v1.Message: the bytes the broker encoded once
// and shares with every subscriber. Handlers get this instead of a decoded protobuf object, so a
// delivery costs no allocation. Valid only during the handler call: copy what you keep.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "daemoneye/result.hpp"

namespace google::protobuf {
class MessageLite;
}
namespace daemoneye::common::v1 {
class CorrelationMetadata;
}
namespace daemoneye::bus::v1 {
class Message;
}

namespace daemoneye::eventbus {

class MessageView {
  public:
    // How much of a Message parse() checks. Whole: everything protobuf checks (well-formed fields
    // at every depth, UTF-8 strings), so what it accepts parses as daemoneye.bus.v1.Message
    // anywhere; the broker checks every publish this way. Structure: well-formed fields at every
    // depth, strings not checked for UTF-8; for bytes the broker delivers, already checked whole.
    enum class Check : std::uint8_t { Whole, Structure };

    // Parses the wire bytes of a Message. Repeated occurrences merge as protobuf defines (the
    // broker appends source_session and correlation.sequence_number after the publisher's bytes).
    // The error says what is wrong and at which byte.
    static Result<MessageView> parse(std::span<const std::uint8_t> encoded,
                                     Check check = Check::Whole);

    std::string_view topic() const { return topic_; }
    std::string_view payload_type() const { return payload_type_; }
    std::span<const std::uint8_t> payload() const { return payload_; }
    std::string_view payload_string() const {
        return {reinterpret_cast<const char*>(payload_.data()), payload_.size()};
    }
    std::uint64_t timestamp_unix_nanos() const { return timestamp_ns_; }
    std::uint64_t source_session() const { return source_session_; }
    // +1 per message of the publishing session on this topic (stamped by the broker).
    std::uint64_t sequence_number() const { return sequence_; }
    std::string_view correlation_id() const { return correlation_id_; }
    // The subscription whose handler is being called (set by the client before each call).
    std::uint64_t subscription_id() const { return subscription_id_; }
    void set_subscription_id(std::uint64_t id) { subscription_id_ = id; }

    // Full decodes (allocate): correlation metadata with tags, parent/root ids, stage; the
    // payload as a given protobuf type (false when it does not parse); the whole message.
    common::v1::CorrelationMetadata correlation() const;
    bool parse_payload(google::protobuf::MessageLite& out) const;
    bus::v1::Message to_proto() const;

    std::span<const std::uint8_t> encoded() const { return encoded_; }

  private:
    std::span<const std::uint8_t> encoded_;
    std::string_view topic_;
    std::string_view payload_type_;
    std::span<const std::uint8_t> payload_;
    std::string_view correlation_id_;
    std::uint64_t timestamp_ns_ = 0;
    std::uint64_t source_session_ = 0;
    std::uint64_t sequence_ = 0;
    std::uint64_t subscription_id_ = 0;
};

}  // namespace daemoneye::eventbus
