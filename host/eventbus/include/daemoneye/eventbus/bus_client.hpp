// The EventBus client: one API whether the broker is in this process (BusClient::connect_local,
// no socket and no serialisation round trip: deliveries are views of the broker's single
// encoding, control messages pass as objects) or behind a socket (BusClient::connect for
// broker.socket_path, BusClient::connect_fd for the socketpair end a launcher inherits).
//
// Threading: a client lives on one executor (for connect_local: the broker's). Call every member
// on that executor; from other threads, asio::post(client.get_executor(), ...). Handlers run on
// it too, one at a time.
//
// Typical use:
//   auto client = (co_await BusClient::connect(ex, opts)).value();
//   auto sub = co_await client->subscribe("events.process.#", [](const MessageView& m) {
//       ... m.topic(), m.payload(), m.sequence_number() ...
//   });
//   client->publish("events.process.lifecycle", event);          // protobuf message
//   co_await client->serve("control.collector.procmond",          // RPC server
//       [&](const rpcv1::RpcRequest& req) -> asio::awaitable<rpcv1::RpcResponse> {
//           co_return rpc_ok();
//       });
//   auto rsp = co_await client->call(RpcRequest::health_check("cli", target, 5s), 5s);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/common/v1/common.pb.h"
#include "daemoneye/eventbus/bus_error.hpp"
#include "daemoneye/eventbus/client_options.hpp"
#include "daemoneye/eventbus/message_view.hpp"
#include "daemoneye/eventbus/rpc_request.hpp"
#include "daemoneye/result.hpp"

namespace google::protobuf {
class MessageLite;
}

namespace daemoneye::eventbus {

class Broker;

using MessageHandler = std::function<void(const MessageView&)>;
// Serves one RPC request; runs as its own coroutine on the client's executor (may take long).
// The request is read in place (for an in-process server, where the broker parsed it): it
// stays valid until the handler's coroutine completes, so a coroutine may keep the reference;
// copy what must outlive it. The client stamps the request's correlation_id and correlation
// metadata on the response (replacing any the handler set), execution_time_us, and responder
// unless the handler named one. An exception becomes EXECUTION_ERROR.
using RpcHandler =
    std::function<boost::asio::awaitable<rpcv1::RpcResponse>(const rpcv1::RpcRequest& request)>;

enum class ConnectionState { Connected, Reconnecting, Closed };

// Per-subscription counters kept by the client: what arrived and the gaps it saw in the
// broker-stamped sequence numbers (per source session and topic), which equal the copies the
// broker dropped for this subscription.
struct ClientSubscriptionStats {
    std::uint64_t subscription_id = 0;
    std::string pattern;
    std::uint64_t received = 0;
    std::uint64_t gaps = 0;  // messages missing in sequence, summed over sources
    struct Source {
        std::uint64_t session = 0;
        std::uint64_t received = 0;
        std::uint64_t gaps = 0;
    };
    std::vector<Source> by_source;
};

struct ClientStats {
    std::uint64_t published = 0;
    std::uint64_t publish_refused = 0;  // Backpressure / NotConnected / invalid topic
    std::uint64_t received = 0;
    // Deliveries whose Message did not parse: dropped (logged at the 1st, 2nd, 4th, 8th, ...).
    // The broker checks every publish whole, so anything here means a broken or foreign broker.
    std::uint64_t received_malformed = 0;
    std::uint64_t gaps = 0;
    // Error frames received, but for late answers (late_acks) and the answers to the
    // Unsubscribe that undoes a late Ack.
    std::uint64_t errors_from_broker = 0;
    std::uint64_t rpc_calls = 0;
    std::uint64_t rpc_timeouts = 0;
    std::uint64_t rpc_late_replies = 0;  // replies after the call timed out: dropped
    std::uint64_t rpc_served = 0;
    // RPC bodies from the broker that did not parse: a request is answered InvalidOperation, a
    // reply fails its call (CommunicationError); the connection stays up.
    std::uint64_t rpc_malformed = 0;
    // Replies this client's handlers produced that could not be sent (logged): not connected,
    // or larger than max_frame_bytes (the caller then gets EXECUTION_ERROR saying so).
    std::uint64_t rpc_replies_failed = 0;
    std::uint64_t reconnects = 0;
    // Subscriptions and served patterns the broker refused to take back after a reconnect (e.g.
    // a restarted broker with a lower broker.max_subscribers): each is dropped from the client,
    // logged with its pattern and the broker's reason, and reported through on_broker_error.
    std::uint64_t resubscribe_refused = 0;
    // Answers (Ack or Error) to a subscribe(), serve() or unsubscribe() that had already failed
    // Timeout, logged at info. A late Ack to a subscribe means the broker holds a subscription
    // the client has forgotten: the client sends Unsubscribe for it at once; a late Ack to an
    // unsubscribe means the broker dropped it: the client forgets it too. Not errors: not
    // counted in errors_from_broker.
    std::uint64_t late_acks = 0;
    std::uint64_t outbound_bytes = 0;  // queued for the socket right now
};

struct PublishOptions {
    // Optional correlation metadata for this message (sequence_number is stamped by the
    // broker, whatever is set here).
    const common::v1::CorrelationMetadata* correlation = nullptr;
};

class BusClient {
  public:
    using Executor = boost::asio::any_io_executor;

