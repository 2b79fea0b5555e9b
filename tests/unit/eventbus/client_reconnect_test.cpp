// A socket client's reconnect loop (remote_transport.cpp), observed from outside (the delay
// computation itself is checked directly in reconnect_backoff_test.cpp; here it runs with the
// transport's private, time-seeded generator). What can be checked without timing guesses: attempts
// stop at max_attempts and the client ends Closed; each wait is at least the policy's delay (timers
// do not fire early), so growth shows as lower bounds; the cap shows as a total far below what
// uncapped growth would take; and a client re-subscribes when the broker comes back, learning each
// re-subscription's outcome (some against a broker the test plays on the socket path).
#include <algorithm>
#include <regex>

#include <spdlog/spdlog.h>

#include "bus_test_loop.hpp"
#include "log_capture.hpp"

namespace daemoneye::eventbus {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::bytes_of;
using Clock = std::chrono::steady_clock;

class ClientReconnect : public test::BusTestLoop {
  protected:
    void TearDown() override {
        test::BusTestLoop::TearDown();
        for (auto& b : retired_) b->stop();
        spin(20ms);
        retired_.clear();
        log_.reset();  // after the clients' last lines
    }
    // Re-dials after 10 ms, at most 50 ms apart.
    static ClientOptions quick_reconnect() {
        ClientOptions o;
        o.reconnect.initial = 10ms;
        o.reconnect.max = 50ms;
        return o;
    }
    // Stops the broker; its socket file goes with it, so every re-dial fails at once (ENOENT).
    void stop_broker() {
        broker_->stop();
        retired_.push_back(std::move(broker_));
    }
    std::vector<Clock::time_point> attempts() const {
        std::vector<Clock::time_point> out;
        for (const auto& l : client_lines()) {
            if (l.text.find("reconnect attempt") != std::string::npos) out.push_back(l.at);
        }
        return out;
    }
    std::optional<Clock::time_point> disconnected_at() const {
        for (const auto& l : client_lines()) {
            if (l.text.find("disconnected:") != std::string::npos &&
                l.text.find("(reconnecting)") != std::string::npos) {
                return l.at;
            }
        }
        return std::nullopt;
    }

    // Plays the broker that comes back at `path`: accepts the client's re-dial, reads its Hello,
    // welcomes it, and returns the connection (owned by the fixture) once the client has sent
    // `subscribes` re-subscriptions, which are left unanswered.
    int play_broker(const std::string& path, std::size_t subscribes) {
        const int conn = accept_hello(path);
        if (conn < 0) return -1;
        welcome(conn);
        auto resubs = raw_read(conn, [&](const RawReply& r) {
            return count(r, bus::v1::Envelope::kSubscribe) == subscribes;
        });
        EXPECT_EQ(count(resubs, bus::v1::Envelope::kSubscribe), subscribes);
        return conn;
    }
    // The first half of play_broker: accepts the re-dial and reads its Hello, unanswered.
    int accept_hello(const std::string& path) {
        const int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.data(), path.size());
        EXPECT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(lfd, 4), 0);
        int conn = -1;
        EXPECT_TRUE(spin_until([&] {
            conn = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            return conn >= 0;
        }));
        ::close(lfd);
        ::unlink(path.c_str());
        if (conn < 0) return -1;
        raw_.push_back(conn);
        auto hello = raw_read(
            conn, [&](const RawReply& r) { return count(r, bus::v1::Envelope::kHello) == 1; });
        EXPECT_EQ(count(hello, bus::v1::Envelope::kHello), 1);
        return conn;
    }
    static void welcome(int conn) {
        bus::v1::Batch welcome;
        auto* w = welcome.add_items()->mutable_welcome();
        w->set_session_id(1);
        w->set_max_frame_bytes(1 << 20);
        w->set_protocol_version(kProtocolVersion);
        raw_send(conn, welcome);
    }
    static std::size_t count(const RawReply& r, bus::v1::Envelope::BodyCase kind) {
        return static_cast<std::size_t>(std::count_if(
            r.items.begin(), r.items.end(), [&](const auto& e) { return e.body_case() == kind; }));
    }

    std::unique_ptr<test::LogCapture> log_ =
        std::make_unique<test::LogCapture>(spdlog::level::info);
    // The lines of the client under test ('reconnecting'), with their times.
    std::vector<test::LogCapture::Line> client_lines() const {
        std::vector<test::LogCapture::Line> out;
        for (const auto& l : log_->lines()) {
            if (l.text.find("eventbus client 'reconnecting'") != std::string::npos)
                out.push_back(l);
        }
        return out;
    }
    std::vector<std::unique_ptr<Broker>> retired_;
};

