// What the bridge needs from the bus, as an interface: the bridge and the plugin side are
// testable without a broker, and the transport can change without touching them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/result.hpp"
#include "daemoneye/rpc/v1/rpc.pb.h"

namespace daemoneye::launcher {

class EmitBuffer;

// The link's own traffic counters, for the health check (`launcher.bus.*`).
struct BusLinkStats {
    std::uint64_t published = 0;       // messages handed to the bus client
    std::uint64_t rpc_served = 0;      // requests answered
    std::uint64_t rpc_malformed = 0;   // request bodies that did not parse (answered, counted)
    std::uint64_t broker_errors = 0;   // Error frames the broker sent this launcher
    std::uint64_t outbound_bytes = 0;  // queued for the socket right now
};

struct BusCallbacks {
    std::function<void(rpc::v1::RpcRequest)> on_rpc;    // from the link's thread
    std::function<void(std::string reason)> on_closed;  // once, from the link's thread
};

class BusLink {
  public:
    virtual ~BusLink() = default;

    // Sends Hello and waits for Welcome; an Error from the broker or a timeout fails.
    virtual Result<bus::v1::Welcome> handshake(const bus::v1::Hello& hello,
                                               std::chrono::milliseconds timeout) = 0;

    // Starts serving: incoming RPCs go to `callbacks`, `events` is drained onto the bus.
    virtual void start(BusCallbacks callbacks, EmitBuffer& events) = 0;

    // Thread-safe. Control traffic is never dropped and goes out ahead of queued events.
    // Serves RPC requests addressed to `topic` (they arrive through BusCallbacks::on_rpc).
    virtual void serve_rpc(const std::string& topic) = 0;
    virtual void publish(bus::v1::Message message) = 0;
    virtual void respond(rpc::v1::RpcResponse response) = 0;

    // Wakes the writer: the emit buffer has events.
    virtual void events_ready() = 0;

    // Waits until everything queued so far (control and events) is written, or the timeout.
    virtual bool flush(std::chrono::milliseconds timeout) = 0;

    // Sends Goodbye, flushes within `timeout`, closes. Idempotent.
    virtual void close(const std::string& reason, std::chrono::milliseconds timeout) = 0;

    // Thread-safe. Empty when the link's thread did not answer in time (or is gone).
    virtual std::optional<BusLinkStats> stats() const = 0;
};

}  // namespace daemoneye::launcher
