// BusClient's state, shared by both transports: subscriptions and their handlers, RPC servers,
// pending calls and acknowledgements, gap accounting, counters.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/steady_timer.hpp>

#include "client_transport.hpp"
#include "daemoneye/eventbus/bus_client.hpp"
#include "gap_tracker.hpp"

namespace daemoneye::eventbus {

class BusClient::Impl : public std::enable_shared_from_this<BusClient::Impl> {
  public:
    Impl(Executor executor, ClientOptions options);
    ~Impl();

    Executor executor;
    ClientOptions options;
    std::shared_ptr<ClientTransport> transport;
    bus::v1::Welcome welcome;
    ConnectionState state = ConnectionState::Closed;
    ClientStats counters;
    bool closed = false;

    bus::v1::Hello make_hello() const;

    // From the transport.
    void on_deliver(MessageView& message, std::span<const std::uint64_t> ids);
    void on_envelope(bus::v1::Envelope& envelope);  // may be moved from
    // RPC bodies; both may be moved from.
    void on_rpc_response(rpcv1::RpcResponse& response);
    // A request to serve, held until its handler completes (in place: an in-process server's
    // points into the Envelope the broker parsed it into).
    void serve_request(std::shared_ptr<const rpcv1::RpcRequest> request);
    // A request or reply body that does not parse: answered or failed by its correlation id.
    void on_malformed_rpc(bool request, std::span<const std::uint8_t> body);
    void on_connected(const bus::v1::Welcome& welcome, bool reconnected);
    void on_disconnected(const std::string& reason, bool reconnecting);
    void set_state(ConnectionState s);

    // API.
    // Arguments by reference: they live in the awaiting caller's frame until this completes.
    boost::asio::awaitable<Result<std::uint64_t, BusError>> add_subscription(
        const std::string& pattern, MessageHandler& handler, RpcHandler& rpc);
    boost::asio::awaitable<Result<void, BusError>> remove_subscription(std::uint64_t id);
    // Completes a call: a coroutine's handler (call()) or a callback (async_call()). Invoked
    // directly when the reply arrives, so an awaiting caller resumes inside the reply's frame and
    // its next request joins the output written right after it; posted when the call fails
    // before it was sent (the caller is still starting it).
    using CallHandler =
        boost::asio::any_completion_handler<void(Result<rpcv1::RpcResponse, RpcError>)>;
    void async_call(RpcRequest&& request, std::chrono::milliseconds timeout, CallHandler done);
    void close(const std::string& reason);
    std::vector<ClientSubscriptionStats> subscription_stats() const;
    std::size_t pending_calls() const { return calls_.size(); }

    std::function<void(ConnectionState)> state_callback;
    std::function<void(const bus::v1::Error&)> error_callback;

  private:
    struct Subscription {
        std::uint64_t id = 0;
        std::string pattern;
        bool rpc = false;
        bool exact = false;
        MessageHandler handler;
        // Shared with the jobs running it: a handler coroutine's captures live in the handler
        // object, which must outlive the coroutine even if the subscription goes.
        std::shared_ptr<const RpcHandler> rpc_handler;
        GapTracker gaps;
    };
    struct PendingAck {
        std::uint64_t token = 0;  // tells this wait from others for the same subscription id
        // Empty once the wait timed out: the entry stays, to absorb the broker's late answer
        // (the broker answers every Subscribe/Unsubscribe, in order, while the session lasts).
        std::function<void(Result<void, BusError>)> done;
        std::unique_ptr<boost::asio::steady_timer> timer;
        bool forward_error = false;  // a refusal is reported through on_broker_error too
        // Given the broker's answer should it come after the wait timed out (optional).
        std::function<void(Result<void, BusError>)> late;
    };
    // A served request: one handler run, its reply sent. Run by an RPC worker: a coroutine that
    // stays alive between requests (idle workers wait in idle_workers_ and are resumed inline
    // by the next request), so a request costs no co_spawn and no posted completion.
    struct RpcJob {
        std::shared_ptr<const RpcHandler> handler;
        // Behind a pointer: a job is handed on several times (to a parked worker, into its
        // coroutine), and moving a protobuf message is a swap plus an empty one left to destroy.
        std::shared_ptr<const rpcv1::RpcRequest> request;
    };
    // An idle worker's coroutine handler: invoked with the next job (it runs at once, on the
    // caller's stack) or with nullopt (it ends).
    using JobSlot = boost::asio::any_completion_handler<void(std::optional<RpcJob>)>;
    static constexpr std::size_t kMaxIdleWorkers = 4;
    // A handler's reply, stamped and sent (reply_stamp.hpp).
    void send_reply(const RpcJob& job, rpcv1::RpcResponse& rsp,
                    std::chrono::steady_clock::time_point start);
    // Every reply this server sends goes through here: one that cannot go out is counted and
    // logged, and one too big for a frame is replaced by an error the caller gets at once.
    void send_response(const rpcv1::RpcResponse& rsp, const ReplyStamp& stamp);
    static boost::asio::awaitable<void> rpc_worker(std::weak_ptr<Impl> weak, RpcJob job);
    void release_idle_workers();
    std::vector<JobSlot> idle_workers_;

