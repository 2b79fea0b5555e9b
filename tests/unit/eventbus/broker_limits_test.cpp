// The broker's own limits and what it says about them: its rpc.max_pending_requests refusing a
// request with Overloaded (and counting it), replies whose caller or server session has gone
// (dropped, counted as orphaned), requests queued for a closing server (not sent), and the
// rate-limited warning on
// control.health.diagnostics when a subscriber's queue overflows; and Broker::create refusing
// options out of range.
#include <algorithm>
#include <map>
#include <optional>

#include <boost/asio/as_tuple.hpp>

#include "bus_test_loop.hpp"

namespace daemoneye::eventbus {
namespace {

using namespace std::chrono_literals;
using test::bytes_of;
namespace asio = boost::asio;

class BrokerLimits : public test::BusTestLoop {
  protected:
    // Serves control.hold.# and keeps every request waiting until release().
    void serve_holding(BusClient& server) {
        RpcHandler h = [this](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
            asio::steady_timer t(co_await asio::this_coro::executor, 10s);
            held_.push_back(&t);
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            co_return rpc_ok();
        };
        auto op = server.serve("control.hold.#", std::move(h));
        auto ok = run(std::move(op));
        ASSERT_TRUE(ok) << ok.error().message;
    }
    void release() {
        auto held = std::move(held_);
        held_.clear();
        for (auto* t : held) t->cancel();
    }
    std::vector<asio::steady_timer*> held_;

    using CallResult = std::optional<Result<rpcv1::RpcResponse, RpcError>>;
    // Starts `req` (5 s timeout); `out` holds its result once it completes.
    static void start_call(BusClient& caller, RpcRequest req, CallResult& out) {
        caller.async_call(std::move(req), 5s,
                          [&out](Result<rpcv1::RpcResponse, RpcError> r) { out = std::move(r); });
    }
};

// The broker's in-flight table is full (2) while the callers' own limits (10) are not: the
// broker answers Overloaded at once, before the server sees anything, keeps the request's
// correlation metadata on the answer, and counts it; once replies free the table, calls go on.
TEST_F(BrokerLimits, TheBrokersMaxPendingRequestsRefusesWithOverloadedAndCountsIt) {
    BrokerOptions o;
    o.max_pending_requests = 2;
    start(o);
    auto& server = local("holder");
    serve_holding(server);
    ClientOptions co;
    co.max_pending_requests = 10;
    auto& caller = local("caller", co);
    auto& socket_caller = remote("socket-caller", co);

    std::vector<Result<rpcv1::RpcResponse, RpcError>> held_results;
    for (int i = 0; i < 2; ++i) {
        caller.async_call(
            RpcRequest::health_check("caller", "control.hold.a", 5s), 5s,
            [&](Result<rpcv1::RpcResponse, RpcError> r) { held_results.push_back(std::move(r)); });
    }
    ASSERT_TRUE(spin_until([&] { return held_.size() == 2; }));
    EXPECT_EQ(broker_->metrics().rpc_pending, 2u);
    EXPECT_EQ(broker_->metrics().rpc_overloaded, 0u);

    common::v1::CorrelationMetadata corr;
    corr.set_root_correlation_id("root-3");
    corr.set_workflow_stage("overload");
    for (BusClient* c : {&caller, &socket_caller}) {
        SCOPED_TRACE(c == &caller ? "in-process caller" : "socket caller");
        const auto overloaded_before = broker_->metrics().rpc_overloaded;
        auto req = RpcRequest::health_check("caller", "control.hold.b", 5s);
        req.correlation(corr);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = run(c->call(std::move(req), 5s));
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);  // at once, not the 5 s timeout
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, rpcv1::ERROR_CODE_OVERLOADED);
        EXPECT_NE(r.error().message.find("broker has 2 RPC requests pending"), std::string::npos)
            << r.error().message;
        EXPECT_NE(r.error().message.find("rpc.max_pending_requests"), std::string::npos)
            << r.error().message;
        EXPECT_EQ(r.error().response.responder(), "broker");
        EXPECT_EQ(r.error().response.correlation().root_correlation_id(), "root-3");
        EXPECT_EQ(r.error().response.correlation().workflow_stage(), "overload");
        EXPECT_EQ(broker_->metrics().rpc_overloaded, overloaded_before + 1);
        EXPECT_EQ(held_.size(), 2u);  // the server never saw it
    }
    EXPECT_EQ(server.stats().rpc_served, 2u);
    EXPECT_EQ(caller.pending_requests(), 2u);
    EXPECT_EQ(broker_->metrics().rpc_pending, 2u);
    EXPECT_TRUE(held_results.empty());

