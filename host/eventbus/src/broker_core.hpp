// The broker's routing state and protocol handling, all on one executor (no locks): sessions,
// the two subscription tries (publishes, RPC serving), pending RPCs, counters.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/eventbus/broker.hpp"
#include "daemoneye/eventbus/broker_metrics.hpp"
#include "daemoneye/eventbus/broker_options.hpp"
#include "daemoneye/eventbus/bus_error.hpp"
#include "daemoneye/eventbus/subscription_trie.hpp"
#include "daemoneye/result.hpp"
#include "message_buffer.hpp"
#include "request_arenas.hpp"
#include "rpc_head.hpp"
#include "session.hpp"
#include "string_map.hpp"

namespace daemoneye::common::v1 {
class CorrelationMetadata;
}

namespace daemoneye::eventbus {

struct ReplyStamp;

class RemoteSession;
class LocalSession;
class BrokerListener;

struct BrokerCore {
    using Executor = boost::asio::any_io_executor;
    using Socket = boost::asio::local::stream_protocol::socket;
    using Clock = std::chrono::steady_clock;

    BrokerCore(Executor executor, BrokerOptions options);
    ~BrokerCore();

    Executor executor;
    BrokerOptions options;
    std::shared_ptr<BufferPool> pool;

    // --- sessions ---------------------------------------------------------------------------
    std::shared_ptr<RemoteSession> add_remote(Socket socket, Session::Transport transport,
                                              std::optional<PresetIdentity> preset,
                                              PeerCredentials peer);
    std::shared_ptr<LocalSession> add_local();
    // Called once by a session when it ends (reason says why).
    void session_closed(Session& session, const std::string& reason);
    Session* find_session(std::uint64_t id);
    // Whether an encoded Envelope of this size fits one frame as a Batch item (a socket
    // session's writer drops what does not: FrameBuilder).
    bool fits_frame(std::size_t envelope_bytes) const;
    void stop();
    // Expires when this core is destroyed: for handlers posted with a pointer to it.
    std::weak_ptr<const bool> liveness() const { return alive_; }

    // --- inbound ----------------------------------------------------------------------------
    // A whole Batch frame from a socket session.
    void on_frame(Session& session, std::span<const std::uint8_t> payload);
    void on_envelope(Session& session, const bus::v1::Envelope& envelope);
    // The same as an Envelope carrying them (in-process clients send RPC without one).
    void on_rpc_request(Session& session, const rpc::v1::RpcRequest& request);
    // An in-process server's reply: its handler's response plus the stamp (reply_stamp.hpp).
    void on_rpc_response(Session& session, const rpc::v1::RpcResponse& response,
                         const ReplyStamp* stamp = nullptr);
    void on_publish_bytes(Session& session, std::span<const std::uint8_t> message);
    Result<void, BusError> publish_local(Session& session, std::string_view topic,
                                         std::string_view payload_type,
                                         std::span<const std::uint8_t> payload,
                                         const common::v1::CorrelationMetadata* correlation);
    // Admits a Hello: the Welcome, or the Error to send before closing.
    Result<bus::v1::Welcome, bus::v1::Error> admit(Session& session, const bus::v1::Hello& hello);

    // --- accounting -------------------------------------------------------------------------
    void protocol_error(Session& session, bus::v1::ErrorCode code, std::string message,
                        std::uint64_t ref = 0, bool disconnect = false);
    BrokerMetrics metrics() const;
    std::vector<SessionStats> session_stats() const;

    // While a socket session's inbound frame is being handled, sessions that get output
    // register here and are served right after the frame (no posted handler, no extra epoll
    // round): socket sessions write (RemoteSession::wake), in-process sessions deliver to their
    // client once per round (LocalSession::wake) and what that client answers — an in-process
    // RPC server's reply — is written in the same round.
    bool deferring_flush = false;
    std::uint64_t flush_round = 0;  // +1 at the end of each flush_deferred()
    std::vector<std::shared_ptr<Session>> flush_pending;
    void flush_deferred();
    // Runs f with output deferred as above (or inside the current deferral), then flushes.
    template <class F>
    void with_deferred_flush(F&& f) {
        if (deferring_flush) {
            f();
            return;
        }
        deferring_flush = true;
        f();
        flush_deferred();
    }

