// A subscribe() or serve() whose Ack does not come within ack_timeout fails Timeout and the
// client forgets the subscription; the broker may still take it. Played here by the test on the
// other end of a socketpair (BusClient::connect_fd): it welcomes the client, lets the wait time
// out and answers afterwards. A late Ack must be undone with an Unsubscribe for that id (else
// the broker keeps a subscription that counts against max_subscribers and whose deliveries the
// client drops); a late refusal needs nothing. Neither is an error: both are counted in
// ClientStats::late_acks and logged at info, not reported through on_broker_error.
#include <algorithm>

#include "bus_test_loop.hpp"
#include "log_capture.hpp"

namespace daemoneye::eventbus {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Kind = bus::v1::Envelope::BodyCase;

class ClientLateAck : public test::BusTestLoop {
  protected:
    void TearDown() override {
        test::BusTestLoop::TearDown();
        log_.reset();  // after the clients' last lines
    }

    // A client on one end of a socketpair; the test is the broker on the other (peer_).
    BusClient& played_client() {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            throw std::runtime_error("socketpair failed");
        }
        peer_ = sv[1];
        raw_.push_back(peer_);
        ClientOptions o;
        o.client_name = "late";
        // Long enough for round_trip() to answer in time on a loaded machine (it answers within
        // a few ms), short enough for the waits timed_out() lets expire.
        o.ack_timeout = 500ms;
        std::optional<Result<std::unique_ptr<BusClient>, BusError>> out;
        asio::co_spawn(
            io_,
            [&out, fd = sv[0], o, ex = io_.get_executor()]() -> asio::awaitable<void> {
                auto op = BusClient::connect_fd(ex, fd, o);
                out.emplace(co_await std::move(op));
            },
            asio::detached);
        auto hello = read_until(Kind::kHello);
        if (count(hello, Kind::kHello) != 1) throw std::runtime_error("no Hello");
        bus::v1::Batch welcome;
        auto* w = welcome.add_items()->mutable_welcome();
        w->set_session_id(1);
        w->set_max_frame_bytes(1 << 20);
        w->set_protocol_version(kProtocolVersion);
        raw_send(peer_, welcome);
        if (!spin_until([&] { return out.has_value(); }) || !*out) {
            throw std::runtime_error("connect_fd failed");
        }
        clients_.push_back(std::move(**out));
        auto& c = *clients_.back();
        c.on_broker_error([this](const bus::v1::Error& e) { broker_errors_.push_back(e); });
        return c;
    }

    // What the client sends, until it has sent a `kind`.
    RawReply read_until(Kind kind) {
        return raw_read(peer_, [&](const RawReply& r) { return count(r, kind) > 0; });
    }
    static std::size_t count(const RawReply& r, Kind kind) {
        return static_cast<std::size_t>(std::count_if(
            r.items.begin(), r.items.end(), [&](const auto& e) { return e.body_case() == kind; }));
    }

    void answer_ack(std::uint64_t ref) {
        bus::v1::Batch b;
        b.add_items()->mutable_ack()->set_ref(ref);
        raw_send(peer_, b);
    }
    void answer_error(std::uint64_t ref, bus::v1::ErrorCode code, const std::string& message) {
        bus::v1::Batch b;
        auto* e = b.add_items()->mutable_error();
        e->set_ref(ref);
        e->set_code(code);
        e->set_message(message);
        raw_send(peer_, b);
    }

    // subscribe() or serve() to `pattern`, left unanswered until it fails Timeout; the id the
    // client sent.
    std::uint64_t timed_out(BusClient& c, const std::string& pattern, bool serve) {
        Result<std::uint64_t, BusError> r = unexpected(BusError{});
        if (serve) {
            RpcHandler h = [](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
                co_return rpc_ok();
            };
            auto op = c.serve(pattern, std::move(h));
            r = run(std::move(op));
        } else {
            auto op = c.subscribe(pattern, [](const MessageView&) {});
            r = run(std::move(op));
        }
        EXPECT_FALSE(r);
        if (!r) {
            EXPECT_EQ(r.error().code, BusError::Code::Timeout) << r.error().message;
        }
        EXPECT_FALSE(holds(c, pattern));
        auto sent = read_until(Kind::kSubscribe);
        EXPECT_EQ(count(sent, Kind::kSubscribe), 1u);
        for (const auto& e : sent.items) {
            if (!e.has_subscribe()) continue;
            EXPECT_EQ(e.subscribe().pattern(), pattern);
            EXPECT_EQ(e.subscribe().rpc_server(), serve);
            return e.subscribe().subscription_id();
        }
        return 0;
    }

    // A subscribe answered in time: the client is alive, and has sent everything before it.
    // Returns what it sent up to and including that Subscribe.
    RawReply round_trip(BusClient& c, const std::string& pattern) {
        std::optional<Result<std::uint64_t, BusError>> out;
        asio::co_spawn(
            io_,
            [&out, &c, pattern]() -> asio::awaitable<void> {
                auto op = c.subscribe(pattern, [](const MessageView&) {});
                out.emplace(co_await std::move(op));
            },
            asio::detached);
        auto sent = read_until(Kind::kSubscribe);
        for (const auto& e : sent.items) {
            if (e.has_subscribe() && e.subscribe().pattern() == pattern) {
                answer_ack(e.subscribe().subscription_id());
            }
        }
        EXPECT_TRUE(spin_until([&] { return out.has_value(); }));
        if (out) {
            EXPECT_TRUE(*out) << out->error().message;
        }
        return sent;
    }