    release();
    ASSERT_TRUE(spin_until([&] { return held_results.size() == 2; }));
    for (const auto& r : held_results) EXPECT_TRUE(r) << r.error().message;
    EXPECT_EQ(broker_->metrics().rpc_pending, 0u);

    // Room again: the next request goes through to the server.
    CallResult after;
    start_call(socket_caller, RpcRequest::health_check("caller", "control.hold.c", 5s), after);
    ASSERT_TRUE(spin_until([&] { return held_.size() == 1; }));
    release();
    ASSERT_TRUE(spin_until([&] { return after.has_value(); }));
    EXPECT_TRUE(*after) << after->error().message;
    EXPECT_EQ(broker_->metrics().rpc_overloaded, 2u);
}

// A caller that disconnects while the server works: its reply has nobody to go to. The broker
// keeps the request (its id cannot be reused meanwhile) and, when the reply comes, drops it and
// counts it as orphaned, not as late: the server answered in time.
TEST_F(BrokerLimits, AReplyWhoseCallerHasGoneIsDroppedAndCountedAsOrphaned) {
    start();
    auto& server = local("holder");
    serve_holding(server);
    auto& leaver = remote("leaver");
    auto& stayer = remote("stayer");
    CallResult left;
    auto req = RpcRequest::health_check("leaver", "control.hold.a", 5s);
    req.proto().set_correlation_id("chosen-1");
    start_call(leaver, std::move(req), left);
    ASSERT_TRUE(spin_until([&] { return held_.size() == 1; }));
    const auto active = broker_->metrics().sessions_active;
    leaver.close("leaving");
    ASSERT_TRUE(spin_until([&] { return broker_->metrics().sessions_active == active - 1; }));
    ASSERT_TRUE(left.has_value());
    EXPECT_FALSE(*left);  // the caller's own call failed when it closed
    EXPECT_EQ(broker_->metrics().rpc_pending, 1u);

    // Its id is still taken: another session choosing it is refused, not handed that reply.
    auto dup = RpcRequest::health_check("stayer", "control.hold.b", 5s);
    dup.proto().set_correlation_id("chosen-1");
    auto refused = run(stayer.call(std::move(dup), 5s));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, rpcv1::ERROR_CODE_INVALID_OPERATION);

    release();
    ASSERT_TRUE(spin_until([&] { return broker_->metrics().rpc_orphaned_replies == 1; }));
    EXPECT_EQ(broker_->metrics().rpc_late_replies, 0u);
    EXPECT_EQ(broker_->metrics().rpc_pending, 0u);
    EXPECT_EQ(server.stats().rpc_served, 1u);

    // Everybody else carries on.
    CallResult after;
    start_call(stayer, RpcRequest::health_check("stayer", "control.hold.c", 5s), after);
    ASSERT_TRUE(spin_until([&] { return held_.size() == 1; }));
    release();
    ASSERT_TRUE(spin_until([&] { return after.has_value(); }));
    EXPECT_TRUE(*after) << after->error().message;
}

// The server's session closes while its handler runs (here the broker disconnects it); the caller
// is told at once. The server's client reconnects, and the handler's reply arrives on its new
// session: dropped and counted as orphaned, neither as late nor as a protocol error. Until then
// the id stays taken, so no other caller can be handed that reply.
TEST_F(BrokerLimits, AReplyFromAServerWhoseSessionClosedIsDroppedAndCountedAsOrphaned) {
    start();
    ClientOptions so;
    so.reconnect.initial = 10ms;
    so.reconnect.max = 10ms;
    auto& server = remote("holder", so);
    serve_holding(server);
    auto& caller = remote("caller");
    CallResult first;
    auto req = RpcRequest::health_check("caller", "control.hold.a", 5s);
    req.proto().set_correlation_id("chosen-2");
    start_call(caller, std::move(req), first);
    ASSERT_TRUE(spin_until([&] { return held_.size() == 1; }));

    ASSERT_TRUE(broker_->disconnect(server.session_id(), "test: server session closed"));
    ASSERT_TRUE(spin_until([&] { return first.has_value(); }));
    ASSERT_FALSE(*first);
    EXPECT_EQ(first->error().code, rpcv1::ERROR_CODE_COMMUNICATION_ERROR);
    ASSERT_TRUE(spin_until([&] {
        return server.stats().reconnects == 1 && server.state() == ConnectionState::Connected;
    }));

    auto dup = RpcRequest::health_check("caller", "control.hold.b", 5s);
    dup.proto().set_correlation_id("chosen-2");
    auto refused = run(caller.call(std::move(dup), 5s));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, rpcv1::ERROR_CODE_INVALID_OPERATION);
    EXPECT_EQ(held_.size(), 1u);                                      // the server never saw it
    const auto protocol_errors = broker_->metrics().protocol_errors;  // the refusal counted one

    release();  // the first handler replies, over the server's new session
    ASSERT_TRUE(spin_until([&] { return broker_->metrics().rpc_orphaned_replies == 1; }));
    EXPECT_EQ(broker_->metrics().rpc_late_replies, 0u);
    EXPECT_EQ(broker_->metrics().protocol_errors, protocol_errors);
    EXPECT_EQ(broker_->metrics().rpc_pending, 0u);
}