TEST_F(ClientReconnect, GivesUpAfterMaxAttemptsWithGrowingCappedDelays) {
    start();
    ClientOptions o;
    o.reconnect.initial = 10ms;
    o.reconnect.multiplier = 4.0;
    o.reconnect.max = 160ms;
    o.reconnect.jitter = 0.0;
    o.reconnect.max_attempts = 6;
    auto& client = remote("reconnecting", o);
    std::vector<ConnectionState> states;
    client.on_state_change([&](ConnectionState s) { states.push_back(s); });

    stop_broker();
    ASSERT_TRUE(spin_until([&] { return client.state() == ConnectionState::Closed; }, 10s))
        << attempts().size() << " attempts so far";
    const auto done = Clock::now();
    EXPECT_EQ(states, (std::vector<ConnectionState>{ConnectionState::Reconnecting,
                                                    ConnectionState::Closed}));
    const auto at = attempts();
    ASSERT_EQ(at.size(), 6u);
    spin(300ms);  // no attempt after giving up
    EXPECT_EQ(attempts().size(), 6u);

    // Delays 10, 40, 160 (capped from here on), 160, 160, 160 ms: each wait lasts at least its
    // delay. A policy that did not grow would wait 10 ms each time.
    const auto start_at = disconnected_at();
    ASSERT_TRUE(start_at);
    const std::chrono::milliseconds delay[] = {10ms, 40ms, 160ms, 160ms, 160ms, 160ms};
    auto prev = *start_at;
    for (std::size_t i = 0; i < at.size(); ++i) {
        EXPECT_GE(at[i] - prev, delay[i]) << "attempt " << i + 1;
        prev = at[i];
    }
    // Capped: about 0.7 s in all. Uncapped (10 ms x 4^n) the last three waits alone would be
    // 2.56 + 10.2 + 41 s.
    EXPECT_LT(done - *start_at, 3s);
}

TEST_F(ClientReconnect, ReconnectsAndResubscribesWhenTheBrokerComesBack) {
    start();
    const BrokerOptions options = broker_->options();
    ClientOptions o = quick_reconnect();
    auto& client = remote("reconnecting", o);
    int received = 0;
    auto op = client.subscribe("events.#", [&](const MessageView&) { ++received; });
    auto sub = run(std::move(op));
    ASSERT_TRUE(sub);

    stop_broker();
    ASSERT_TRUE(spin_until([&] { return attempts().size() >= 2; }));
    EXPECT_EQ(client.state(), ConnectionState::Reconnecting);
    broker_ = Broker::create(io_.get_executor(), options).value();
    ASSERT_TRUE(broker_->listen());
    ASSERT_TRUE(spin_until([&] { return client.state() == ConnectionState::Connected; }));
    EXPECT_EQ(client.stats().reconnects, 1u);
    // The subscription is back on the new broker, under the same id.
    ASSERT_TRUE(spin_until([&] { return broker_->metrics().subscriptions == 1; }));
    auto& pub = local("publisher");
    ASSERT_TRUE(pub.publish("events.after", "t", bytes_of("x")));
    ASSERT_TRUE(spin_until([&] { return received == 1; }));
    const auto stats = client.subscription_stats();
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].subscription_id, *sub);
}

