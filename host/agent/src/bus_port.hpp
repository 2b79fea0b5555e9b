// What the agent's components need from the embedded EventBus broker, in one small interface so
// the process manager, health and IPC handlers do not depend on the broker's internals.
// broker_bus.cpp implements it over daemoneye::eventbus; `available()` is false (with the reason)
// when the broker could not start, e.g. its socket path is taken.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/ipc/v1/ipc.pb.h"
#include "daemoneye/result.hpp"
#include "daemoneye/rpc/v1/rpc.pb.h"

namespace daemoneye::agent {

// Who a spawned collector is; the broker checks its Hello against this.
struct CollectorIdentity {
    std::string instance_id;  // "procmond-0"
    std::string plugin_name;  // "procmond"
    std::vector<std::string> publish_grants;
    std::map<std::string, std::string> config;  // flattened, sent in Welcome.config
    // Beyond publishing (eventbus::PresetIdentity): empty grants allow nothing.
    std::vector<std::string> subscribe_grants;  // patterns it may subscribe to
    std::vector<std::string> rpc_serve_grants;  // exact targets it may serve (its own)
    std::vector<std::string> rpc_call_grants;   // targets it may call
};

struct CollectorSessionEvents {
    // The collector said Hello (matching its identity) and got Welcome.
    std::function<void(const daemoneye::bus::v1::Hello&)> on_hello;
    // The session ended (Goodbye, error or the socket closed), with a reason.
    std::function<void(const std::string& reason)> on_closed;
};

using MessageHandler = std::function<void(const daemoneye::bus::v1::Message&)>;
// The request stays valid until the handler's coroutine completes (see eventbus::RpcHandler).
using RpcHandler = std::function<boost::asio::awaitable<daemoneye::rpc::v1::RpcResponse>(
    const daemoneye::rpc::v1::RpcRequest&)>;

class BusPort {
  public:
    virtual ~BusPort() = default;

    // False when there is no broker; every call below then fails with why().
    virtual bool available() const = 0;
    virtual std::string why_unavailable() const = 0;

    // Starts the broker (listening on broker.socket_path).
    virtual Status start() = 0;
    virtual void stop() = 0;
    virtual bool accepting() const = 0;

    // Hands the broker its end of a collector's socketpair. Returns the session id the broker
    // stamps on everything that collector publishes (Message.source_session).
    virtual Result<std::uint64_t> adopt(boost::asio::local::stream_protocol::socket socket,
                                        CollectorIdentity identity,
                                        CollectorSessionEvents events) = 0;

    // In-process client (same semantics as a remote client, no serialisation).
    virtual boost::asio::awaitable<Result<std::uint64_t>> subscribe(std::string pattern,
                                                                    MessageHandler handler) = 0;
    virtual void unsubscribe(std::uint64_t subscription) = 0;
    virtual Status publish(daemoneye::bus::v1::Message message) = 0;
    // Serves RPC requests sent to `topic`.
    virtual boost::asio::awaitable<Status> serve(std::string topic, RpcHandler handler) = 0;
    virtual void unserve(const std::string& topic) = 0;
    // Calls `request.target()`; a transport failure is an RpcResponse with an error too.
    virtual boost::asio::awaitable<daemoneye::rpc::v1::RpcResponse> call(
        daemoneye::rpc::v1::RpcRequest request, std::chrono::milliseconds timeout) = 0;

    virtual daemoneye::ipc::v1::TopicsReport topics() const = 0;
    // Who owns a bus session, for people reading events: the broker stamps source_session on
    // every message, so this (unlike a payload's own "source") cannot be forged by a plugin.
    virtual std::string publisher(std::uint64_t session_id) const = 0;
    // Counters and gauges for `metrics` (names without the daemoneye_ prefix).
    virtual std::map<std::string, double> metrics() const = 0;
};

// Publishes `payload` on `topic` (payload_type = its full protobuf type name).
Status publish_payload(BusPort& bus, const std::string& topic,
                       const google::protobuf::Message& payload);

}  // namespace daemoneye::agent
