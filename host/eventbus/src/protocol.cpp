#include "daemoneye/eventbus/protocol.hpp"

#include "daemoneye/eventbus/bus_error.hpp"
#include "wire_format.hpp"

namespace daemoneye::eventbus {

std::string reply_topic(std::uint64_t session_id) {
    return std::string(kReplyTopicPrefix) + std::to_string(session_id);
}

std::string collector_target(std::string_view collector) {
    return "control.collector." + std::string(collector);
}

std::string collector_instance_target(std::string_view collector, std::string_view instance) {
    return collector_target(collector) + "." + std::string(instance);
}

const char* to_string(BusError::Code code) {
    switch (code) {
        case BusError::Code::InvalidTopic:
            return "InvalidTopic";
        case BusError::Code::Denied:
            return "Denied";
        case BusError::Code::Limit:
            return "Limit";
        case BusError::Code::Backpressure:
            return "Backpressure";
        case BusError::Code::NotConnected:
            return "NotConnected";
        case BusError::Code::Protocol:
            return "Protocol";
        case BusError::Code::Duplicate:
            return "Duplicate";
        case BusError::Code::Io:
            return "Io";
        case BusError::Code::Timeout:
            return "Timeout";
        case BusError::Code::NotFound:
            return "NotFound";
        case BusError::Code::InvalidOptions:
            return "InvalidOptions";
    }
    return "?";
}

namespace wirefmt {
const char* envelope_name(std::uint32_t f) {
    static const char* const names[] = {
        "?",       "hello",   "welcome",     "subscribe",    "unsubscribe",
        "publish", "deliver", "rpc_request", "rpc_response", "heartbeat",
        "goodbye", "error",   "ack"};
    return f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}
}  // namespace wirefmt

}  // namespace daemoneye::eventbus
