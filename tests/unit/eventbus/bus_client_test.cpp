// BusClient against an in-process broker, plus an adopted socketpair like the agent's collectors.
#include "daemoneye/eventbus/bus_client.hpp"

#include <sys/socket.h>

#include <set>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "daemoneye/eventbus/broker.hpp"
#include "daemoneye/eventbus/protocol.hpp"
#include "daemoneye/wire/frame_codec.hpp"
#include "loop_driver.hpp"

namespace daemoneye::eventbus {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class LocalBus : public ::testing::Test {
  protected:
    void SetUp() override {
        BrokerOptions o;
        o.max_subscribers = 8;
        broker_ = Broker::create(io_.get_executor(), o).value();
    }
    void TearDown() override {
        clients_.clear();
        broker_->stop();
        spin(50ms);
    }
    BusClient& client(const std::string& name) {
        ClientOptions o;
        o.client_name = name;
        o.max_pending_requests = 2;
        clients_.push_back(BusClient::connect_local(*broker_, o).value());
        return *clients_.back();
    }
    // A collector session as the agent makes one for a launcher: `id` adopted on one end of a
    // socketpair, a client saying Hello as `hello_instance` (default: id's) on the other.
    Result<std::unique_ptr<BusClient>, BusError> adopted_collector(
        const PresetIdentity& id, std::string hello_instance = {}) {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        EXPECT_TRUE(broker_->adopt(sv[0], id));
        ClientOptions o;
        o.role = bus::v1::ROLE_COLLECTOR;
        o.instance_id = hello_instance.empty() ? id.instance_id : hello_instance;
        o.client_name = id.plugin_name;
        o.manifest.emplace().set_name(id.plugin_name);
        return run(BusClient::connect_fd(io_.get_executor(), sv[1], o));
    }
    // Runs `a` on the loop to completion (the loop keeps serving everything else meanwhile).
    template <class T>
    T run(asio::awaitable<T> a) {
        return test::run_to_end(io_, std::move(a));
    }
    void spin(std::chrono::milliseconds d = 20ms) { test::spin(io_, d); }

    asio::io_context io_{1};
    std::unique_ptr<Broker> broker_;
    std::vector<std::unique_ptr<BusClient>> clients_;
};

TEST_F(LocalBus, OverlappingSubscriptionsGetOneDeliveryBothHandlersRun) {
    auto& sub = client("sub");
    auto& pub = client("pub");
    int a = 0, b = 0;
    std::string seen;
    ASSERT_TRUE(run(sub.subscribe("events.#", [&](const MessageView& m) {
        ++a;
        seen = std::string(m.payload_string());
    })));
    ASSERT_TRUE(run(sub.subscribe("events.process.+", [&](const MessageView&) { ++b; })));
    const std::string payload = "hi";
    ASSERT_TRUE(pub.publish("events.process.lifecycle", "test.T",
                            {reinterpret_cast<const std::uint8_t*>(payload.data()), 2}));
    ASSERT_TRUE(pub.publish("events.network.x", "test.T", {}));
    spin();
    EXPECT_EQ(a, 2);
    EXPECT_EQ(b, 1);
    EXPECT_EQ(seen, "");
    const auto m = broker_->metrics();
    EXPECT_EQ(m.publishes, 2u);
    EXPECT_EQ(m.deliveries, 2u);  // one per (message, session), not per subscription
}

TEST_F(LocalBus, BadSubscriptionsAreRefusedWithReasons) {
    auto& c = client("c");
    auto bad = run(c.subscribe("events.pro+cess", [](const MessageView&) {}));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, BusError::Code::InvalidTopic);
    auto other_reply = run(c.subscribe("control.rpc.reply.12345", [](const MessageView&) {}));
    ASSERT_FALSE(other_reply);
    EXPECT_EQ(other_reply.error().code, BusError::Code::Denied);
    EXPECT_TRUE(run(c.subscribe(reply_topic(c.session_id()), [](const MessageView&) {})));
    for (int i = 0; i < 7; ++i) ASSERT_TRUE(run(c.subscribe("a.b", [](const MessageView&) {})));
    auto over = run(c.subscribe("a.c", [](const MessageView&) {}));  // max_subscribers = 8
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, BusError::Code::Limit);
    EXPECT_FALSE(c.publish("bad..topic", "t", {}));
}

