// The agent without a broker: every bus operation fails with the reason, so the rest of the agent
// (IPC, registry, process manager) runs and says exactly what is missing.
#include <chrono>

#include "agent.hpp"
#include "bus_port.hpp"

namespace daemoneye::agent {
namespace {

class NoBus final : public BusPort {
  public:
    explicit NoBus(std::string reason) : reason_(std::move(reason)) {}
    bool available() const override { return false; }
    std::string why_unavailable() const override { return reason_; }
    Status start() override { return {}; }
    void stop() override {}
    bool accepting() const override { return false; }
    Status adopt(boost::asio::local::stream_protocol::socket, CollectorIdentity,
                 CollectorSessionEvents) override {
        return fail(reason_);
    }
    boost::asio::awaitable<Result<std::uint64_t>> subscribe(std::string, MessageHandler) override {
        co_return fail(reason_);
    }
    void unsubscribe(std::uint64_t) override {}
    Status publish(daemoneye::bus::v1::Message) override { return fail(reason_); }
    boost::asio::awaitable<Status> serve(std::string, RpcHandler) override {
        co_return fail(reason_);
    }
    void unserve(const std::string&) override {}
    boost::asio::awaitable<daemoneye::rpc::v1::RpcResponse> call(
        daemoneye::rpc::v1::RpcRequest request, std::chrono::milliseconds) override {
        daemoneye::rpc::v1::RpcResponse r;
        r.set_correlation_id(request.correlation_id());
        r.set_status(daemoneye::rpc::v1::STATUS_ERROR);
        r.mutable_error()->set_code(daemoneye::rpc::v1::ERROR_CODE_COMMUNICATION_ERROR);
        r.mutable_error()->set_message(reason_);
        co_return r;
    }
    daemoneye::ipc::v1::TopicsReport topics() const override { return {}; }
    std::map<std::string, double> metrics() const override { return {}; }

  private:
    std::string reason_;
};

}  // namespace

std::unique_ptr<BusPort> make_no_bus(std::string reason) {
    return std::make_unique<NoBus>(std::move(reason));
}

#ifndef DAEMONEYE_AGENT_HAS_BROKER
std::unique_ptr<BusPort> make_agent_bus(boost::asio::io_context&, const Config&) {
    return make_no_bus(
        "the EventBus broker is not built into this agent yet (branch `broker`): no collector "
        "sessions, RPC, events or topics");
}
#endif

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
