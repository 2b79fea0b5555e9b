#include "client_core.hpp"

#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "await_callback.hpp"
#include "daemoneye/eventbus/protocol.hpp"
#include "daemoneye/eventbus/topic.hpp"
#include "message_encoder.hpp"
#include "rpc_head.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;

namespace {

BusError from_broker_error(const bus::v1::Error& e) {
    BusError::Code code = BusError::Code::Protocol;
    switch (e.code()) {
        case bus::v1::ERROR_CODE_INVALID_TOPIC:
        case bus::v1::ERROR_CODE_INVALID_PATTERN:
            code = BusError::Code::InvalidTopic;
            break;
        case bus::v1::ERROR_CODE_DENIED:
        case bus::v1::ERROR_CODE_PEER_CREDENTIALS:
            code = BusError::Code::Denied;
            break;
        case bus::v1::ERROR_CODE_LIMIT:
            code = BusError::Code::Limit;
            break;
        case bus::v1::ERROR_CODE_DUPLICATE:
            code = BusError::Code::Duplicate;
            break;
        case bus::v1::ERROR_CODE_NOT_FOUND:
            code = BusError::Code::NotFound;
            break;
        case bus::v1::ERROR_CODE_BACKPRESSURE:
            code = BusError::Code::Backpressure;
            break;
        default:
            break;
    }
    return BusError{code, e.message()};
}

}  // namespace

BusClient::Impl::Impl(Executor ex, ClientOptions opts)
    : executor(std::move(ex)), options(std::move(opts)) {
    call_nonce_ = static_cast<std::uint64_t>(::getpid()) << 32 ^ unix_now_ns();
}

BusClient::Impl::~Impl() {
    release_idle_workers();
}

bus::v1::Hello BusClient::Impl::make_hello() const {
    bus::v1::Hello h;
    h.set_protocol_version(kProtocolVersion);
    h.set_role(options.role);
    h.set_instance_id(options.instance_id);
    h.set_client_name(options.client_name);
    if (options.manifest) *h.mutable_manifest() = *options.manifest;
    for (const auto& layer : options.sandbox) *h.add_sandbox() = layer;
    h.set_pid(::getpid());
    return h;
}

void BusClient::Impl::set_state(ConnectionState s) {
    if (state == s) return;
    state = s;
    if (state_callback) state_callback(s);
}

void BusClient::Impl::on_connected(const bus::v1::Welcome& w, bool reconnected) {
    welcome = w;
    ++connection_epoch_;
    if (reconnected) {
        ++counters.reconnects;
        resubscribe_all();
        // Connected once the broker has answered every re-subscription (resubscribed()): then
        // subscription_stats() lists what the broker holds.
        if (resubscribing_ > 0) return;
    }
    set_state(ConnectionState::Connected);
}