TEST_F(LocalBus, RpcRoundTripNotFoundOverloadedDuplicate) {
    auto& server = client("server");
    auto& caller = client("caller");
    ASSERT_TRUE(
        run(server.serve("control.collector.+",
                         [](const rpcv1::RpcRequest& req) -> asio::awaitable<rpcv1::RpcResponse> {
                             auto r = rpc_ok();
                             r.mutable_health()->set_message("ok " + req.target());
                             co_return r;
                         })));
    common::v1::CorrelationMetadata corr;
    corr.set_correlation_id("wf-1");
    corr.set_parent_correlation_id("parent");
    corr.set_workflow_stage("probe");
    auto req = RpcRequest::health_check("caller", "control.collector.procmond", 5s);
    req.correlation(corr);
    auto rsp = run(caller.call(req, 5s));
    ASSERT_TRUE(rsp) << rsp.error().message;
    EXPECT_EQ(rsp->health().message(), "ok control.collector.procmond");
    EXPECT_EQ(rsp->correlation().parent_correlation_id(), "parent");
    EXPECT_EQ(rsp->correlation().workflow_stage(), "probe");
    EXPECT_EQ(rsp->responder(), "server");

    auto missing = run(caller.call(RpcRequest::health_check("caller", "control.nobody", 5s), 5s));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, rpcv1::ERROR_CODE_NOT_FOUND);

    // max_pending_requests = 2 and duplicate ids: refused at once, no waiting.
    std::vector<Result<rpcv1::RpcResponse, RpcError>> results;
    auto done = [&](Result<rpcv1::RpcResponse, RpcError> r) { results.push_back(std::move(r)); };
    auto r1 = RpcRequest::health_check("caller", "control.collector.a", 5s).correlation_id("same");
    caller.async_call(r1, 5s, done);
    caller.async_call(r1, 5s, done);  // duplicate
    caller.async_call(RpcRequest::health_check("caller", "control.collector.b", 5s), 5s, done);
    caller.async_call(RpcRequest::health_check("caller", "control.collector.c", 5s), 5s, done);
    for (int i = 0; i < 100 && results.size() < 4; ++i) spin(5ms);
    ASSERT_EQ(results.size(), 4u);
    int overloaded = 0, duplicate = 0, ok = 0;
    for (const auto& r : results) {
        if (r)
            ++ok;
        else if (r.error().code == rpcv1::ERROR_CODE_OVERLOADED)
            ++overloaded;
        else if (r.error().message.find("duplicate") != std::string::npos)
            ++duplicate;
    }
    EXPECT_EQ(ok, 2);
    EXPECT_EQ(overloaded, 1);
    EXPECT_EQ(duplicate, 1);
}