// A broker that comes back with room for fewer subscriptions: the client learns each
// re-subscription's outcome (a served pattern's too), drops the refused ones, counts and logs
// them with the pattern and the broker's reason, reports each through on_broker_error, and says
// Connected only once all are answered, listing what the broker holds.
TEST_F(ClientReconnect, ARefusedResubscriptionIsDroppedCountedLoggedAndReported) {
    start();
    BrokerOptions options = broker_->options();
    ClientOptions o = quick_reconnect();
    auto& client = remote("reconnecting", o);
    int kept_calls = 0;
    auto kept_op = client.subscribe("events.kept.#", [&](const MessageView&) { ++kept_calls; });
    auto kept = run(std::move(kept_op));
    ASSERT_TRUE(kept);
    auto lost_op = client.subscribe("events.lost.#", [](const MessageView&) {});
    auto lost = run(std::move(lost_op));
    ASSERT_TRUE(lost);
    RpcHandler handler = [](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
        co_return rpc_ok();
    };
    auto serve_op = client.serve("control.test.lost", handler);
    auto served = run(std::move(serve_op));
    ASSERT_TRUE(served) << served.error().message;
    std::vector<bus::v1::Error> errors;
    client.on_broker_error([&](const bus::v1::Error& e) { errors.push_back(e); });
    std::vector<std::size_t> listed_when_connected;
    client.on_state_change([&](ConnectionState s) {
        if (s == ConnectionState::Connected) {
            listed_when_connected.push_back(client.subscription_stats().size());
        }
    });

    stop_broker();
    ASSERT_TRUE(spin_until([&] { return client.state() == ConnectionState::Reconnecting; }));
    options.max_subscribers = 1;
    broker_ = Broker::create(io_.get_executor(), options).value();
    ASSERT_TRUE(broker_->listen());
    ASSERT_TRUE(spin_until([&] { return client.state() == ConnectionState::Connected; }));

    // The oldest subscription is the one kept; the list matched the broker's at Connected.
    EXPECT_EQ(listed_when_connected, std::vector<std::size_t>{1});
    const auto listed = client.subscription_stats();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].subscription_id, *kept);
    EXPECT_EQ(listed[0].pattern, "events.kept.#");
    EXPECT_EQ(broker_->metrics().subscriptions, 1u);
    EXPECT_EQ(client.stats().resubscribe_refused, 2u);

    ASSERT_EQ(errors.size(), 2u);
    std::vector<std::uint64_t> refs;
    for (const auto& e : errors) {
        refs.push_back(e.ref());
        EXPECT_EQ(e.code(), bus::v1::ERROR_CODE_LIMIT);
        EXPECT_NE(e.message().find("broker.max_subscribers (1) reached"), std::string::npos)
            << e.message();
    }
    std::sort(refs.begin(), refs.end());
    EXPECT_EQ(refs, (std::vector<std::uint64_t>{*lost, *served}));

    const auto lines = client_lines();
    for (const std::string pattern : {"events.lost.#", "control.test.lost"}) {
        const bool logged = std::any_of(lines.begin(), lines.end(), [&](const auto& l) {
            return l.text.find("refused the re-") != std::string::npos &&
                   l.text.find("'" + pattern + "'") != std::string::npos &&
                   l.text.find("broker.max_subscribers (1) reached") != std::string::npos;
        });
        EXPECT_TRUE(logged) << "no warning names " << pattern << " and the broker's reason";
    }

    // What is kept works; what was dropped is no longer the client's.
    auto& pub = local("publisher");
    ASSERT_TRUE(pub.publish("events.kept.x", "t", bytes_of("x")));
    ASSERT_TRUE(spin_until([&] { return kept_calls == 1; }));
    auto un_op = client.unsubscribe(*lost);
    auto un = run(std::move(un_op));
    ASSERT_FALSE(un);
    EXPECT_EQ(un.error().code, BusError::Code::NotFound);
}