void BusClient::Impl::resubscribe_all() {
    // Same ids as before: handlers and gap counts carry on, but each source's numbering is
    // followed afresh: what it published while we were away reached no subscription of ours
    // (no copy dropped), and a restarted broker reuses session ids, numbering from 1 again. In
    // id order: should the new broker take fewer, the oldest subscriptions are the ones it keeps.
    std::vector<std::uint64_t> ids;
    ids.reserve(subs_.size());
    for (auto& [id, sub] : subs_) {
        sub.gaps.restart();
        ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    resubscribing_ = ids.size();
    const auto epoch = connection_epoch_;
    for (const auto id : ids) {
        auto it = subs_.find(id);
        if (it == subs_.end()) continue;  // cannot happen: only resubscribed() erases, by id
        auto answer = [weak = weak_from_this(), id, epoch](bool in_time) {
            return [weak, id, epoch, in_time](const Result<void, BusError>& r) {
                if (auto self = weak.lock()) self->resubscribed(id, epoch, r, in_time);
            };
        };
        const auto token = expect_ack(id, answer(true), /*forward_error=*/true, answer(false));
        if (auto sent = send_subscribe(it->second); !sent) fail_ack(id, token, sent.error(), false);
    }
}

void BusClient::Impl::resubscribed(std::uint64_t id, std::uint64_t epoch,
                                   const Result<void, BusError>& r, bool in_time) {
    // An earlier connection's answer (failed NotConnected when it ended): the subscription is
    // kept, and the next connection sends it again.
    if (epoch != connection_epoch_) return;
    auto it = subs_.find(id);
    if (!r && it != subs_.end()) {
        const auto& sub = it->second;
        const char* what = sub.rpc ? "re-serve of" : "re-subscription to";
        if (r.error().code == BusError::Code::Timeout) {
            // The broker may hold it yet: kept, and a late answer still counts (in_time false).
            spdlog::warn("eventbus client '{}': no answer to the {} '{}' (subscription {}): {}",
                         options.client_name, what, sub.pattern, id, r.error().message);
        } else {
            // Refused (limit, grants, ...): the broker does not hold it, so neither do we.
            ++counters.resubscribe_refused;
            spdlog::warn(
                "eventbus client '{}': the broker refused the {} '{}' after reconnecting; "
                "subscription {} is dropped: {}",
                options.client_name, what, sub.pattern, id, r.error().message);
            subs_.erase(it);
        }
    }
    if (in_time && resubscribing_ > 0 && --resubscribing_ == 0) {
        set_state(ConnectionState::Connected);
    }
}

void BusClient::Impl::on_disconnected(const std::string& reason, bool reconnecting) {
    spdlog::info("eventbus client '{}': disconnected: {}{}", options.client_name, reason,
                 reconnecting ? " (reconnecting)" : "");
    // Nothing pending can complete on this connection any more.
    ++connection_epoch_;
    resubscribing_ = 0;
    fail_all_acks(
        BusError{BusError::Code::NotConnected, "connection to the broker lost: " + reason});
    std::vector<std::string> call_ids;
    for (const auto& [id, c] : calls_) call_ids.push_back(id);
    for (const auto& id : call_ids) {
        complete_call(id, unexpected(RpcError{rpcv1::ERROR_CODE_COMMUNICATION_ERROR,
                                              "connection to the broker lost: " + reason,
                                              {}}));
    }
    // A completion above may have closed the client (reporting Closed): it stays closed.
    if (closed) reconnecting = false;
    set_state(reconnecting ? ConnectionState::Reconnecting : ConnectionState::Closed);
}

void BusClient::Impl::on_deliver(MessageView& m, std::span<const std::uint64_t> ids) {
    ++counters.received;
    for (auto id : ids) {
        auto it = subs_.find(id);
        if (it == subs_.end() || it->second.rpc) continue;  // unsubscribed meanwhile
        auto& sub = it->second;
        const auto before = sub.gaps.gaps();
        sub.gaps.observe(m.source_session(), m.topic(), m.sequence_number());
        counters.gaps += sub.gaps.gaps() - before;
        m.set_subscription_id(id);
        if (sub.handler) {
            MessageHandler& h = sub.handler;
            h(m);
        }
    }
}

void BusClient::Impl::on_envelope(bus::v1::Envelope& env) {
    using E = bus::v1::Envelope;
    switch (env.body_case()) {
        case E::kAck:
            complete_ack(env.ack().ref(), {});
            break;
        case E::kError: {
            const auto& e = env.error();
            bool log = true;
            if (auto it = acks_.find(e.ref()); e.ref() != 0 && it != acks_.end()) {
                const auto& front = it->second.front();
                // A re-subscription's refusal is its handler's to log (with the pattern), and
                // on_broker_error's to report; an awaited call's is its caller's alone. A wait
                // that timed out with no late handler is reported as an unawaited error. One
                // that only a late handler takes (a subscribe the client gave up on, or the
                // Unsubscribe undoing one: late_answer) is no error: not even counted.
                const bool handled = front.done || front.late;
                const bool forward = !handled || front.forward_error;
                const bool counted = front.done || forward;
                log = !handled;
                if (counted) ++counters.errors_from_broker;
                complete_ack(e.ref(), unexpected(from_broker_error(e)));
                if (!forward) break;
            } else {
                ++counters.errors_from_broker;
            }
            if (log) {
                spdlog::warn("eventbus client '{}': broker error: {}", options.client_name,
                             e.message());
            }
            if (error_callback) error_callback(e);
            break;
        }
        case E::kRpcResponse:
            on_rpc_response(*env.mutable_rpc_response());
            break;
        case E::kRpcRequest:
            serve_request(
                std::make_shared<rpcv1::RpcRequest>(std::move(*env.mutable_rpc_request())));
            break;
        case E::kHeartbeat:
            break;
        case E::kGoodbye:
            spdlog::info("eventbus client '{}': broker says goodbye: {}", options.client_name,
                         env.goodbye().reason());
            break;
        case E::kWelcome:
            welcome = env.welcome();
            break;
        default:
            spdlog::warn("eventbus client '{}': unexpected message from the broker (field {})",
                         options.client_name, static_cast<int>(env.body_case()));
    }
}

void BusClient::Impl::on_rpc_response(rpcv1::RpcResponse& r) {
    auto it = calls_.find(r.correlation_id());
    if (it == calls_.end()) {
        ++counters.rpc_late_replies;
        spdlog::info("eventbus client '{}': late reply for '{}' dropped", options.client_name,
                     r.correlation_id());
        return;
    }
    auto done = std::move(it->second.done);
    calls_.erase(it);
    if (!done) return;
    if (r.status() == rpcv1::STATUS_ERROR) {
        RpcError e{r.error().code(), r.error().message(), {}};
        e.response = std::move(r);
        std::move(done)(unexpected(std::move(e)));
    } else {
        std::move(done)(std::move(r));
    }
}

// --- subscriptions --------------------------------------------------------------------------

Result<void, BusError> BusClient::Impl::send_subscribe(const Subscription& sub) {
    if (!transport) return unexpected(BusError{BusError::Code::NotConnected, "not connected"});
    bus::v1::Envelope env;
    auto* s = env.mutable_subscribe();
    s->set_subscription_id(sub.id);
    s->set_pattern(sub.pattern);
    s->set_rpc_server(sub.rpc);
    return transport->send(env);
}

std::uint64_t BusClient::Impl::expect_ack(std::uint64_t id,
                                          std::function<void(Result<void, BusError>)> done,
                                          bool forward_error,
                                          std::function<void(Result<void, BusError>)> late) {
    const auto token = next_ack_token_++;
    auto timer = std::make_unique<asio::steady_timer>(executor, options.ack_timeout);
    timer->async_wait([weak = weak_from_this(), id, token](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto self = weak.lock()) {
            self->fail_ack(id, token,
                           BusError{BusError::Code::Timeout,
                                    "no acknowledgement from the broker within " +
                                        std::to_string(self->options.ack_timeout.count()) + " ms"},
                           true);
        }
    });
    acks_[id].push_back(
        PendingAck{token, std::move(done), std::move(timer), forward_error, std::move(late)});
    return token;
}