// Correlation ids are broker-wide: another session's pending request with the same caller-chosen
// id makes the broker refuse this one, and the caller hears so at once (an RPC error, not a bus
// Error that no call would consume), while the first call completes normally.
TEST_F(LocalBus, ADuplicateIdFromAnotherSessionFailsAtOnce) {
    auto& server = client("server");
    bool release = false;
    ASSERT_TRUE(
        run(server.serve("control.collector.slow",
                         [&](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
                             asio::steady_timer t(co_await asio::this_coro::executor);
                             while (!release) {
                                 t.expires_after(5ms);
                                 co_await t.async_wait(asio::use_awaitable);
                             }
                             co_return rpc_ok();
                         })));
    auto remote = adopted_collector(
        {"procmond-1", "procmond", {"events.process.#"}, {}, {}, {}, {"control.collector.slow"}});
    ASSERT_TRUE(remote) << remote.error().message;
    auto& local = client("local");
    auto req = RpcRequest::health_check("x", "control.collector.slow", 5s).correlation_id("shared");
    std::optional<Result<rpcv1::RpcResponse, RpcError>> first, second;
    local.async_call(req, 5s, [&](auto r) { first = std::move(r); });
    for (int i = 0; i < 20; ++i) spin(5ms);  // the first one is in flight at the server
    const auto t0 = std::chrono::steady_clock::now();
    (*remote)->async_call(req, 5s, [&](auto r) { second = std::move(r); });
    for (int i = 0; i < 200 && !second; ++i) spin(5ms);
    ASSERT_TRUE(second.has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "waited for its timeout";
    ASSERT_FALSE(*second);
    EXPECT_EQ(second->error().code, rpcv1::ERROR_CODE_INVALID_OPERATION);
    EXPECT_NE(second->error().message.find("duplicate correlation id 'shared'"), std::string::npos)
        << second->error().message;
    EXPECT_FALSE(first.has_value());
    release = true;
    for (int i = 0; i < 200 && !first; ++i) spin(5ms);
    ASSERT_TRUE(first.has_value());
    EXPECT_TRUE(*first) << first->error().message;
    EXPECT_EQ(broker_->metrics().protocol_errors, 1u);
}

// rpc.default_timeout_seconds: a call given no timeout waits the client's configured default.
TEST_F(LocalBus, ACallWithoutATimeoutWaitsTheConfiguredDefault) {
    auto& server = client("server");
    ASSERT_TRUE(
        run(server.serve("control.collector.mute",
                         [](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
                             asio::steady_timer t(co_await asio::this_coro::executor, 10s);
                             co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                             co_return rpc_ok();
                         })));
    ClientOptions o;
    o.client_name = "caller";
    o.default_rpc_timeout = 300ms;
    clients_.push_back(BusClient::connect_local(*broker_, o).value());
    auto r = run(clients_.back()->call(
        RpcRequest::health_check("caller", "control.collector.mute", 0ms), 0ms));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, rpcv1::ERROR_CODE_TIMEOUT);
    EXPECT_NE(r.error().message.find("within 300 ms"), std::string::npos) << r.error().message;
}

// Handlers run on reusable workers: one that suspends keeps its worker busy while others are
// served by new ones, every call is answered with its own correlation, and a client destroyed
// with workers idle (or one mid-handler) frees everything (ASan/LSan check that).
TEST_F(LocalBus, SuspendingAndImmediateHandlersInterleaveAndClientsCanGoAway) {
    auto* server = &client("server");
    auto& caller = client("caller");
    int in_flight = 0, max_in_flight = 0;
    ASSERT_TRUE(
        run(server->serve("control.collector.+",
                          [&](const rpcv1::RpcRequest& req) -> asio::awaitable<rpcv1::RpcResponse> {
                              ++in_flight;
                              max_in_flight = std::max(max_in_flight, in_flight);
                              if (req.target() == "control.collector.slow") {
                                  asio::steady_timer t(co_await asio::this_coro::executor, 30ms);
                                  co_await t.async_wait(asio::use_awaitable);
                              }
                              --in_flight;
                              auto r = rpc_ok();
                              r.mutable_health()->set_message(req.correlation_id());
                              co_return r;
                          })));
    std::vector<Result<rpcv1::RpcResponse, RpcError>> results;
    std::vector<std::string> ids;
    auto done = [&](Result<rpcv1::RpcResponse, RpcError> r) { results.push_back(std::move(r)); };
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 2; ++i) {  // max_pending_requests is 2 in this fixture
            const std::string id = "c" + std::to_string(round) + "-" + std::to_string(i);
            ids.push_back(id);
            caller.async_call(
                RpcRequest::health_check(
                    "caller", i == 0 ? "control.collector.slow" : "control.collector.fast", 5s)
                    .correlation_id(id),
                5s, done);
        }
        for (int i = 0; i < 200 && results.size() < ids.size(); ++i) spin(5ms);
    }
    ASSERT_EQ(results.size(), ids.size());
    std::set<std::string> answered;
    for (const auto& r : results) {
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->health().message(), r->correlation_id());
        answered.insert(r->correlation_id());
    }
    EXPECT_EQ(answered, std::set<std::string>(ids.begin(), ids.end()));
    EXPECT_EQ(max_in_flight, 2);  // the fast one was served while the slow one waited
    EXPECT_EQ(server->stats().rpc_served, ids.size());

    // A slow call in flight, then the server goes away: the caller hears it at once.
    bool failed = false;
    caller.async_call(RpcRequest::health_check("caller", "control.collector.slow", 5s), 5s,
                      [&](Result<rpcv1::RpcResponse, RpcError> r) { failed = !r; });
    spin(5ms);
    clients_.erase(clients_.begin());  // the server, with an idle worker and a busy one
    for (int i = 0; i < 200 && !failed; ++i) spin(5ms);
    EXPECT_TRUE(failed);
    spin(50ms);  // the busy worker's timer fires into a client that is gone
}