// Re-subscriptions the broker has not answered when the connection drops again are not refusals:
// the client keeps them (still Reconnecting, never Connected in between) and sends them again
// on the next connection. The first broker to come back is played by the test: it welcomes the
// client, reads its re-subscriptions and hangs up without answering.
TEST_F(ClientReconnect, UnansweredResubscriptionsAreKeptWhenTheConnectionDropsAgain) {
    start();
    const BrokerOptions options = broker_->options();
    const std::string path = broker_->socket_path();
    ClientOptions o = quick_reconnect();
    auto& client = remote("reconnecting", o);
    for (const char* p : {"events.a.#", "events.b.#"}) {
        auto op = client.subscribe(p, [](const MessageView&) {});
        ASSERT_TRUE(run(std::move(op))) << p;
    }
    std::vector<ConnectionState> states;
    client.on_state_change([&](ConnectionState s) { states.push_back(s); });
    stop_broker();

    const int conn = play_broker(path, 2);
    ASSERT_GE(conn, 0);
    EXPECT_EQ(client.state(), ConnectionState::Reconnecting);  // nothing answered yet
    ::shutdown(conn, SHUT_RDWR);
    auto disconnects = [&] {
        const auto lines = client_lines();
        return std::count_if(lines.begin(), lines.end(), [](const auto& l) {
            return l.text.find("disconnected:") != std::string::npos;
        });
    };
    ASSERT_TRUE(spin_until([&] { return disconnects() == 2; }));
    EXPECT_EQ(client.subscription_stats().size(), 2u);
    EXPECT_EQ(client.stats().resubscribe_refused, 0u);

    broker_ = Broker::create(io_.get_executor(), options).value();
    ASSERT_TRUE(broker_->listen());
    ASSERT_TRUE(spin_until([&] { return client.state() == ConnectionState::Connected; }));
    EXPECT_EQ(broker_->metrics().subscriptions, 2u);
    EXPECT_EQ(client.subscription_stats().size(), 2u);
    EXPECT_EQ(states, (std::vector<ConnectionState>{ConnectionState::Reconnecting,
                                                    ConnectionState::Connected}));
    EXPECT_EQ(client.stats().reconnects, 2u);
}

// A re-subscription whose answer does not come within ack_timeout is kept (the broker may hold
// it); should a refusal come after all, it is handled as one in time would have been.
TEST_F(ClientReconnect, ALateRefusalOfATimedOutResubscriptionStillDropsIt) {
    start();
    const std::string path = broker_->socket_path();
    ClientOptions o = quick_reconnect();
    o.ack_timeout = 50ms;
    auto& client = remote("reconnecting", o);
    std::uint64_t ids[2] = {};
    int i = 0;
    for (const char* p : {"events.a.#", "events.b.#"}) {
        auto op = client.subscribe(p, [](const MessageView&) {});
        auto id = run(std::move(op));
        ASSERT_TRUE(id) << p;
        ids[i++] = *id;
    }
    std::vector<bus::v1::Error> errors;
    client.on_broker_error([&](const bus::v1::Error& e) { errors.push_back(e); });
    stop_broker();
    const int conn = play_broker(path, 2);
    ASSERT_GE(conn, 0);
    // Both time out: kept, and the client calls itself connected.
    ASSERT_TRUE(spin_until([&] { return client.state() == ConnectionState::Connected; }));
    EXPECT_EQ(client.subscription_stats().size(), 2u);
    EXPECT_EQ(client.stats().resubscribe_refused, 0u);

    bus::v1::Batch answers;
    answers.add_items()->mutable_ack()->set_ref(ids[0]);
    auto* e = answers.add_items()->mutable_error();
    e->set_ref(ids[1]);
    e->set_code(bus::v1::ERROR_CODE_LIMIT);
    e->set_message("subscription 'events.b.#' refused: broker.max_subscribers (1) reached");
    raw_send(conn, answers);
    ASSERT_TRUE(spin_until([&] { return client.stats().resubscribe_refused == 1; }));
    const auto listed = client.subscription_stats();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].subscription_id, ids[0]);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].ref(), ids[1]);
    EXPECT_EQ(client.state(), ConnectionState::Connected);
}