void BusClient::Impl::complete_ack(std::uint64_t id, Result<void, BusError> result) {
    auto it = acks_.find(id);
    if (it == acks_.end()) return;
    PendingAck ack = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) acks_.erase(it);
    if (ack.done) {
        ack.done(std::move(result));
    } else if (ack.late) {
        ack.late(std::move(result));
    }
}

void BusClient::Impl::fail_ack(std::uint64_t id, std::uint64_t token, const BusError& error,
                               bool keep_placeholder) {
    auto it = acks_.find(id);
    if (it == acks_.end()) return;
    auto& waits = it->second;
    auto w = std::find_if(waits.begin(), waits.end(),
                          [token](const PendingAck& a) { return a.token == token; });
    if (w == waits.end()) return;
    auto done = std::move(w->done);
    w->done = nullptr;
    if (!keep_placeholder) {
        waits.erase(w);
        if (waits.empty()) acks_.erase(it);
    }
    if (done) done(unexpected(error));
}

void BusClient::Impl::fail_all_acks(const BusError& error) {
    auto all = std::move(acks_);
    acks_.clear();
    for (auto& [id, waits] : all) {
        for (auto& w : waits) {
            if (w.done) std::move(w.done)(unexpected(error));
        }
    }
}

asio::awaitable<Result<std::uint64_t, BusError>> BusClient::Impl::add_subscription(
    const std::string& pattern, MessageHandler& handler, RpcHandler& rpc) {
    if (auto v = validate_pattern(pattern); !v) {
        co_return unexpected(BusError{BusError::Code::InvalidTopic,
                                      "invalid pattern '" + pattern + "': " + v.error().message});
    }
    if (!transport || !transport->connected()) {
        co_return unexpected(BusError{BusError::Code::NotConnected, "not connected to the broker"});
    }
    const std::uint64_t id = next_sub_id_++;
    Subscription sub;
    sub.id = id;
    sub.pattern = pattern;
    sub.rpc = static_cast<bool>(rpc);
    sub.exact = pattern.find_first_of("+#") == std::string::npos;
    sub.handler = std::move(handler);
    if (rpc) sub.rpc_handler = std::make_shared<const RpcHandler>(std::move(rpc));
    subs_.emplace(id, std::move(sub));
    auto self = shared_from_this();
    std::function<void(std::function<void(Result<void, BusError>)>)> start =
        [self, id](std::function<void(Result<void, BusError>)> done) {
            // Should the broker answer after the wait timed out (the subscription forgotten
            // here by then), late_answer undoes what it took.
            const auto& sub = self->subs_.at(id);
            auto late = [weak = std::weak_ptr<Impl>(self), id, pattern = sub.pattern,
                         rpc = sub.rpc](Result<void, BusError> r) {
                if (auto self = weak.lock()) self->late_answer(id, pattern, rpc, r);
            };
            const auto token = self->expect_ack(id, std::move(done), false, std::move(late));
            if (auto sent = self->send_subscribe(self->subs_.at(id)); !sent) {
                self->fail_ack(id, token, sent.error(), false);
            }
        };
    auto op = await_callback<Result<void, BusError>>(executor, std::move(start));
    auto result = co_await std::move(op);
    if (!result) {
        subs_.erase(id);
        co_return unexpected(result.error());
    }
    co_return id;
}

