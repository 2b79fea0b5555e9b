// Unsubscribe and Goodbye, in-process and over the socket: after an unsubscribe the broker stops
// routing to that subscription (the client drops deliveries for ids it no longer knows, so the
// broker's counters are what tell), unknown ids are NotFound, and a Goodbye ends the session and
// gives its subscriptions back to max_subscribers.
#include <algorithm>
#include <map>

#include "bus_test_loop.hpp"

namespace daemoneye::eventbus {
namespace {

using test::bytes_of;
using namespace std::chrono_literals;

const SessionStats* find_session(const std::vector<SessionStats>& all, std::uint64_t id) {
    auto it =
        std::find_if(all.begin(), all.end(), [&](const auto& s) { return s.session_id == id; });
    return it == all.end() ? nullptr : &*it;
}

std::vector<std::string> patterns_of(Broker& broker, std::uint64_t session) {
    std::vector<std::string> out;
    const auto all = broker.sessions();
    if (const auto* s = find_session(all, session)) {
        for (const auto& sub : s->subscriptions) out.push_back(sub.pattern);
    }
    std::sort(out.begin(), out.end());
    return out;
}

class UnsubscribeGoodbye : public test::BusTestLoop {
  protected:
    // Subscribes `c` to "events.#" and "events.test.+", publishes events.test.x from `pub` before
    // and after unsubscribing each in turn, and checks what the broker routed.
    void unsubscribe_stops_routing(BusClient& sub, BusClient& pub) {
        std::map<std::uint64_t, int> calls;  // by subscription id
        MessageHandler h = [&](const MessageView& m) { ++calls[m.subscription_id()]; };
        auto wide_op = sub.subscribe("events.#", h);
        auto wide = run(std::move(wide_op));
        ASSERT_TRUE(wide) << wide.error().message;
        auto narrow_op = sub.subscribe("events.test.+", h);
        auto narrow = run(std::move(narrow_op));
        ASSERT_TRUE(narrow) << narrow.error().message;
        EXPECT_EQ(patterns_of(*broker_, sub.session_id()),
                  (std::vector<std::string>{"events.#", "events.test.+"}));

        // `pub` is in-process: the broker routes inside publish(), so its counters are final
        // when publish() returns; the socket subscriber's copy then arrives through the loop.
        auto publish_and_settle = [&](std::uint64_t want_received) {
            const auto deliveries = broker_->metrics().deliveries;
            ASSERT_TRUE(pub.publish("events.test.x", "t", bytes_of("x")));
            EXPECT_EQ(broker_->metrics().deliveries - deliveries, 1u);  // one per session
            ASSERT_TRUE(spin_until([&] { return sub.stats().received >= want_received; }));
            spin(20ms);
            EXPECT_EQ(sub.stats().received, want_received);
        };

        publish_and_settle(1);
        EXPECT_EQ(calls[*wide], 1);
        EXPECT_EQ(calls[*narrow], 1);

        auto un_op = sub.unsubscribe(*wide);
        auto un = run(std::move(un_op));
        ASSERT_TRUE(un) << un.error().message;
        EXPECT_EQ(patterns_of(*broker_, sub.session_id()),
                  std::vector<std::string>{"events.test.+"});
        // The same topic from the same publisher: the broker's cached route must not survive.
        publish_and_settle(2);
        EXPECT_EQ(calls[*wide], 1);
        EXPECT_EQ(calls[*narrow], 2);

        auto un2_op = sub.unsubscribe(*narrow);
        ASSERT_TRUE(run(std::move(un2_op)));
        EXPECT_TRUE(patterns_of(*broker_, sub.session_id()).empty());
        const auto deliveries = broker_->metrics().deliveries;
        ASSERT_TRUE(pub.publish("events.test.x", "t", bytes_of("x")));
        spin(50ms);
        EXPECT_EQ(broker_->metrics().deliveries, deliveries);  // routed to nobody
        EXPECT_EQ(sub.stats().received, 2u);
        EXPECT_EQ(calls[*narrow], 2);

        // Unsubscribing again, or an id never used: NotFound.
        for (std::uint64_t id : {*wide, std::uint64_t{424242}}) {
            auto again_op = sub.unsubscribe(id);
            auto again = run(std::move(again_op));
            ASSERT_FALSE(again) << id;
            EXPECT_EQ(again.error().code, BusError::Code::NotFound) << again.error().message;
            EXPECT_NE(again.error().message.find(std::to_string(id)), std::string::npos)
                << again.error().message;
        }
    }
};

TEST_F(UnsubscribeGoodbye, InProcessUnsubscribeStopsRoutingAndUnknownIdsAreNotFound) {
    start();
    auto& sub = local("sub");
    auto& pub = local("pub");
    unsubscribe_stops_routing(sub, pub);
    EXPECT_EQ(broker_->metrics().subscriptions, 0u);
}

TEST_F(UnsubscribeGoodbye, SocketUnsubscribeStopsRoutingAndUnknownIdsAreNotFound) {
    start();
    auto& sub = remote("sub");
    auto& pub = local("pub");
    unsubscribe_stops_routing(sub, pub);
    EXPECT_EQ(broker_->metrics().subscriptions, 0u);
}

// The client library answers unknown ids itself; the broker's own answer, from a raw session.
TEST_F(UnsubscribeGoodbye, TheBrokerAnswersAnUnknownUnsubscribeNotFoundAndCarriesOn) {
    start();
    const int fd = raw_connect();
    bus::v1::Batch b = hello_batch("raw-unsub");
    b.add_items()->mutable_unsubscribe()->set_subscription_id(77);
    auto* s = b.add_items()->mutable_subscribe();
    s->set_subscription_id(5);
    s->set_pattern("events.#");
    b.add_items()->mutable_unsubscribe()->set_subscription_id(5);
    b.add_items()->mutable_unsubscribe()->set_subscription_id(5);
    b.add_items()->mutable_heartbeat()->set_sequence(9);
    raw_send(fd, b);
    auto r = raw_read(fd, [](const RawReply& r) {
        return std::any_of(r.items.begin(), r.items.end(),
                           [](const auto& e) { return e.has_heartbeat(); });
    });
    ASSERT_FALSE(r.closed);
    std::vector<std::string> seen;
    for (const auto& e : r.items) {
        if (e.has_welcome()) seen.push_back("welcome");
        if (e.has_ack()) seen.push_back("ack " + std::to_string(e.ack().ref()));
        if (e.has_error()) {
            seen.push_back("error " + std::to_string(e.error().ref()) + " " +
                           std::to_string(e.error().code()) + " " + e.error().message());
        }
        if (e.has_heartbeat()) seen.push_back("heartbeat");
    }
    const std::string nf = std::to_string(bus::v1::ERROR_CODE_NOT_FOUND);
    EXPECT_EQ(seen,
              (std::vector<std::string>{
                  "welcome", "error 77 " + nf + " unsubscribe: no subscription 77", "ack 5",
                  "ack 5", "error 5 " + nf + " unsubscribe: no subscription 5", "heartbeat"}));
    EXPECT_EQ(broker_->metrics().subscriptions, 0u);
}

TEST_F(UnsubscribeGoodbye, ASocketClientsGoodbyeEndsItsSessionAndFreesItsSubscriptions) {
    BrokerOptions o;
    o.max_subscribers = 2;
    start(o);
    std::vector<SessionEvent> closed;
    broker_->on_session_closed([&](const SessionEvent& e) { closed.push_back(e); });
    auto& leaver = remote("leaver");
    const auto leaver_id = leaver.session_id();
    auto ignore = [](const MessageView&) {};
    for (const char* p : {"events.#", "control.#"}) {
        auto op = leaver.subscribe(p, ignore);
        ASSERT_TRUE(run(std::move(op))) << p;
    }
    auto& other = local("other");
    {
        auto op = other.subscribe("events.#", ignore);
        auto full = run(std::move(op));
        ASSERT_FALSE(full);
        EXPECT_EQ(full.error().code, BusError::Code::Limit);
    }
    const auto active = broker_->metrics().sessions_active;
    ASSERT_NE(find_session(broker_->sessions(), leaver_id), nullptr);

    leaver.close("done for today");
    ASSERT_TRUE(spin_until([&] { return !closed.empty(); }));
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].session_id, leaver_id);
    EXPECT_EQ(closed[0].reason, "goodbye: done for today");
    EXPECT_EQ(closed[0].transport, "socket");
    EXPECT_EQ(find_session(broker_->sessions(), leaver_id), nullptr);
    EXPECT_EQ(broker_->metrics().sessions_active, active - 1);
    EXPECT_EQ(broker_->metrics().subscriptions, 0u);
    for (const char* p : {"events.#", "control.#"}) {
        auto op = other.subscribe(p, ignore);
        auto ok = run(std::move(op));
        EXPECT_TRUE(ok) << p << ": " << ok.error().message;
    }
}