// Gap counting restarts with each connection: what a source published while the subscriber was
// away was routed to nobody (no copy dropped), so it is no gap. Same broker here: the publisher
// keeps its session and numbering while the subscriber's session is closed and re-opened.
TEST_F(ClientReconnect, WhatWasPublishedWhileDisconnectedIsNoGap) {
    start();
    ClientOptions o = quick_reconnect();
    auto& client = remote("reconnecting", o);
    int received = 0;
    auto op = client.subscribe("events.#", [&](const MessageView&) { ++received; });
    ASSERT_TRUE(run(std::move(op)));
    auto& pub = local("publisher");
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(pub.publish("events.x", "t", bytes_of("x")));
    ASSERT_TRUE(spin_until([&] { return received == 5; }));

    ASSERT_TRUE(broker_->disconnect(client.session_id(), "test"));
    // In the same turn: the subscriber's session is gone, so these reach nobody.
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pub.publish("events.x", "t", bytes_of("x")));
    ASSERT_TRUE(spin_until([&] { return client.stats().reconnects == 1; }));
    ASSERT_TRUE(spin_until([&] { return client.state() == ConnectionState::Connected; }));
    ASSERT_TRUE(pub.publish("events.x", "t", bytes_of("x")));
    ASSERT_TRUE(spin_until([&] { return received == 6; }));

    EXPECT_EQ(broker_->metrics().drops, 0u);
    const auto stats = client.subscription_stats();
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].received, 6u);  // counts carry on across the reconnect
    EXPECT_EQ(stats[0].gaps, 0u);
    EXPECT_EQ(client.stats().gaps, 0u);
}

// A restarted broker numbers sessions from 1 again: a source on it may have an old source's
// session id, its numbers starting afresh. Here it publishes 10 on the old topic before the
// subscriber is back, and the subscriber joins its stream at 11: no gap (the old connection's
// last number, 5, is forgotten).
TEST_F(ClientReconnect, ARestartedBrokersSourcesAreNewStreams) {
    start();
    const BrokerOptions options = broker_->options();
    ClientOptions o = quick_reconnect();
    auto& client = remote("reconnecting", o);  // session 1
    int received = 0;
    auto op = client.subscribe("events.#", [&](const MessageView&) { ++received; });
    ASSERT_TRUE(run(std::move(op)));
    auto& pub = local("publisher");  // session 2
    const auto source = pub.session_id();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(pub.publish("events.x", "t", bytes_of("x")));
    ASSERT_TRUE(spin_until([&] { return received == 5; }));

    stop_broker();
    ASSERT_TRUE(spin_until([&] { return client.state() == ConnectionState::Reconnecting; }));
    broker_ = Broker::create(io_.get_executor(), options).value();
    ASSERT_TRUE(broker_->listen());
    // In this turn, before the client can re-dial: session 1, then the new source as session 2.
    (void)local("other");
    auto& pub2 = local("publisher2");
    ASSERT_EQ(pub2.session_id(), source);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pub2.publish("events.x", "t", bytes_of("x")));
    ASSERT_TRUE(spin_until([&] { return client.state() == ConnectionState::Connected; }));
    ASSERT_TRUE(pub2.publish("events.x", "t", bytes_of("x")));  // number 11
    ASSERT_TRUE(spin_until([&] { return received == 6; }));

    EXPECT_EQ(broker_->metrics().drops, 0u);
    const auto stats = client.subscription_stats();
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].received, 6u);
    EXPECT_EQ(stats[0].gaps, 0u);
}