void BusClient::Impl::late_answer(std::uint64_t id, const std::string& pattern, bool rpc,
                                  const Result<void, BusError>& r) {
    ++counters.late_acks;
    const char* what = rpc ? "serve of" : "subscription to";
    if (!r) {
        spdlog::info(
            "eventbus client '{}': the broker refused the {} '{}' (subscription {}) "
            "after the client had given up waiting: {}",
            options.client_name, what, pattern, id, r.error().message);
        return;
    }
    // The broker holds a subscription nobody here knows: it counts against max_subscribers and
    // its deliveries would be dropped. Undone; the answer is awaited by nobody (no error: it is
    // what the client asked for, or the broker no longer holds it either).
    spdlog::info(
        "eventbus client '{}': the broker acknowledged the {} '{}' (subscription {}) "
        "after the client had given up waiting; unsubscribing it",
        options.client_name, what, pattern, id);
    if (!transport) return;
    auto answered = [client = options.client_name, id](Result<void, BusError> r) {
        if (!r) {
            spdlog::debug("eventbus client '{}': unsubscribing late subscription {}: {}", client,
                          id, r.error().message);
        }
    };
    const auto token = expect_ack(id, nullptr, false, std::move(answered));
    bus::v1::Envelope env;
    env.mutable_unsubscribe()->set_subscription_id(id);
    if (auto sent = transport->send(env); !sent) {
        fail_ack(id, token, sent.error(), false);
        spdlog::warn(
            "eventbus client '{}': could not unsubscribe late subscription {} ('{}'): {}; the "
            "broker holds it until this session ends",
            options.client_name, id, pattern, sent.error().message);
    }
}

