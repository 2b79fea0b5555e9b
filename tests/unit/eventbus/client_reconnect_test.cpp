// A socket client's reconnect loop (remote_transport.cpp), observed from outside (the delay
// computation itself is checked directly in reconnect_backoff_test.cpp; here it runs with the
// transport's private, time-seeded generator). What can be checked without timing guesses: attempts
// stop at max_attempts and the client ends Closed; each wait is at least the policy's delay (timers
// do not fire early), so growth shows as lower bounds; the cap shows as a total far below what
// uncapped growth would take; and a client re-subscribes when the broker comes back.
#include <mutex>
#include <regex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "bus_test_loop.hpp"

namespace daemoneye::eventbus {
namespace {

using namespace std::chrono_literals;
using test::bytes_of;
using Clock = std::chrono::steady_clock;

// Keeps the time of every log line that mentions `needle`.
class TimingSink : public spdlog::sinks::base_sink<std::mutex> {
  public:
    struct Line {
        Clock::time_point at;
        std::string text;
    };
    std::vector<Line> lines;

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::string text(msg.payload.data(), msg.payload.size());
        if (text.find("eventbus client 'reconnecting'") != std::string::npos) {
            lines.push_back({Clock::now(), std::move(text)});
        }
    }
    void flush_() override {}
};

class ClientReconnect : public test::BusTestLoop {
  protected:
    void SetUp() override {
        previous_ = spdlog::default_logger();
        sink_ = std::make_shared<TimingSink>();
        auto logger = std::make_shared<spdlog::logger>("reconnect-test", sink_);
        logger->set_level(spdlog::level::info);
        spdlog::set_default_logger(logger);
    }
    void TearDown() override {
        test::BusTestLoop::TearDown();
        for (auto& b : retired_) b->stop();
        spin(20ms);
        retired_.clear();
        spdlog::set_default_logger(previous_);
    }
    // Stops the broker; its socket file goes with it, so every re-dial fails at once (ENOENT).
    void stop_broker() {
        broker_->stop();
        retired_.push_back(std::move(broker_));
    }
    std::vector<Clock::time_point> attempts() const {
        std::vector<Clock::time_point> out;
        for (const auto& l : sink_->lines) {
            if (l.text.find("reconnect attempt") != std::string::npos) out.push_back(l.at);
        }
        return out;
    }
    std::optional<Clock::time_point> disconnected_at() const {
        for (const auto& l : sink_->lines) {
            if (l.text.find("disconnected:") != std::string::npos &&
                l.text.find("(reconnecting)") != std::string::npos) {
                return l.at;
            }
        }
        return std::nullopt;
    }

    std::shared_ptr<spdlog::logger> previous_;
    std::shared_ptr<TimingSink> sink_;
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
    ClientOptions o;
    o.reconnect.initial = 10ms;
    o.reconnect.max = 50ms;
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

}  // namespace
}  // namespace daemoneye::eventbus
