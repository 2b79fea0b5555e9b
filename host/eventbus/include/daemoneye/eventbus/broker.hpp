// The embedded EventBus broker. It runs on ONE executor (the agent's io_context); every member
// function must be called on that executor unless it says otherwise. It owns the routing state
// (subscription tries, sessions, pending RPCs) without locks.
//
// Usage (agent):
//   auto broker = Broker::create(io.get_executor(), options).value();
//   if (auto ok = broker->listen(); !ok) { ... ok.error().message ... }
//   auto [agent_end, child_end] = make socketpair; spawn launcher with child_end;
//   broker->adopt(std::move(agent_end), PresetIdentity{instance, plugin, grants, config});
//   auto client = BusClient::connect_local(*broker, ClientOptions{...});   // in-process client
//   ...
//   broker->stop();   // on shutdown: closes the listener, says Goodbye, closes every session
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "daemoneye/eventbus/broker_metrics.hpp"
#include "daemoneye/eventbus/broker_options.hpp"
#include "daemoneye/eventbus/bus_error.hpp"
#include "daemoneye/result.hpp"

namespace daemoneye::bus::v1 {
class Hello;
}

namespace daemoneye::eventbus {

class BusClient;
struct BrokerCore;  // src/broker_core.hpp: the routing state, used by the in-process transport

// What the broker tells its owner about sessions (called on the broker's executor).
struct SessionEvent {
    std::uint64_t session_id = 0;
    std::string role;
    std::string name;
    std::string instance_id;
    std::string transport;  // "socket", "adopted", "in-process"
    std::int32_t pid = 0;   // SO_PEERCRED (socket), the launcher's (adopted), ours (in-process)
    std::uint32_t uid = 0;
    std::string reason;  // closed: why ("goodbye: ...", "peer closed", "crc mismatch ...")
    // open: the session's Hello (manifest, sandbox layers, pid); valid during the callback only.
    const bus::v1::Hello* hello = nullptr;
};

class Broker {
  public:
    using Executor = boost::asio::any_io_executor;
    using Socket = boost::asio::local::stream_protocol::socket;

    // Validates the options; does not bind yet. A value out of range (limits > 0, frame size)
    // fails InvalidOptions naming it; a socket path over 107 bytes fails Io (as listen() would).
    static Result<std::unique_ptr<Broker>, BusError> create(Executor executor,
                                                            BrokerOptions options);
    ~Broker();
    Broker(const Broker&) = delete;
    Broker& operator=(const Broker&) = delete;

    // Binds options.socket_path and starts accepting. Errors: path too long (names the length and
    // the 107-byte limit), "another broker is listening on PATH", permission problems.
    Result<void, BusError> listen();

    // Hands the broker one end of a socketpair the agent created for a collector. Returns the
    // session id (also reported in Welcome.session_id). The fd is owned by the broker from here.
    Result<std::uint64_t, BusError> adopt(Socket socket, PresetIdentity identity);
    Result<std::uint64_t, BusError> adopt(int fd, PresetIdentity identity);

    // Closes the listener (and unlinks the socket file it created), sends Goodbye to every socket
    // session and closes them. In-process clients see NotConnected afterwards. Idempotent.
    void stop();

    // Observers (optional). on_session_open fires after Welcome, on_session_closed once per
    // welcomed session.
    void on_session_open(std::function<void(const SessionEvent&)> callback);
    void on_session_closed(std::function<void(const SessionEvent&)> callback);

    // Snapshot of the counters. On the broker's executor only.
    BrokerMetrics metrics() const;
    // Every session with its subscriptions and counters (the CLI's `topics list`). Executor only.
    std::vector<SessionStats> sessions() const;
    // From any thread: posted to the executor, the future holds a copy (or breaks, should the
    // broker be destroyed before the executor runs it).
    std::future<BrokerMetrics> metrics_async();
    std::future<std::vector<SessionStats>> sessions_async();

    // Closes one session (e.g. the agent killed that collector). Executor only.
    bool disconnect(std::uint64_t session_id, std::string reason);

    const BrokerOptions& options() const;
    Executor get_executor() const;
    // The path actually bound ("" before listen()).
    const std::string& socket_path() const;

    BrokerCore& core() { return *core_; }

  private:
    explicit Broker(std::unique_ptr<BrokerCore> core);
    std::unique_ptr<BrokerCore> core_;
};

}  // namespace daemoneye::eventbus