TEST_F(LocalBus, HandlerExceptionBecomesExecutionError) {
    auto& server = client("server");
    auto& caller = client("caller");
    ASSERT_TRUE(run(server.serve(
        "control.collector.x", [](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
            throw std::runtime_error("boom");
            co_return rpc_ok();
        })));
    auto r = run(caller.call(RpcRequest::health_check("c", "control.collector.x", 5s), 5s));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, rpcv1::ERROR_CODE_EXECUTION_ERROR);
    EXPECT_NE(r.error().message.find("boom"), std::string::npos);
}

TEST_F(LocalBus, AdoptedCollectorGetsItsGrantsAndConfigAndMustMatch) {
    auto& agent = client("agent");
    PresetIdentity id{
        "procmond-1", "procmond", {"events.process.#"}, {{"scan_interval_ms", "500"}}};
    int received = 0;
    ASSERT_TRUE(run(agent.subscribe("events.#", [&](const MessageView&) { ++received; })));

    auto collector = adopted_collector(id);
    ASSERT_TRUE(collector) << collector.error().message;
    EXPECT_EQ((*collector)->welcome().config().at("scan_interval_ms"), "500");
    EXPECT_EQ((*collector)->welcome().publish_grants(0), "events.process.#");
    int denied = 0;
    (*collector)->on_broker_error([&](const bus::v1::Error& e) {
        if (e.code() == bus::v1::ERROR_CODE_DENIED) ++denied;
    });
    ASSERT_TRUE((*collector)->publish("events.process.lifecycle", "t", {}));
    ASSERT_TRUE((*collector)->publish("events.network.x", "t", {}));  // refused by the broker
    for (int i = 0; i < 100 && (received < 1 || denied < 1); ++i) spin(5ms);
    EXPECT_EQ(received, 1);
    EXPECT_EQ(denied, 1);
    EXPECT_EQ(broker_->metrics().denials, 1u);

    // A Hello that does not match the preset identity is refused.
    auto impostor = adopted_collector(id, "procmond-2");
    ASSERT_FALSE(impostor);
    EXPECT_NE(impostor.error().message.find("procmond-1"), std::string::npos)
        << impostor.error().message;
}

