// Unsubscribe and Goodbye, in-process and over the socket: after an unsubscribe the broker stops
// routing to that subscription (the client drops deliveries for ids it no longer knows, so the
// broker's counters are what tell), unknown ids are NotFound, and a Goodbye ends the session and
// gives its subscriptions back to max_subscribers.
#include <algorithm>
#include <map>

#include "bus_test_loop.hpp"

namespace daemoneye::eventbus {
namespace {

namespace asio = boost::asio;
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

// --- unsubscribe against a broker this test plays ----------------------------------------------
// The client forgets a subscription only when the broker acknowledges the Unsubscribe. A real
// broker refuses one only when it holds no such subscription; what a client does with any
// refusal, and with deliveries that arrive while it waits, needs a broker that answers as told.
class UnsubscribeAnswered : public test::BusTestLoop {
  protected:
    // A socket client (connect_fd) whose broker is this test, on broker_fd_.
    BusClient& connect_to_test() {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        broker_fd_ = sv[0];
        raw_.push_back(sv[0]);
        bus::v1::Batch welcome;  // read by the client once its Hello is out
        auto* w = welcome.add_items()->mutable_welcome();
        w->set_session_id(7);
        w->set_reply_topic(reply_topic(7));
        w->set_max_frame_bytes(1 << 20);
        w->set_protocol_version(kProtocolVersion);
        raw_send(broker_fd_, welcome);
        ClientOptions o;
        o.client_name = "unsubscriber";
        auto op = BusClient::connect_fd(io_.get_executor(), sv[1], o);
        auto c = run(std::move(op));
        if (!c) throw std::runtime_error("connect_fd: " + c.error().message);
        clients_.push_back(std::move(*c));
        return *clients_.back();
    }

    // Starts `a` on the loop; the result lands in the returned slot.
    template <class T>
    std::shared_ptr<std::optional<T>> start_op(asio::awaitable<T> a) {
        auto out = std::make_shared<std::optional<T>>();
        asio::co_spawn(
            io_,
            [out, a = std::move(a)]() mutable -> asio::awaitable<void> {
                out->emplace(co_await std::move(a));
            },
            asio::detached);
        return out;
    }

    // Spins until the client's next control message of this kind reaches the test broker.
    bus::v1::Envelope next_from_client(bus::v1::Envelope::BodyCase kind) {
        auto r = raw_read(broker_fd_, [&](const RawReply& r) {
            return std::any_of(r.items.begin(), r.items.end(),
                               [&](const auto& e) { return e.body_case() == kind; });
        });
        for (auto& e : r.items) {
            if (e.body_case() == kind) return e;
        }
        ADD_FAILURE() << "the client sent no " << static_cast<int>(kind);
        return {};
    }

    static void add_deliver(bus::v1::Batch& b, std::uint64_t subscription_id) {
        auto* d = b.add_items()->mutable_deliver();
        d->mutable_message()->set_topic("events.a");
        d->mutable_message()->set_source_session(9);
        d->add_subscription_ids(subscription_id);
    }
    static void add_ack(bus::v1::Batch& b, std::uint64_t ref) {
        b.add_items()->mutable_ack()->set_ref(ref);
    }
    static void add_error(bus::v1::Batch& b, std::uint64_t ref, bus::v1::ErrorCode code,
                          const std::string& message) {
        auto* e = b.add_items()->mutable_error();
        e->set_ref(ref);
        e->set_code(code);
        e->set_message(message);
    }

    // Subscribes `c` to events.a (acknowledged by the test broker); handler calls in `calls`.
    std::uint64_t subscribe(BusClient& c, int& calls) {
        MessageHandler handler = [&calls](const MessageView&) { ++calls; };
        auto op = start_op(c.subscribe("events.a", std::move(handler)));
        const auto sub = next_from_client(bus::v1::Envelope::kSubscribe);
        bus::v1::Batch ack;
        add_ack(ack, sub.subscribe().subscription_id());
        raw_send(broker_fd_, ack);
        EXPECT_TRUE(spin_until([&] { return op->has_value(); }));
        EXPECT_TRUE(**op);
        return sub.subscribe().subscription_id();
    }

    // Sends one Deliver for `id` and spins until the client has read it.
    void deliver(BusClient& c, std::uint64_t id) {
        const auto before = c.stats().received;
        bus::v1::Batch b;
        add_deliver(b, id);
        raw_send(broker_fd_, b);
        EXPECT_TRUE(spin_until([&] { return c.stats().received > before; }));
    }