// A request routed to a socket server and still in that session's queue when the session
// closes is not written: its caller is told the target went away, so the server must not run
// it.
TEST_F(BrokerLimits, ARequestQueuedForAClosingServerIsNotSentToIt) {
    start();
    ClientOptions so;
    so.reconnect.enabled = false;
    auto& server = remote("srv", so);
    serve_holding(server);
    auto& caller = local("caller");
    CallResult r;
    start_call(caller, RpcRequest::health_check("caller", "control.hold.a", 5s), r);
    // Same turn: the request is queued for the server, not yet written.
    ASSERT_TRUE(broker_->disconnect(server.session_id(), "test: closing"));
    ASSERT_TRUE(spin_until([&] { return r.has_value(); }));
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error().code, rpcv1::ERROR_CODE_COMMUNICATION_ERROR);
    ASSERT_TRUE(spin_until([&] { return server.state() == ConnectionState::Closed; }));
    spin(100ms);
    EXPECT_TRUE(held_.empty());
    EXPECT_EQ(server.stats().rpc_served, 0u);
}

// A program whose io_context outlives its broker: the handlers the broker left queued (the RPC
// sweep timer's cancellation, a posted drop warning, a metrics request) must not touch it once
// it is destroyed.
// Without the guard, an ASan build reports a heap-use-after-free here.
TEST_F(BrokerLimits, HandlersTheBrokerLeftQueuedDoNothingOnceItIsDestroyed) {
    BrokerOptions o;
    o.message_buffer_size = 1;
    start(o);
    auto& server = local("server");
    RpcHandler ok = [](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
        co_return rpc_ok();
    };
    auto serve_op = server.serve("control.quick", std::move(ok));
    ASSERT_TRUE(run(std::move(serve_op)));
    auto& caller = local("caller");
    auto call_op = caller.call(RpcRequest::health_check("caller", "control.quick", 5s), 5s);
    ASSERT_TRUE(run(std::move(call_op)));  // arms the broker's RPC sweep timer
    auto& stalled = local("stalled");
    auto sub_op = stalled.subscribe("events.#", [](const MessageView&) {});
    ASSERT_TRUE(run(std::move(sub_op)));
    auto& pub = local("publisher");
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(pub.publish("events.test.x", "t", bytes_of("p")));
    EXPECT_GE(broker_->metrics().drops, 1u);  // and a drop warning is posted

    auto metrics = broker_->metrics_async();  // posted too

    clients_.clear();
    broker_.reset();  // stop() cancels the timer: its handler is queued, like the warning
    spin(50ms);
    EXPECT_THROW(metrics.get(), std::future_error);  // broken: nobody was left to answer
}

// --- the drop warning on control.health.diagnostics -------------------------------------------

struct Warning {
    std::string topic;
    std::string payload_type;
    std::uint64_t source_session = UINT64_MAX;
    bus::v1::Diagnostic diagnostic;
    std::chrono::steady_clock::time_point at;
};