asio::awaitable<Result<void, BusError>> BusClient::Impl::remove_subscription(std::uint64_t id) {
    if (!subs_.contains(id)) {
        co_return unexpected(
            BusError{BusError::Code::NotFound, "no subscription " + std::to_string(id)});
    }
    if (!transport || !transport->connected()) {
        // No session at the broker holds it: forgotten here, so no reconnect sends it again.
        subs_.erase(id);
        co_return Result<void, BusError>{};
    }
    auto self = shared_from_this();
    std::function<void(std::function<void(Result<void, BusError>)>)> start =
        [self, id](std::function<void(Result<void, BusError>)> done) {
            // Forgotten when the broker's answer arrives (not when the caller resumes, which may
            // be later): until then the subscription is active and its deliveries dispatched.
            auto settle = [weak = std::weak_ptr<Impl>(self), id,
                           done = std::move(done)](Result<void, BusError> r) {
                auto self = weak.lock();
                if (self) {
                    // Gone: the session, and the subscription with it, ended meanwhile; what the
                    // caller wanted holds, and no reconnect sends it again. NotFound: the broker
                    // holds none (the error says so). Otherwise (refused, timed out, not sent)
                    // it stays active.
                    const bool gone = !r && r.error().code == BusError::Code::NotConnected;
                    if (r || gone || r.error().code == BusError::Code::NotFound) {
                        self->subs_.erase(id);
                    }
                    if (gone) r = Result<void, BusError>{};
                }
                done(std::move(r));
            };
            // An Ack after the wait timed out: the broker no longer routes to it, so neither
            // does the client (it would otherwise list, and re-send on reconnect, a
            // subscription that receives nothing). A late refusal leaves it active.
            auto late = [weak = std::weak_ptr<Impl>(self), id](const Result<void, BusError>& r) {
                auto self = weak.lock();
                if (!self) return;
                ++self->counters.late_acks;
                if (!r) return;
                spdlog::info(
                    "eventbus client '{}': the broker acknowledged unsubscribing {} after the "
                    "client had given up waiting; forgotten now",
                    self->options.client_name, id);
                self->subs_.erase(id);
            };
            const auto token = self->expect_ack(id, std::move(settle), false, std::move(late));
            bus::v1::Envelope env;
            env.mutable_unsubscribe()->set_subscription_id(id);
            if (auto sent = self->transport->send(env); !sent) {
                self->fail_ack(id, token, sent.error(), false);
            }
        };
    auto op = await_callback<Result<void, BusError>>(executor, std::move(start));
    co_return co_await std::move(op);
}

std::vector<ClientSubscriptionStats> BusClient::Impl::subscription_stats() const {
    std::vector<ClientSubscriptionStats> out;
    for (const auto& [id, sub] : subs_) {
        ClientSubscriptionStats s;
        s.subscription_id = id;
        s.pattern = sub.pattern;
        s.received = sub.gaps.received();
        s.gaps = sub.gaps.gaps();
        for (const auto& [src, per] : sub.gaps.by_source()) {
            s.by_source.push_back({src, per.received, per.gaps});
        }
        out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.subscription_id < b.subscription_id; });
    return out;
}

// --- RPC ------------------------------------------------------------------------------------

namespace {
void append_base36(std::string& out, std::uint64_t v) {
    char buf[16];
    char* p = buf + sizeof buf;
    do {
        *--p = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
        v /= 36;
    } while (v != 0);
    out.append(p, buf + sizeof buf);
}
}  // namespace