// A client closed while a re-dial waits for the broker's Welcome stays closed: the Welcome that
// comes after is answered with Goodbye and the connection dropped; no reconnect is counted and
// no state reported after Closed.
TEST_F(ClientReconnect, ClosingDuringAReconnectHandshakeStaysClosed) {
    start();
    const std::string path = broker_->socket_path();
    ClientOptions o = quick_reconnect();
    auto& client = remote("reconnecting", o);
    std::vector<ConnectionState> states;
    client.on_state_change([&](ConnectionState s) { states.push_back(s); });
    stop_broker();

    const int conn = accept_hello(path);
    ASSERT_GE(conn, 0);
    client.close("test closes");
    ASSERT_EQ(client.state(), ConnectionState::Closed);
    welcome(conn);
    auto after = raw_read(
        conn, [](const RawReply&) { return false; }, 300ms);
    EXPECT_TRUE(after.closed);
    EXPECT_EQ(count(after, bus::v1::Envelope::kGoodbye), 1u);
    if (!after.items.empty()) {
        EXPECT_EQ(after.items.back().goodbye().reason(), "test closes");
    }

    EXPECT_EQ(states, (std::vector<ConnectionState>{ConnectionState::Reconnecting,
                                                    ConnectionState::Closed}));
    EXPECT_EQ(client.state(), ConnectionState::Closed);
    EXPECT_EQ(client.stats().reconnects, 0u);
}

// The same with the client destroyed: its state callback (whose owner is gone) is not called.
TEST_F(ClientReconnect, DestroyingDuringAReconnectHandshakeReportsNothingAfter) {
    start();
    const std::string path = broker_->socket_path();
    ClientOptions o = quick_reconnect();
    remote("reconnecting", o);
    std::vector<ConnectionState> states;
    bool destroyed = false;
    int after_destroyed = 0;
    clients_.back()->on_state_change([&](ConnectionState s) {
        states.push_back(s);
        if (destroyed) ++after_destroyed;
    });
    stop_broker();

    const int conn = accept_hello(path);
    ASSERT_GE(conn, 0);
    clients_.pop_back();  // ~BusClient
    destroyed = true;
    welcome(conn);
    auto after = raw_read(
        conn, [](const RawReply&) { return false; }, 300ms);
    EXPECT_TRUE(after.closed);
    EXPECT_EQ(count(after, bus::v1::Envelope::kGoodbye), 1u);
    EXPECT_EQ(after_destroyed, 0) << states.size() << " states reported in all";
}

// A completion run by the loss of the connection (here a pending call's, failed at once) that
// closes the client: it stays closed, not Reconnecting after Closed, and does not re-dial.
TEST_F(ClientReconnect, ClosingFromACompletionFailedByTheDisconnectStaysClosed) {
    start();
    ClientOptions o = quick_reconnect();
    auto& client = remote("reconnecting", o);
    std::vector<ConnectionState> states;
    client.on_state_change([&](ConnectionState s) { states.push_back(s); });
    std::optional<Result<rpcv1::RpcResponse, RpcError>> result;
    client.async_call(RpcRequest::health_check("reconnecting", "control.nobody", 5s), 5s,
                      [&](Result<rpcv1::RpcResponse, RpcError> r) {
                          result = std::move(r);
                          client.close("closed by a completion");
                      });
    // In the same turn: the broker never reads the request, so the call is pending until the
    // client sees the connection end.
    ASSERT_TRUE(broker_->disconnect(client.session_id(), "test"));
    const auto sessions = broker_->metrics().sessions_total;
    ASSERT_TRUE(spin_until([&] { return result.has_value(); }));
    ASSERT_FALSE(*result);
    EXPECT_EQ(result->error().code, rpcv1::ERROR_CODE_COMMUNICATION_ERROR);
    spin(200ms);  // 10 ms is the first re-dial's delay

    EXPECT_EQ(states, std::vector<ConnectionState>{ConnectionState::Closed});
    EXPECT_EQ(client.state(), ConnectionState::Closed);
    EXPECT_EQ(broker_->metrics().sessions_total, sessions);
    EXPECT_EQ(client.stats().reconnects, 0u);
    EXPECT_TRUE(attempts().empty());
    const auto lines = client_lines();
    const auto disconnects = std::count_if(lines.begin(), lines.end(), [](const auto& l) {
        return l.text.find("disconnected:") != std::string::npos;
    });
    EXPECT_EQ(disconnects, 2) << "the connection's loss and the close, nothing after";
}

}  // namespace
}  // namespace daemoneye::eventbus