    struct PendingCall {
        CallHandler done;
        std::chrono::steady_clock::time_point deadline;
        std::chrono::milliseconds timeout{0};
    };

    Result<void, BusError> send_subscribe(const Subscription& sub);
    // After a reconnect: sends every subscription again and learns each outcome (resubscribed).
    void resubscribe_all();
    // `in_time`: answered (or timed out) while the reconnect waits; false for a late answer.
    void resubscribed(std::uint64_t id, std::uint64_t epoch, const Result<void, BusError>& result,
                      bool in_time);
    // The broker's answer to a subscribe()/serve() that had failed Timeout (forgotten here): a
    // late Ack is undone with an Unsubscribe. Counted in late_acks, logged at info.
    void late_answer(std::uint64_t id, const std::string& pattern, bool rpc,
                     const Result<void, BusError>& result);
    // Waits for the broker's answer to the Subscribe/Unsubscribe about to be sent for `id`.
    // `done` may be empty: the answer then goes to `late` whenever it comes.
    // Returns the wait's token (for fail_ack).
    std::uint64_t expect_ack(std::uint64_t id, std::function<void(Result<void, BusError>)> done,
                             bool forward_error = false,
                             std::function<void(Result<void, BusError>)> late = nullptr);
    // The broker's answer (Ack or Error) for `id`: completes the oldest wait for it.
    void complete_ack(std::uint64_t id, Result<void, BusError> result);
    // One wait ends without an answer: timed out (kept as a placeholder for the late answer) or
    // its message was never sent (removed).
    void fail_ack(std::uint64_t id, std::uint64_t token, const BusError& error,
                  bool keep_placeholder);
    // The connection is gone: every wait fails with `error`.
    void fail_all_acks(const BusError& error);
    void complete_call(const std::string& id, Result<rpcv1::RpcResponse, RpcError> result);
    // One timer for every pending call's deadline (no timer object or timerfd re-arm per call:
    // a new call's deadline is re-armed only when it is earlier than the armed expiry).
    void arm_call_sweep(std::chrono::steady_clock::time_point deadline);
    void sweep_calls();
    std::string next_correlation_id();

    std::unordered_map<std::uint64_t, Subscription> subs_;
    std::uint64_t next_sub_id_ = 1;
    // Per subscription id, in the order sent (an unsubscribe may follow a re-subscription, or
    // another unsubscribe, still unanswered): the broker answers in order, so an answer
    // completes the front.
    std::unordered_map<std::uint64_t, std::deque<PendingAck>> acks_;
    std::uint64_t next_ack_token_ = 1;
    // Bumped on every connect and disconnect: answers to an earlier connection's
    // re-subscriptions are told apart.
    std::uint64_t connection_epoch_ = 0;
    std::size_t resubscribing_ = 0;  // re-subscriptions not answered yet (state: Reconnecting)
    std::unordered_map<std::string, PendingCall> calls_;
    std::uint64_t next_call_ = 1;
    std::unique_ptr<boost::asio::steady_timer> call_sweep_;
    bool call_sweep_armed_ = false;
    std::uint64_t call_nonce_ = 0;
    std::string call_prefix_;  // "<session>.<nonce>." for the session it names
    std::uint64_t call_prefix_session_ = UINT64_MAX;
};

}  // namespace daemoneye::eventbus