// The broker ends the session on the Goodbye itself, not on the end of the stream after it: the
// raw client keeps its end open and sees the broker close.
TEST_F(UnsubscribeGoodbye, ARawGoodbyeMakesTheBrokerCloseTheConnection) {
    BrokerOptions o;
    o.max_subscribers = 1;
    start(o);
    std::vector<SessionEvent> closed;
    broker_->on_session_closed([&](const SessionEvent& e) { closed.push_back(e); });
    const int fd = raw_connect();
    bus::v1::Batch b = hello_batch("raw-leaver");
    auto* s = b.add_items()->mutable_subscribe();
    s->set_subscription_id(1);
    s->set_pattern("events.#");
    raw_send(fd, b);
    auto acked = raw_read(fd, [](const RawReply& r) {
        return std::any_of(r.items.begin(), r.items.end(),
                           [](const auto& e) { return e.has_ack(); });
    });
    ASSERT_FALSE(acked.closed);
    EXPECT_EQ(broker_->metrics().subscriptions, 1u);

    bus::v1::Batch bye;
    bye.add_items()->mutable_goodbye()->set_reason("raw bye");
    raw_send(fd, bye);
    auto after = raw_read(fd, [](const RawReply&) { return false; });
    EXPECT_TRUE(after.closed);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].reason, "goodbye: raw bye");
    EXPECT_EQ(closed[0].name, "raw-leaver");
    EXPECT_TRUE(broker_->sessions().empty());
    EXPECT_EQ(broker_->metrics().subscriptions, 0u);
    auto& other = local("other");
    auto op = other.subscribe("events.#", [](const MessageView&) {});
    EXPECT_TRUE(run(std::move(op)));
}