// The same API over a socket as in-process: a bad topic is the caller's InvalidTopic at once
// (naming the level), not a publish that "succeeds" and comes back later as a broker Error.
TEST_F(LocalBus, ASocketClientRefusesABadTopicAtOnceAsInProcess) {
    auto& local = client("local");
    auto remote = adopted_collector({"procmond-1", "procmond", {"events.process.#"}, {}});
    ASSERT_TRUE(remote) << remote.error().message;
    int broker_errors = 0;
    (*remote)->on_broker_error([&](const bus::v1::Error&) { ++broker_errors; });
    for (BusClient* c : {&local, remote->get()}) {
        auto bad = c->publish("events..process", "t", {});
        ASSERT_FALSE(bad);
        EXPECT_EQ(bad.error().code, BusError::Code::InvalidTopic);
        EXPECT_NE(bad.error().message.find("level 2"), std::string::npos) << bad.error().message;
    }
    // A good topic after a bad one (and the same one again, validated once) still goes out.
    ASSERT_TRUE((*remote)->publish("events.process.x", "t", {}));
    ASSERT_TRUE((*remote)->publish("events.process.x", "t", {}));
    ASSERT_FALSE((*remote)->publish("events.process.", "t", {}));
    for (int i = 0; i < 100 && broker_->metrics().publishes < 2; ++i) spin(5ms);
    EXPECT_EQ(broker_->metrics().publishes, 2u);
    EXPECT_EQ(broker_->metrics().protocol_errors, 0u);
    EXPECT_EQ(broker_errors, 0);
    EXPECT_EQ((*remote)->stats().published, 2u);
}

// A plugin runs inside its launcher and can speak on the session itself: the broker lets an
// adopted collector serve only its own target, and subscribe to and call only what it was
// granted.
TEST_F(LocalBus, AnAdoptedCollectorServesOnlyItsOwnTargetAndCallsOnlyWhatIsGranted) {
    auto& agent = client("agent");
    ASSERT_TRUE(run(agent.serve(
        "control.agent",
        [](rpcv1::RpcRequest) -> asio::awaitable<rpcv1::RpcResponse> { co_return rpc_ok(); })));
    PresetIdentity id{"netmond-0", "netmond", {"events.network.#"}, {}};
    id.rpc_serve_grants = {"control.collector.netmond.netmond-0"};
    auto c = adopted_collector(id);
    ASSERT_TRUE(c) << c.error().message;
    BusClient& collector = **c;
    auto handler = [](rpcv1::RpcRequest) -> asio::awaitable<rpcv1::RpcResponse> {
        co_return rpc_ok();
    };

    EXPECT_TRUE(run(collector.serve("control.collector.netmond.netmond-0", handler)));
    const auto denials_before = broker_->metrics().denials;
    for (const char* other :
         {"control.collector.procmond.procmond-0", "control.collector.#", "control.agent"}) {
        auto r = run(collector.serve(other, handler));
        ASSERT_FALSE(r) << other;
        EXPECT_NE(r.error().message.find("denied"), std::string::npos) << r.error().message;
    }
    auto sub = run(collector.subscribe("events.#", [](const MessageView&) {}));
    ASSERT_FALSE(sub);
    EXPECT_NE(sub.error().message.find("may subscribe to nothing"), std::string::npos)
        << sub.error().message;
    auto call = run(collector.call(RpcRequest::health_check("netmond", "control.agent", 2s), 2s));
    ASSERT_FALSE(call);
    EXPECT_EQ(call.error().code, rpcv1::ERROR_CODE_DENIED) << call.error().message;
    EXPECT_NE(call.error().message.find("may call nothing"), std::string::npos)
        << call.error().message;
    EXPECT_EQ(broker_->metrics().denials - denials_before, 5u);

    // The agent still reaches the collector's own target, and serves its own.
    auto ok = run(agent.call(
        RpcRequest::health_check("agent", "control.collector.netmond.netmond-0", 2s), 2s));
    EXPECT_TRUE(ok) << ok.error().message;
}