    int broker_fd_ = -1;
};

// Refused: the error is the broker's, and the subscription stays active. Deliveries that arrive
// while the client waits for the answer are dispatched (it is subscribed until the broker says
// otherwise), and are not errors.
TEST_F(UnsubscribeAnswered, ARefusedUnsubscribeKeepsTheSubscriptionActive) {
    auto& c = connect_to_test();
    int calls = 0;
    const auto id = subscribe(c, calls);

    auto un = start_op(c.unsubscribe(id));
    const auto sent = next_from_client(bus::v1::Envelope::kUnsubscribe);
    EXPECT_EQ(sent.unsubscribe().subscription_id(), id);
    bus::v1::Batch answer;
    add_deliver(answer, id);  // routed before the broker read the Unsubscribe
    add_error(answer, id, bus::v1::ERROR_CODE_DENIED, "unsubscribe refused: not today");
    raw_send(broker_fd_, answer);
    ASSERT_TRUE(spin_until([&] { return un->has_value(); }));
    ASSERT_FALSE(**un);
    EXPECT_EQ((*un)->error().code, BusError::Code::Denied);
    EXPECT_EQ((*un)->error().message, "unsubscribe refused: not today");
    EXPECT_EQ(calls, 1);

    const auto subs = c.subscription_stats();
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_EQ(subs[0].subscription_id, id);
    deliver(c, id);  // still active
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(c.state(), ConnectionState::Connected);

    // Acknowledged this time: forgotten, and nothing for it is dispatched afterwards.
    auto again = start_op(c.unsubscribe(id));
    (void)next_from_client(bus::v1::Envelope::kUnsubscribe);
    bus::v1::Batch ack;
    add_deliver(ack, id);  // still in flight: dispatched
    add_ack(ack, id);
    add_deliver(ack, id);  // after the Ack: dropped, silently
    raw_send(broker_fd_, ack);
    ASSERT_TRUE(spin_until([&] { return again->has_value(); }));
    ASSERT_TRUE(**again) << (*again)->error().message;
    ASSERT_TRUE(spin_until([&] { return c.stats().received == 4; }));
    EXPECT_EQ(calls, 3);
    EXPECT_TRUE(c.subscription_stats().empty());
    deliver(c, id);
    EXPECT_EQ(calls, 3);
    const auto st = c.stats();
    EXPECT_EQ(st.received_malformed, 0u);
    EXPECT_EQ(st.gaps, 0u);
    EXPECT_EQ(st.errors_from_broker, 1u);  // the refusal; nothing about the deliveries
}

// NotFound: the broker holds no such subscription. The caller gets the broker's error, and the
// client forgets it too (else it could never be removed, and a reconnect would send it again).
TEST_F(UnsubscribeAnswered, NotFoundFromTheBrokerIsReturnedAndTheSubscriptionForgotten) {
    auto& c = connect_to_test();
    int calls = 0;
    const auto id = subscribe(c, calls);
    auto un = start_op(c.unsubscribe(id));
    (void)next_from_client(bus::v1::Envelope::kUnsubscribe);
    bus::v1::Batch answer;
    add_error(answer, id, bus::v1::ERROR_CODE_NOT_FOUND,
              "unsubscribe: no subscription " + std::to_string(id));
    raw_send(broker_fd_, answer);
    ASSERT_TRUE(spin_until([&] { return un->has_value(); }));
    ASSERT_FALSE(**un);
    EXPECT_EQ((*un)->error().code, BusError::Code::NotFound);
    EXPECT_EQ((*un)->error().message, "unsubscribe: no subscription " + std::to_string(id));
    EXPECT_TRUE(c.subscription_stats().empty());
}

// The connection ends before the answer: the broker's session took the subscription with it, so
// the client forgets it and the unsubscribe succeeds (as it does when called while disconnected).
TEST_F(UnsubscribeAnswered, AConnectionLostBeforeTheAnswerEndsTheSubscriptionToo) {
    auto& c = connect_to_test();
    int calls = 0;
    const auto id = subscribe(c, calls);
    auto un = start_op(c.unsubscribe(id));
    (void)next_from_client(bus::v1::Envelope::kUnsubscribe);
    ::shutdown(broker_fd_, SHUT_RDWR);
    ASSERT_TRUE(spin_until([&] { return un->has_value(); }));
    EXPECT_TRUE(**un) << (*un)->error().message;
    EXPECT_TRUE(c.subscription_stats().empty());
    EXPECT_EQ(c.state(), ConnectionState::Closed);  // a socketpair is not re-dialled
}

}  // namespace
}  // namespace daemoneye::eventbus