    // Connects to options.socket_path, says Hello and waits for Welcome. With reconnect enabled
    // the client re-dials after losing the broker, re-subscribes and re-serves everything (in
    // subscription id order), and says Connected once the broker has answered each: a refused
    // one is dropped (ClientStats::resubscribe_refused, on_broker_error), so subscription_stats()
    // then lists what the broker holds.
    // An out-of-range options.reconnect fails InvalidOptions before anything is dialled.
    static boost::asio::awaitable<Result<std::unique_ptr<BusClient>, BusError>> connect(
        Executor executor, ClientOptions options);
    // Same over an already-connected socket (the launcher's --broker-fd). Takes the fd: it is
    // closed whenever this fails (not a usable descriptor, handshake, options).
    static boost::asio::awaitable<Result<std::unique_ptr<BusClient>, BusError>> connect_fd(
        Executor executor, int fd, ClientOptions options);
    // In-process session on the broker's executor (call on that executor). Welcomed at once.
    static Result<std::unique_ptr<BusClient>, BusError> connect_local(Broker& broker,
                                                                      ClientOptions options);

    ~BusClient();  // says Goodbye (best effort) and closes
    BusClient(const BusClient&) = delete;
    BusClient& operator=(const BusClient&) = delete;

    // What the broker said at Welcome: session_id, publish_grants, config (collectors),
    // reply_topic, limits. Updated on reconnect.
    const bus::v1::Welcome& welcome() const;
    std::uint64_t session_id() const;
    ConnectionState state() const;
    void on_state_change(std::function<void(ConnectionState)> callback);
    // Called for every Error frame the broker sends that no awaiting call consumes (e.g. a
    // denied publish: ERROR_CODE_DENIED naming the topic and the grant), and for a refused
    // re-subscription after a reconnect (ref: the subscription id, dropped by then).
    void on_broker_error(std::function<void(const bus::v1::Error&)> callback);

    // --- pub/sub -------------------------------------------------------------------------
    // Validates the pattern here (InvalidTopic names the level), then waits for the broker's
    // Ack (Denied / Limit / Duplicate otherwise). Returns the subscription id. No answer within
    // ClientOptions::ack_timeout: Timeout, and the subscription is forgotten; should the broker
    // acknowledge it later, the client unsubscribes it (ClientStats::late_acks). Same for serve().
    boost::asio::awaitable<Result<std::uint64_t, BusError>> subscribe(std::string pattern,
                                                                      MessageHandler handler);
    // Waits for the broker's Ack, and only then forgets the subscription: until unsubscribe()
    // completes, deliveries that arrive for it are still dispatched to its handler (served
    // requests too, for serve()); afterwards never. Errors: NotFound (an id this client does
    // not hold; or the broker holds none, then it is forgotten here too), Timeout or another
    // refusal from the broker (the subscription stays active). Not connected, or the connection
    // lost meanwhile: forgotten at once and a success (the broker's session went with it, and no
    // reconnect sends it again).
    boost::asio::awaitable<Result<void, BusError>> unsubscribe(std::uint64_t subscription_id);

    // Queues one message; never blocks. Errors: InvalidTopic (checked here), Backpressure
    // (outbound buffer full: co_await wait_writable()), NotConnected. Grants are enforced by the
    // broker: a denied publish comes back as an Error frame (on_broker_error) and is counted.
    Result<void, BusError> publish(std::string_view topic, std::string_view payload_type,
                                   std::span<const std::uint8_t> payload,
                                   const PublishOptions& options = {});
    // Serialises `message`; payload_type is its full type name.
    Result<void, BusError> publish(std::string_view topic,
                                   const google::protobuf::MessageLite& message,
                                   const PublishOptions& options = {});
    // Completes when the outbound buffer has room again (at once if it has).
    boost::asio::awaitable<void> wait_writable();
    // Completes when everything queued so far has been written to the socket (or failed).
    boost::asio::awaitable<void> flush();

    // --- RPC -------------------------------------------------------------------------------
    // Sends the request and waits for its response or the timeout. See rpc_request.hpp for the
    // error codes. A status OK/PARTIAL response is the value; status ERROR becomes RpcError
    // with code from the response (and the response attached).
    boost::asio::awaitable<Result<rpcv1::RpcResponse, RpcError>> call(
        RpcRequest request, std::chrono::milliseconds timeout);
    // Callback form (invoked on the client's executor exactly once).
    void async_call(RpcRequest request, std::chrono::milliseconds timeout,
                    std::function<void(Result<rpcv1::RpcResponse, RpcError>)> done);

    // Serves RPC requests whose target matches `pattern` (e.g. "control.collector.+"). The broker
    // routes each request to one server (an exact pattern wins over a wildcard). Returns a
    // subscription id (unsubscribe() stops serving).
    boost::asio::awaitable<Result<std::uint64_t, BusError>> serve(std::string pattern,
                                                                  RpcHandler handler);

    // --- state -------------------------------------------------------------------------------
    ClientStats stats() const;
    std::vector<ClientSubscriptionStats> subscription_stats() const;
    std::size_t pending_requests() const;

    // Sends Goodbye and closes; no reconnect afterwards. Idempotent.
    void close(const std::string& reason = "client closed");

    Executor get_executor() const;

    class Impl;  // src/client_core.hpp

  private:
    explicit BusClient(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

}  // namespace daemoneye::eventbus