// max_subscribers is shared by all sessions: one collector session (a plugin writing to it) may
// take only max_subscriptions_per_collector of it.
TEST_F(LocalBus, ACollectorCannotUseUpTheBrokersSubscriptions) {
    broker_->stop();
    BrokerOptions bo;
    bo.max_subscribers = 8;
    bo.max_collector_subscriptions = 2;
    broker_ = Broker::create(io_.get_executor(), bo).value();
    PresetIdentity id{"fsmond-0", "fsmond", {}, {}};
    id.subscribe_grants = {"#"};  // what this test is about is the count
    auto c = adopted_collector(id);
    ASSERT_TRUE(c) << c.error().message;
    auto ignore = [](const MessageView&) {};
    EXPECT_TRUE(run((*c)->subscribe("events.#", ignore)));
    EXPECT_TRUE(run((*c)->subscribe("control.#", ignore)));
    auto third = run((*c)->subscribe("#", ignore));
    ASSERT_FALSE(third);
    EXPECT_NE(third.error().message.find("a collector session may hold 2 subscriptions"),
              std::string::npos)
        << third.error().message;
    // Everyone else still has the rest.
    auto& agent = client("agent");
    for (int i = 0; i < 6; ++i) EXPECT_TRUE(run(agent.subscribe("events.x", ignore))) << i;
}

// The broker checks every publish whole, so a delivery that does not parse can only come from a
// broken or foreign broker; the client drops it, counts it and carries on.
TEST_F(LocalBus, ASocketClientCountsADeliveryThatDoesNotParseAndCarriesOn) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    auto send_frame = [&](const std::string& batch) {
        std::vector<std::uint8_t> f;
        ASSERT_TRUE(wire::append_frame(
            f, {reinterpret_cast<const std::uint8_t*>(batch.data()), batch.size()},
            wire::Crc32Variant::Ieee, 1 << 20));
        ASSERT_EQ(::send(sv[0], f.data(), f.size(), MSG_NOSIGNAL), static_cast<ssize_t>(f.size()));
    };
    bus::v1::Batch welcome;  // this test plays the broker
    auto* w = welcome.add_items()->mutable_welcome();
    w->set_session_id(7);
    w->set_reply_topic("control.rpc.reply.7");
    w->set_max_frame_bytes(1 << 20);
    w->set_protocol_version(kProtocolVersion);
    send_frame(welcome.SerializeAsString());

    ClientOptions o;
    o.client_name = "subscriber";
    auto c = run(BusClient::connect_fd(io_.get_executor(), sv[1], o));
    ASSERT_TRUE(c) << c.error().message;
    auto wrap = [](char key, const std::string& body) {
        return std::string(1, key) + static_cast<char>(body.size()) + body;  // < 128 bytes
    };
    // Message { topic "events.a", timestamp { unix_nanos: <truncated varint> } }
    const std::string bad = wrap('\x0A', "events.a") + wrap('\x22', "\x08\xFF");
    const std::string deliver = wrap('\x0A', bad) + "\x10\x01";  // + subscription_ids 1
    send_frame(wrap('\x0A', wrap('\x32', deliver)));
    bus::v1::Batch good;
    auto* d = good.add_items()->mutable_deliver();
    d->mutable_message()->set_topic("events.a");
    d->add_subscription_ids(1);
    send_frame(good.SerializeAsString());

    ClientStats stats;
    for (int i = 0; i < 200 && stats.received < 1; ++i) {
        spin(5ms);
        stats = (*c)->stats();
    }
    EXPECT_EQ(stats.received_malformed, 1u);
    EXPECT_EQ(stats.received, 1u);  // the good one after it
    EXPECT_EQ((*c)->state(), ConnectionState::Connected);
    ::close(sv[0]);
}