// "<session>.<nonce>.<n>" in base 36, e.g. "3.k9zq.1f4": unique among this broker's pending
// requests (the session id is), and across a broker restart (which reuses session ids) by the
// nonce. Short on purpose: up to 15 characters a std::string holds without a heap buffer, and
// each request copies its id several times on its way (request, correlation, the pending maps).
std::string BusClient::Impl::next_correlation_id() {
    if (call_prefix_session_ != welcome.session_id()) {
        call_prefix_session_ = welcome.session_id();
        call_prefix_.clear();
        append_base36(call_prefix_, welcome.session_id());
        call_prefix_ += '.';
        append_base36(call_prefix_, call_nonce_ % (std::uint64_t{36} * 36 * 36 * 36));
        call_prefix_ += '.';
    }
    std::string id = call_prefix_;
    append_base36(id, next_call_++);
    return id;
}

void BusClient::Impl::complete_call(const std::string& id,
                                    Result<rpcv1::RpcResponse, RpcError> result) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    auto done = std::move(it->second.done);
    calls_.erase(it);
    if (done) std::move(done)(std::move(result));
}

void BusClient::Impl::async_call(RpcRequest&& request, std::chrono::milliseconds timeout,
                                 CallHandler done) {
    auto fail_now = [&](rpcv1::ErrorCode code, std::string message) {
        asio::post(executor,
                   [done = std::move(done), e = RpcError{code, std::move(message), {}}]() mutable {
                       std::move(done)(unexpected(std::move(e)));
                   });
    };
    auto& req = request.proto();
    if (!transport || !transport->connected()) {
        fail_now(rpcv1::ERROR_CODE_COMMUNICATION_ERROR, "not connected to the broker");
        return;
    }
    if (auto v = validate_topic(req.target()); !v) {
        fail_now(rpcv1::ERROR_CODE_INVALID_OPERATION,
                 "invalid RPC target '" + req.target() + "': " + v.error().message);
        return;
    }
    if (calls_.size() >= options.max_pending_requests) {
        fail_now(rpcv1::ERROR_CODE_OVERLOADED,
                 std::to_string(calls_.size()) +
                     " requests already pending (rpc.max_pending_requests " +
                     std::to_string(options.max_pending_requests) + ")");
        return;
    }
    if (!req.correlation_id().empty() && calls_.contains(req.correlation_id())) {
        fail_now(rpcv1::ERROR_CODE_INVALID_OPERATION,
                 "duplicate correlation id '" + req.correlation_id() +
                     "': a call with this id is still pending");
        return;
    }
    std::string id = req.correlation_id().empty() ? next_correlation_id() : req.correlation_id();
    if (timeout.count() <= 0) timeout = options.default_rpc_timeout;
    if (!req.has_timestamp()) req.mutable_timestamp()->set_unix_nanos(unix_now_ns());
    req.set_timeout_ms(static_cast<std::uint64_t>(timeout.count()));
    // What the request lacks is written after it (request_stamp.hpp).
    const auto stamp = RequestStamp::missing_from(req, id, options.client_name);

    if (auto sent = transport->send_rpc_request(req, stamp, calls_.empty()); !sent) {
        fail_now(rpcv1::ERROR_CODE_COMMUNICATION_ERROR, sent.error().message);
        return;
    }
    // Registered after the send: an in-process broker handles the request inside it, but
    // answers (even NotFound at once) only through the client's queue, after this returns.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    calls_.emplace(std::move(id), PendingCall{std::move(done), deadline, timeout});
    arm_call_sweep(deadline);
    ++counters.rpc_calls;
}