// In-process subscribers whose queues take 4 messages: 20 messages published in one go (the
// loop does not run in between) leave 16 dropped for each. A warning names the session, each
// subscription with its new drops and the totals; drops within diagnostic_interval (1 s) of a
// warning bring one more when the interval ends, covering everything since the last.
TEST_F(BrokerLimits, AnOverflowingQueueGetsOneRateLimitedWarningPerSessionWithItsCounts) {
    BrokerOptions o;
    o.message_buffer_size = 4;
    o.diagnostic_interval = 1s;
    start(o);
    std::vector<Warning> warnings;
    auto& observer = local("observer");
    {
        MessageHandler h = [&](const MessageView& m) {
            Warning w;
            w.topic = std::string(m.topic());
            w.payload_type = std::string(m.payload_type());
            w.source_session = m.source_session();
            EXPECT_TRUE(m.parse_payload(w.diagnostic));
            w.at = std::chrono::steady_clock::now();
            warnings.push_back(std::move(w));
        };
        auto op = observer.subscribe(std::string(kDiagnosticsTopic), std::move(h));
        ASSERT_TRUE(run(std::move(op)));
    }
    auto ignore = [](const MessageView&) {};
    auto& one = local("stalled-one");
    auto op1 = one.subscribe("events.#", ignore);
    auto one_sub = run(std::move(op1));
    ASSERT_TRUE(one_sub);
    auto& two = local("stalled-two");
    auto op2 = two.subscribe("events.#", ignore);
    auto two_wide = run(std::move(op2));
    ASSERT_TRUE(two_wide);
    auto op3 = two.subscribe("events.test.+", ignore);
    auto two_narrow = run(std::move(op3));
    ASSERT_TRUE(two_narrow);
    auto& pub = local("publisher");

    auto burst = [&] {
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(pub.publish("events.test.x", "t", bytes_of("p")));
    };
    auto of_session = [&](std::uint64_t session) {
        std::vector<const Warning*> out;
        for (const auto& w : warnings) {
            auto it = w.diagnostic.fields().find("session");
            if (it != w.diagnostic.fields().end() && it->second == std::to_string(session)) {
                out.push_back(&w);
            }
        }
        return out;
    };
    auto field = [](const Warning& w, const std::string& key) {
        auto it = w.diagnostic.fields().find(key);
        return it == w.diagnostic.fields().end() ? std::string("<none>") : it->second;
    };
    const auto sub_key = [](std::uint64_t id) {
        return "subscription." + std::to_string(id) + ".dropped";
    };

    // Burst 1: one warning per session.
    burst();
    EXPECT_EQ(broker_->metrics().drops, 32u);
    ASSERT_TRUE(spin_until([&] { return warnings.size() >= 2; }));
    spin(50ms);
    ASSERT_EQ(warnings.size(), 2u);
    for (const auto& w : warnings) {
        EXPECT_EQ(w.topic, kDiagnosticsTopic);
        EXPECT_EQ(w.payload_type, "daemoneye.bus.v1.Diagnostic");
        EXPECT_EQ(w.source_session, 0u);  // the broker's own
        EXPECT_EQ(w.diagnostic.severity(), "warning");
        EXPECT_EQ(w.diagnostic.source(), "eventbus.broker");
    }
    auto w1 = of_session(one.session_id());
    ASSERT_EQ(w1.size(), 1u);
    const auto& m1 = w1[0]->diagnostic.message();
    EXPECT_NE(m1.find("session " + std::to_string(one.session_id()) + " (stalled-one"),
              std::string::npos)
        << m1;
    EXPECT_NE(m1.find("dropped 16 on subscription " + std::to_string(*one_sub) + " 'events.#'"),
              std::string::npos)
        << m1;
    EXPECT_EQ(field(*w1[0], "dropped_total"), "16");
    EXPECT_EQ(field(*w1[0], sub_key(*one_sub)), "16");

    auto w2 = of_session(two.session_id());
    ASSERT_EQ(w2.size(), 1u);
    const auto& m2 = w2[0]->diagnostic.message();
    EXPECT_NE(m2.find("session " + std::to_string(two.session_id()) + " (stalled-two"),
              std::string::npos)
        << m2;
    // One copy per message and session, counted on each subscription it matched.
    EXPECT_NE(m2.find("16 on subscription " + std::to_string(*two_wide) + " 'events.#'"),
              std::string::npos)
        << m2;
    EXPECT_NE(m2.find("16 on subscription " + std::to_string(*two_narrow) + " 'events.test.+'"),
              std::string::npos)
        << m2;
    EXPECT_EQ(field(*w2[0], "dropped_total"), "16");
    EXPECT_EQ(field(*w2[0], sub_key(*two_wide)), "16");
    EXPECT_EQ(field(*w2[0], sub_key(*two_narrow)), "16");

    // Burst 2, well inside the interval: dropped and counted, no warning.
    const auto first_at = std::min(w1[0]->at, w2[0]->at);
    burst();
    EXPECT_EQ(broker_->metrics().drops, 64u);
    spin(100ms);
    ASSERT_LT(std::chrono::steady_clock::now() - first_at, 900ms) << "the loop was too slow";
    EXPECT_EQ(warnings.size(), 2u);

    // When the interval ends, one warning per session covers burst 2, though the drops have
    // stopped (nothing else would ever report them).
    ASSERT_TRUE(spin_until([&] { return warnings.size() >= 4; }));
    spin(50ms);
    ASSERT_EQ(warnings.size(), 4u);
    w1 = of_session(one.session_id());
    ASSERT_EQ(w1.size(), 2u);
    EXPECT_GE(w1[1]->at - first_at, 900ms) << "not held back by the interval";
    EXPECT_NE(w1[1]->diagnostic.message().find("dropped 16 on subscription " +
                                               std::to_string(*one_sub) + " 'events.#'"),
              std::string::npos)
        << w1[1]->diagnostic.message();
    EXPECT_EQ(field(*w1[1], "dropped_total"), "32");

    // Burst 3 right after: its warning waits for the next interval's end, and says 48 in all.
    burst();
    EXPECT_EQ(broker_->metrics().drops, 96u);
    spin(100ms);
    EXPECT_EQ(warnings.size(), 4u);
    ASSERT_TRUE(spin_until([&] { return warnings.size() >= 6; }));
    spin(50ms);
    ASSERT_EQ(warnings.size(), 6u);
    w1 = of_session(one.session_id());
    ASSERT_EQ(w1.size(), 3u);
    EXPECT_EQ(field(*w1[2], "dropped_total"), "48");
    EXPECT_EQ(field(*w1[2], sub_key(*one_sub)), "48");
    w2 = of_session(two.session_id());
    ASSERT_EQ(w2.size(), 3u);
    EXPECT_EQ(field(*w2[2], "dropped_total"), "48");
    EXPECT_EQ(field(*w2[2], sub_key(*two_narrow)), "48");

    // The broker's per-subscription counters agree.
    for (const auto& s : broker_->sessions()) {
        for (const auto& sub : s.subscriptions) {
            if (s.session_id == one.session_id() || s.session_id == two.session_id()) {
                EXPECT_EQ(sub.dropped, 48u) << sub.pattern;
            }
        }
    }
    EXPECT_EQ(observer.stats().gaps, 0u);  // the warnings themselves were not dropped
}