    std::function<void(const SessionEvent&)> on_open;
    std::function<void(const SessionEvent&)> on_closed;
    std::unique_ptr<BrokerListener> listener;
    std::size_t socket_sessions = 0;
    bool stopped = false;
    BrokerMetrics counters;  // counters only; gauges are computed in metrics()

  private:
    void handle_hello(Session& s, const bus::v1::Hello& hello);
    void handle_subscribe(Session& s, const bus::v1::Subscribe& sub);
    void handle_unsubscribe(Session& s, const bus::v1::Unsubscribe& unsub);
    // An RPC body as the broker got it: from a socket (its bytes and the head scanned from
    // them; forwarded as they came) or from an in-process client (the object).
    struct RpcRequestIn {
        RpcRequestHead head;
        std::span<const std::uint8_t> body;           // from a socket
        const rpc::v1::RpcRequest* object = nullptr;  // from an in-process client
    };
    struct RpcResponseIn {
        RpcResponseHead head;
        std::span<const std::uint8_t> envelope;  // from a socket: the Envelope's bytes
        std::span<const std::uint8_t> body;      // ... and the RpcResponse inside it
        const rpc::v1::RpcResponse* object = nullptr;
        const ReplyStamp* stamp = nullptr;  // with an object: fields to add to it
    };
    void handle_rpc_request(Session& s, const RpcRequestIn& request);
    void handle_rpc_response(Session& s, const RpcResponseIn& response);
    // The session serving `target`, remembered in the caller's `route` until a subscription
    // changes (a caller usually repeats its target). Null: nobody serves it.
    Session* rpc_server(RpcRouteCache& route, std::string_view target);
    // An error reply from the broker itself, with the request's correlation metadata.
    void answer_rpc(Session& requester, const RpcRequestIn& request, rpc::v1::ErrorCode code,
                    std::string message);
    void answer_rpc(Session& requester, std::string_view correlation_id,
                    const common::v1::CorrelationMetadata* correlation, rpc::v1::ErrorCode code,
                    std::string message);
    void fail_inflight_for(std::uint64_t session_id);
    void arm_rpc_sweep();

    void route(RouteCache& cache, const MessageRef& message);
    void resolve(RouteCache& cache);
    TopicRootMetrics* root_metrics(std::string_view topic);
    void note_drop(Session& target);
    void emit_drop_warning(std::uint64_t session_id);
    void publish_internal(std::string_view topic, const google::protobuf::MessageLite& payload);
    SessionEvent event_for(const Session& s, std::string reason) const;

    SubscriptionTrie pub_trie_;
    SubscriptionTrie rpc_trie_;
    std::uint64_t generation_ = 1;  // bumped on every (un)subscribe / session end
    std::size_t subscriptions_ = 0;
    std::unordered_map<std::uint64_t, std::shared_ptr<Session>> sessions_;
    std::vector<std::weak_ptr<Session>> closed_;  // closed, maybe still alive: detached by stop()
    std::uint64_t next_session_id_ = 1;
    std::map<std::string, TopicRootMetrics, std::less<>> roots_;
    TopicSequencer own_sequencer_;
    RouteCache own_route_;
    std::vector<SubscriberRef> match_scratch_;

    static constexpr std::uint64_t kNoSession = 0;  // session ids start at 1
    struct InFlight {
        std::uint64_t requester = kNoSession;  // kNoSession once gone, or answered already
        std::uint64_t server = kNoSession;     // kNoSession once its session has closed
        Clock::time_point expires;
        std::string target;
    };
    StringMap<InFlight> inflight_;
    boost::asio::steady_timer rpc_sweep_;
    bool sweep_armed_ = false;
    // Drop warnings held back by diagnostic_interval, oldest first (one interval for all, so
    // the queue is in due order): one timer emits each when its interval ends.
    std::deque<std::pair<Clock::time_point, std::uint64_t>> drop_warnings_due_;
    // Handlers posted with `this` hold a weak_ptr to it: one that runs after the broker is
    // destroyed (its executor outlives it) does nothing.
    std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
    boost::asio::steady_timer drop_warning_timer_;
    void arm_drop_warning_timer();
    bus::v1::Envelope scratch_envelope_;
    RequestArenas request_arenas_;  // requests for in-process servers
};

}  // namespace daemoneye::eventbus