void BusClient::Impl::arm_call_sweep(std::chrono::steady_clock::time_point deadline) {
    if (!call_sweep_) call_sweep_ = std::make_unique<asio::steady_timer>(executor);
    if (call_sweep_armed_ && deadline >= call_sweep_->expiry()) return;
    call_sweep_->expires_at(deadline);  // cancels a later wait (its handler sees the error)
    call_sweep_armed_ = true;
    call_sweep_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;  // re-armed earlier (that wait is pending) or the client is gone
        if (auto self = weak.lock()) {
            self->call_sweep_armed_ = false;
            self->sweep_calls();
        }
    });
}

void BusClient::Impl::sweep_calls() {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, std::chrono::milliseconds>> expired;
    auto next = std::chrono::steady_clock::time_point::max();
    for (const auto& [id, c] : calls_) {
        if (c.deadline <= now) {
            expired.emplace_back(id, c.timeout);
        } else {
            next = std::min(next, c.deadline);
        }
    }
    for (const auto& [id, timeout] : expired) {
        ++counters.rpc_timeouts;
        complete_call(id, unexpected(RpcError{rpcv1::ERROR_CODE_TIMEOUT,
                                              "no reply to '" + id + "' within " +
                                                  std::to_string(timeout.count()) + " ms",
                                              {}}));
    }
    // Completions may have started new calls (and armed the sweep for them).
    for (const auto& [id, c] : calls_) next = std::min(next, c.deadline);
    if (next != std::chrono::steady_clock::time_point::max()) arm_call_sweep(next);
}

void BusClient::Impl::on_malformed_rpc(bool request, std::span<const std::uint8_t> body) {
    ++counters.rpc_malformed;
    // The broker checked the top level (rpc_head.hpp), so the id is normally readable.
    std::string id;
    if (request) {
        if (auto head = scan_rpc_request(body)) id = head->correlation_id;
    } else if (auto head = scan_rpc_response(body)) {
        id = head->correlation_id;
    }
    spdlog::warn("eventbus client '{}': malformed RPC {} '{}' ({} bytes) from the broker",
                 options.client_name, request ? "request" : "reply", id, body.size());
    if (id.empty()) return;  // nothing to answer; a caller's deadline still ends its call
    if (request) {
        auto rsp =
            rpc_failure(rpcv1::ERROR_CODE_INVALID_OPERATION,
                        "'" + options.client_name +
                            "' got a malformed request: it does not parse as rpc.v1.RpcRequest");
        send_response(rsp, ReplyStamp{id, nullptr, options.client_name});
    } else {
        complete_call(id, unexpected(RpcError{rpcv1::ERROR_CODE_COMMUNICATION_ERROR,
                                              "malformed reply: it does not parse as "
                                              "rpc.v1.RpcResponse",
                                              {}}));
    }
}

void BusClient::Impl::serve_request(std::shared_ptr<const rpcv1::RpcRequest> request_ptr) {
    const rpcv1::RpcRequest& request = *request_ptr;
    const Subscription* best = nullptr;
    for (const auto& [id, sub] : subs_) {
        if (!sub.rpc) continue;
        if (sub.exact ? sub.pattern != request.target()
                      : !pattern_matches(sub.pattern, request.target())) {
            continue;
        }
        if (!best || (sub.exact && !best->exact) || (sub.exact == best->exact && id < best->id)) {
            best = &sub;
        }
    }
    if (!best) {
        auto rsp = rpc_failure(
            rpcv1::ERROR_CODE_NOT_FOUND,
            "'" + options.client_name + "' no longer serves '" + request.target() + "'");
        send_response(rsp, ReplyStamp{request.correlation_id(), &request.correlation(), {}});
        return;
    }
    ++counters.rpc_served;
    RpcJob job{best->rpc_handler, std::move(request_ptr)};
    if (!idle_workers_.empty()) {
        auto worker = std::move(idle_workers_.back());
        idle_workers_.pop_back();
        std::move(worker)(std::move(job));  // resumes that worker right here: it runs the handler
        return;
    }
    asio::co_spawn(executor, rpc_worker(weak_from_this(), std::move(job)), asio::detached);
}

