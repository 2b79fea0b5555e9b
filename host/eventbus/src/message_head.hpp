// What the broker needs from a published daemoneye.bus.v1.Message, read straight from its bytes:
// the topic it routes and checks the publish grant against. The rest is forwarded as the
// publisher encoded it, so the topic read here must be the one every protobuf parser of the same
// bytes sees (the last `topic` field; a field 1 of another wire type is an unknown field to
// protobuf and is skipped here too). tests/unit/eventbus/wire_differential.hpp checks that.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "daemoneye/result.hpp"

namespace daemoneye::eventbus {

// The topic (empty when the message has none), or where the bytes stop being a well-formed
// sequence of fields ("field at byte 17: ...").
Result<std::string_view, std::string> scan_message_topic(std::span<const std::uint8_t> message);

}  // namespace daemoneye::eventbus