// A reply too big for a frame is never dropped silently: whichever side finds it, the caller
// gets an error at once naming max_frame_bytes, and it is counted.
TEST_F(LocalBus, AReplyTooBigForAFrameFailsTheCallAtOnce) {
    broker_->stop();
    BrokerOptions bo;
    bo.max_frame_bytes = 64 * 1024;
    broker_ = Broker::create(io_.get_executor(), bo).value();
    auto big = [](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
        auto r = rpc_ok();
        r.mutable_health()->set_message(std::string(100 * 1024, 'x'));
        co_return r;
    };
    auto& agent = client("agent");
    ASSERT_TRUE(run(agent.serve("control.agent.big", big)));

    // An in-process server's reply to a socket caller: the broker finds it too big.
    PresetIdentity id{"procmond-0", "procmond", {}, {}};
    id.rpc_serve_grants = {"control.collector.procmond.procmond-0"};
    id.rpc_call_grants = {"control.agent.big"};
    auto collector = adopted_collector(id);
    ASSERT_TRUE(collector) << collector.error().message;
    const auto t0 = std::chrono::steady_clock::now();
    auto first =
        run((*collector)->call(RpcRequest::health_check("c", "control.agent.big", 5s), 5s));
    ASSERT_FALSE(first);
    EXPECT_EQ(first.error().code, rpcv1::ERROR_CODE_COMMUNICATION_ERROR);
    EXPECT_NE(first.error().message.find("does not fit max_frame_bytes 65536"), std::string::npos)
        << first.error().message;
    EXPECT_EQ(broker_->metrics().rpc_failed, 1u);

    // A socket server's reply: its client finds it too big for the broker's limit (learnt at
    // Welcome, below its own 1 MiB) and sends an error in its place.
    ASSERT_TRUE(run((*collector)->serve("control.collector.procmond.procmond-0", big)));
    auto second = run(
        agent.call(RpcRequest::health_check("a", "control.collector.procmond.procmond-0", 5s), 5s));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, rpcv1::ERROR_CODE_EXECUTION_ERROR);
    EXPECT_NE(second.error().message.find("could not send its reply"), std::string::npos)
        << second.error().message;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s) << "a call waited for its timeout";
    EXPECT_EQ((*collector)->stats().rpc_replies_failed, 1u);
    EXPECT_EQ((*collector)->state(), ConnectionState::Connected);
    EXPECT_EQ(broker_->metrics().protocol_errors, 0u);
    EXPECT_EQ(broker_->metrics().oversized_dropped, 0u);
}

// A socket peer that lets its control messages (here: heartbeat echoes) pile up past the
// broker's control_buffer_size is closed and counted, not left waiting for what was not queued.
TEST_F(LocalBus, ASessionThatDoesNotReadItsControlMessagesIsClosed) {
    broker_->stop();
    BrokerOptions bo;
    bo.control_buffer_size = 16;
    broker_ = Broker::create(io_.get_executor(), bo).value();
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    const int small = 4096;
    ASSERT_EQ(::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    ASSERT_TRUE(broker_->adopt(sv[0], PresetIdentity{"fsmond-0", "fsmond", {}, {}}));
    bus::v1::Batch hello;
    auto* h = hello.add_items()->mutable_hello();
    h->set_protocol_version(kProtocolVersion);
    h->set_role(bus::v1::ROLE_COLLECTOR);
    h->set_client_name("fsmond");
    h->set_instance_id("fsmond-0");
    h->mutable_manifest()->set_name("fsmond");
    bus::v1::Batch beats;
    for (int i = 0; i < 500; ++i) beats.add_items()->mutable_heartbeat()->set_sequence(i);
    std::vector<std::uint8_t> out;
    ASSERT_TRUE(wire::append_message_frame(out, hello, wire::Crc32Variant::Ieee, 1 << 20));
    for (int i = 0; i < 40; ++i) {  // 20,000 echoes owed, never read
        ASSERT_TRUE(wire::append_message_frame(out, beats, wire::Crc32Variant::Ieee, 1 << 20));
    }
    std::size_t off = 0;
    for (int i = 0; i < 2000 && off < out.size(); ++i) {
        const auto n =
            ::send(sv[1], out.data() + off, out.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) off += static_cast<std::size_t>(n);
        spin(2ms);
    }
    for (int i = 0; i < 200 && broker_->metrics().sessions_active > 0; ++i) spin(5ms);
    const auto m = broker_->metrics();
    EXPECT_GE(m.control_overflows, 1u);
    EXPECT_EQ(m.sessions_active, 0u) << "the session that stopped reading is still open";
    EXPECT_EQ(m.sessions_total, 1u);
    ::close(sv[1]);
}

}  // namespace
}  // namespace daemoneye::eventbus
