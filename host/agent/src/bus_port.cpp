// Helpers over the BusPort interface.
#include <chrono>

#include "bus_port.hpp"

namespace daemoneye::agent {

Status publish_payload(BusPort& bus, const std::string& topic,
                       const google::protobuf::Message& payload) {
    daemoneye::bus::v1::Message m;
    m.set_topic(topic);
    m.set_payload_type(payload.GetTypeName());
    payload.SerializeToString(m.mutable_payload());
    m.mutable_timestamp()->set_unix_nanos(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count()));
    return bus.publish(std::move(m));
}

}  // namespace daemoneye::agent