void BusClient::Impl::send_reply(const RpcJob& job, rpcv1::RpcResponse& rsp,
                                 std::chrono::steady_clock::time_point start) {
    const auto took = std::chrono::steady_clock::now() - start;
    if (rsp.status() == rpcv1::STATUS_UNSPECIFIED) rsp.set_status(rpcv1::STATUS_OK);
    rsp.set_execution_time_us(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
    rsp.clear_correlation();  // the request's replaces it (a merge would keep the handler's)
    const ReplyStamp stamp{
        job.request->correlation_id(), &job.request->correlation(),
        rsp.responder().empty() ? std::string_view(options.client_name) : std::string_view()};
    send_response(rsp, stamp);
}

void BusClient::Impl::send_response(const rpcv1::RpcResponse& rsp, const ReplyStamp& stamp) {
    if (!transport) return;
    auto sent = transport->send_rpc_response(rsp, stamp);
    if (sent) return;
    ++counters.rpc_replies_failed;
    spdlog::warn("eventbus client '{}': reply to '{}' not sent: {}", options.client_name,
                 stamp.correlation_id, sent.error().message);
    // Not connected: the broker already failed the caller's request when this session ended.
    if (sent.error().code != BusError::Code::Limit) return;
    auto instead = rpc_failure(
        rpcv1::ERROR_CODE_EXECUTION_ERROR,
        "'" + options.client_name + "' could not send its reply: " + sent.error().message);
    instead.set_execution_time_us(rsp.execution_time_us());
    (void)transport->send_rpc_response(instead, stamp);
}

asio::awaitable<void> BusClient::Impl::rpc_worker(std::weak_ptr<Impl> weak, RpcJob job) {
    for (;;) {
        {
            auto self = weak.lock();
            if (!self) co_return;
            // The job runs here, not in a coroutine of its own (a frame and a resumption less).
            const auto start = std::chrono::steady_clock::now();
            rpcv1::RpcResponse rsp;
            try {
                auto op = (*job.handler)(*job.request);  // in place: the job holds it till the end
                rsp = co_await std::move(op);
            } catch (const std::exception& e) {
                rsp = rpc_failure(rpcv1::ERROR_CODE_EXECUTION_ERROR,
                                  std::string("handler threw: ") + e.what());
            } catch (...) {
                rsp = rpc_failure(rpcv1::ERROR_CODE_EXECUTION_ERROR, "handler threw");
            }
            self->send_reply(job, rsp, start);
            job = {};  // the request and handler are released before the worker idles
        }
        // Idle until the next request. Only a weak reference is kept meanwhile: the client
        // owns its idle workers (releasing them on close and destruction), not the reverse.
        auto self = weak.lock();
        if (!self || self->closed || self.use_count() == 1 ||
            self->idle_workers_.size() >= kMaxIdleWorkers) {
            co_return;
        }
        Impl* impl = self.get();
        self.reset();  // others still hold the client (use_count was > 1); nothing runs until
                       // start below has parked us
        auto op = asio::async_initiate<const asio::use_awaitable_t<>&, void(std::optional<RpcJob>)>(
            [impl](auto handler) { impl->idle_workers_.emplace_back(std::move(handler)); },
            asio::use_awaitable);
        auto next = co_await std::move(op);
        if (!next) co_return;
        job = std::move(*next);
    }
}

void BusClient::Impl::release_idle_workers() {
    auto idle = std::move(idle_workers_);
    idle_workers_.clear();
    for (auto& worker : idle) {
        // Each ends: at once when this runs on the client's executor, else posted to it.
        asio::dispatch(executor, [w = std::move(worker)]() mutable { std::move(w)(std::nullopt); });
    }
}

void BusClient::Impl::close(const std::string& reason) {
    if (closed) return;
    closed = true;
    release_idle_workers();
    if (transport) transport->close(reason);
    on_disconnected(reason, false);
}

}  // namespace daemoneye::eventbus