// An in-process client has no Goodbye frame to send: close() ends its session directly, reported
// like a socket client's Goodbye ("goodbye: <reason>"), and frees its subscriptions the same way.
TEST_F(UnsubscribeGoodbye, AnInProcessClientsCloseEndsItsSessionAndFreesItsSubscriptions) {
    BrokerOptions o;
    o.max_subscribers = 1;
    start(o);
    std::vector<SessionEvent> closed;
    broker_->on_session_closed([&](const SessionEvent& e) { closed.push_back(e); });
    auto& leaver = local("leaver");
    const auto id = leaver.session_id();
    auto op = leaver.subscribe("events.#", [](const MessageView&) {});
    ASSERT_TRUE(run(std::move(op)));
    leaver.close("component stopped");
    EXPECT_EQ(leaver.state(), ConnectionState::Closed);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].session_id, id);
    EXPECT_EQ(closed[0].reason, "goodbye: component stopped");  // as a socket client's Goodbye
    EXPECT_EQ(find_session(broker_->sessions(), id), nullptr);
    EXPECT_EQ(broker_->metrics().subscriptions, 0u);
    auto& other = local("other");
    auto op2 = other.subscribe("events.#", [](const MessageView&) {});
    EXPECT_TRUE(run(std::move(op2)));
}

}  // namespace
}  // namespace daemoneye::eventbus