// Options out of range are refused by Broker::create as InvalidOptions (a Limit would read as a
// full broker), each naming the option and, where it helps, the value given.
TEST(BrokerCreate, OutOfRangeOptionsFailInvalidOptionsNamingTheOption) {
    asio::io_context io{1};
    struct Case {
        const char* name;
        void (*set)(BrokerOptions&);
        const char* names;
    };
    const Case cases[] = {
        {"message_buffer_size", [](BrokerOptions& o) { o.message_buffer_size = 0; },
         "broker.message_buffer_size"},
        {"max_subscribers", [](BrokerOptions& o) { o.max_subscribers = 0; },
         "broker.max_subscribers"},
        {"max_collector_subscriptions", [](BrokerOptions& o) { o.max_collector_subscriptions = 0; },
         "broker.max_subscriptions_per_collector"},
        {"max_frame_bytes small", [](BrokerOptions& o) { o.max_frame_bytes = 2048; },
         "max_frame_bytes must be at least 16384 (got 2048)"},
        {"max_frame_bytes large", [](BrokerOptions& o) { o.max_frame_bytes = 0x100000000ull; },
         "max_frame_bytes must fit 32 bits"},
        {"default_rpc_timeout", [](BrokerOptions& o) { o.default_rpc_timeout = 0ms; },
         "rpc.default_timeout_seconds"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        BrokerOptions o;
        c.set(o);
        auto r = Broker::create(io.get_executor(), o);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, BusError::Code::InvalidOptions) << to_string(r.error().code);
        EXPECT_NE(r.error().message.find(c.names), std::string::npos) << r.error().message;
    }
    BrokerOptions fine;
    EXPECT_TRUE(Broker::create(io.get_executor(), fine));
}

}  // namespace
}  // namespace daemoneye::eventbus
