#include "message_head.hpp"

#include "wire_format.hpp"

namespace daemoneye::eventbus {

using namespace wirefmt;

Result<std::string_view, std::string> scan_message_topic(std::span<const std::uint8_t> message) {
    std::string_view topic;
    Reader r(message);
    while (!r.done()) {
        const auto at = r.position() - message.data();
        std::uint32_t f = 0;
        WireType wt{};
        bool ok = r.key(f, wt);
        if (ok && f == field::kMsgTopic && wt == kLen) {
            std::span<const std::uint8_t> t;
            ok = r.bytes(t);
            topic = as_string(t);
        } else if (ok) {
            ok = r.skip(wt);
        }
        if (!ok) {
            return unexpected("field at byte " + std::to_string(at) +
                              ": truncated, of an unknown wire type, or a key or length longer "
                              "than protobuf reads (5 bytes, 32 bits)");
        }
    }
    return topic;
}

}  // namespace daemoneye::eventbus
