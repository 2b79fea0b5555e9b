// Encodes a bus Message (topic, payload type, payload, timestamp, optional correlation) straight
// into caller memory, and the broker's stamp (source_session + correlation.sequence_number)
// appended after a publisher's bytes: protobuf merges repeated fields, so the stamp overrides
// whatever the publisher put there without re-encoding its message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace daemoneye::common::v1 {
class CorrelationMetadata;
}

namespace daemoneye::eventbus {

class MessageEncoder {
  public:
    MessageEncoder(std::string_view topic, std::string_view payload_type,
                   std::span<const std::uint8_t> payload, std::uint64_t timestamp_ns,
                   const common::v1::CorrelationMetadata* correlation);

    std::size_t size() const { return size_; }
    // Writes exactly size() bytes at `out`; returns out + size().
    std::uint8_t* write(std::uint8_t* out) const;

  private:
    std::string_view topic_;
    std::string_view type_;
    std::span<const std::uint8_t> payload_;
    std::uint64_t timestamp_ns_;
    const common::v1::CorrelationMetadata* correlation_;
    std::size_t timestamp_body_ = 0;
    std::size_t correlation_body_ = 0;
    std::size_t size_ = 0;
};

// The broker's stamp: source_session (field 5) + correlation { sequence_number } (field 6).
std::size_t stamp_size(std::uint64_t source_session, std::uint64_t sequence);
std::uint8_t* write_stamp(std::uint8_t* out, std::uint64_t source_session, std::uint64_t sequence);

std::uint64_t unix_now_ns();

}  // namespace daemoneye::eventbus