    static bool holds(const BusClient& c, const std::string& pattern) {
        const auto subs = c.subscription_stats();
        return std::any_of(subs.begin(), subs.end(),
                           [&](const auto& s) { return s.pattern == pattern; });
    }
    bool logged(spdlog::level::level_enum level, const std::string& needle) const {
        return std::any_of(log_->lines().begin(), log_->lines().end(), [&](const auto& l) {
            return l.level == level && l.text.find(needle) != std::string::npos;
        });
    }
    bool logged_at_least(spdlog::level::level_enum level, const std::string& needle) const {
        return std::any_of(log_->lines().begin(), log_->lines().end(), [&](const auto& l) {
            return l.level >= level && l.text.find(needle) != std::string::npos;
        });
    }

    int peer_ = -1;
    std::vector<bus::v1::Error> broker_errors_;
    std::unique_ptr<test::LogCapture> log_ = std::make_unique<test::LogCapture>();
};

TEST_F(ClientLateAck, ALateAckOfATimedOutSubscribeOrServeIsUndoneWithAnUnsubscribe) {
    auto& c = played_client();
    std::uint64_t expected_late = 0;
    for (const bool serve : {false, true}) {
        SCOPED_TRACE(serve ? "serve" : "subscribe");
        const std::string pattern = serve ? "control.late.server" : "events.late.#";
        const auto id = timed_out(c, pattern, serve);
        ASSERT_NE(id, 0u);

        answer_ack(id);
        auto sent = read_until(Kind::kUnsubscribe);
        ASSERT_EQ(count(sent, Kind::kUnsubscribe), 1u);
        for (const auto& e : sent.items) {
            if (e.has_unsubscribe()) {
                EXPECT_EQ(e.unsubscribe().subscription_id(), id);
            }
        }
        EXPECT_EQ(c.stats().late_acks, ++expected_late);
        EXPECT_TRUE(logged(spdlog::level::info, "'" + pattern + "'")) << pattern;
        EXPECT_FALSE(holds(c, pattern));  // still forgotten

        // The broker answers the Unsubscribe: nothing to report.
        answer_ack(id);
        round_trip(c, serve ? "events.after.serve" : "events.after.subscribe");
    }
    EXPECT_EQ(c.stats().errors_from_broker, 0u);
    EXPECT_TRUE(broker_errors_.empty());
    EXPECT_FALSE(logged_at_least(spdlog::level::warn, "broker error"));
}

// The broker refuses the Unsubscribe that undoes a late Ack (it dropped the subscription
// meanwhile): the client asked for that outcome, so it is no error either.
TEST_F(ClientLateAck, ARefusedUndoIsNotReportedAsABrokerError) {
    auto& c = played_client();
    const auto id = timed_out(c, "events.undo.#", false);
    ASSERT_NE(id, 0u);
    answer_ack(id);
    auto sent = read_until(Kind::kUnsubscribe);
    ASSERT_EQ(count(sent, Kind::kUnsubscribe), 1u);
    answer_error(id, bus::v1::ERROR_CODE_NOT_FOUND,
                 "unsubscribe: no subscription " + std::to_string(id));
    round_trip(c, "events.after");
    EXPECT_EQ(c.stats().late_acks, 1u);
    EXPECT_EQ(c.stats().errors_from_broker, 0u);
    EXPECT_TRUE(broker_errors_.empty());
    EXPECT_FALSE(logged_at_least(spdlog::level::warn, "no subscription"));
}

// A late refusal: the broker holds nothing, so nothing is undone (no Unsubscribe before the next
// Subscribe the client sends); counted as late, not as an error.
TEST_F(ClientLateAck, ALateRefusalIsCountedButNeitherUndoneNorReportedAsAnError) {
    auto& c = played_client();
    const auto id = timed_out(c, "events.refused.#", false);
    ASSERT_NE(id, 0u);
    answer_error(id, bus::v1::ERROR_CODE_LIMIT,
                 "subscription 'events.refused.#' refused: broker.max_subscribers (1) reached");
    ASSERT_TRUE(spin_until([&] { return c.stats().late_acks == 1; }));
    auto sent = round_trip(c, "events.after");
    EXPECT_EQ(count(sent, Kind::kUnsubscribe), 0u);
    EXPECT_EQ(c.stats().errors_from_broker, 0u);
    EXPECT_TRUE(broker_errors_.empty());
    EXPECT_TRUE(logged(spdlog::level::info, "'events.refused.#'"));
    EXPECT_FALSE(logged_at_least(spdlog::level::warn, "max_subscribers"));
}

// An unsubscribe() that timed out keeps the subscription (the broker may still route to it);
// the broker's late Ack then means it no longer does, so the client forgets it too instead of
// listing it and re-sending it on the next reconnect.
TEST_F(ClientLateAck, ALateAckOfATimedOutUnsubscribeForgetsTheSubscription) {
    auto& c = played_client();
    auto sent = round_trip(c, "events.going.#");
    std::uint64_t id = 0;
    for (const auto& e : sent.items) {
        if (e.has_subscribe()) id = e.subscribe().subscription_id();
    }
    ASSERT_NE(id, 0u);
    auto op = c.unsubscribe(id);
    auto r = run(std::move(op));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, BusError::Code::Timeout) << r.error().message;
    EXPECT_TRUE(holds(c, "events.going.#"));  // not confirmed: still active
    ASSERT_EQ(count(read_until(Kind::kUnsubscribe), Kind::kUnsubscribe), 1u);

    answer_ack(id);
    ASSERT_TRUE(spin_until([&] { return c.stats().late_acks == 1; }));
    EXPECT_FALSE(holds(c, "events.going.#"));
    EXPECT_TRUE(logged(spdlog::level::info, "unsubscribing " + std::to_string(id)));
    EXPECT_EQ(c.stats().errors_from_broker, 0u);
    EXPECT_TRUE(broker_errors_.empty());
}

}  // namespace
}  // namespace daemoneye::eventbus
