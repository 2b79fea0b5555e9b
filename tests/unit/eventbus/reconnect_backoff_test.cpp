// The reconnect policy (reconnect_backoff.hpp), without a clock: the delay before each attempt
// (growth, cap, jitter range) for given random values, which policies are refused, and that
// BusClient::connect / connect_fd refuse them before dialling.
#include "reconnect_backoff.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "daemoneye/eventbus/bus_client.hpp"

namespace daemoneye::eventbus {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

ReconnectPolicy policy(ms initial, ms max, double multiplier, double jitter) {
    ReconnectPolicy p;
    p.initial = initial;
    p.max = max;
    p.multiplier = multiplier;
    p.jitter = jitter;
    return p;
}

TEST(ReconnectBackoff, DelaysGrowByTheMultiplierUntilTheCap) {
    const auto p = policy(100ms, 10000ms, 2.0, 0.0);
    const ms want[] = {100ms,  200ms,  400ms,   800ms,   1600ms,
                       3200ms, 6400ms, 10000ms, 10000ms, 10000ms};
    for (std::size_t attempt = 1; attempt <= std::size(want); ++attempt) {
        EXPECT_EQ(reconnect_delay(attempt, p, 0.5), want[attempt - 1]) << "attempt " << attempt;
    }
    // Attempt 0 (not used by the transport) is treated as the first.
    EXPECT_EQ(reconnect_delay(0, p, 0.5), 100ms);
    // A fractional multiplier grows too (100 x 1.5^n, truncated to whole ms).
    const auto q = policy(100ms, 1000ms, 1.5, 0.0);
    EXPECT_EQ(reconnect_delay(2, q, 0.0), 150ms);
    EXPECT_EQ(reconnect_delay(3, q, 0.0), 225ms);
    EXPECT_EQ(reconnect_delay(4, q, 0.0), 337ms);
    EXPECT_EQ(reconnect_delay(7, q, 0.0), 1000ms);  // 1139 capped
    // Multiplier 1: the same delay every time.
    const auto flat = policy(250ms, 10000ms, 1.0, 0.0);
    for (std::size_t attempt : {1u, 2u, 50u}) EXPECT_EQ(reconnect_delay(attempt, flat, 0.3), 250ms);
}

TEST(ReconnectBackoff, TheCapHoldsForAnyAttemptNumberWithoutOverflow) {
    const auto p = policy(100ms, 30000ms, 10.0, 0.0);
    for (std::size_t attempt : {std::size_t{10}, std::size_t{400}, std::size_t{100000}, SIZE_MAX}) {
        EXPECT_EQ(reconnect_delay(attempt, p, 0.0), 30000ms) << attempt;
    }
    // A cap at the top of the range, with jitter pushing past it: still a positive delay.
    const auto huge = policy(1ms, ms::max(), 2.0, 1.0);
    EXPECT_GT(reconnect_delay(SIZE_MAX, huge, 0.99), 0ms);
}

TEST(ReconnectBackoff, JitterScalesTheCappedDelayWithinOneMinusToOnePlusJitter) {
    const auto p = policy(1000ms, 4000ms, 2.0, 0.25);  // factors exact in binary
    // The factor 1 - j + 2 j r, r in [0, 1).
    EXPECT_EQ(reconnect_delay(1, p, 0.0), 750ms);
    EXPECT_EQ(reconnect_delay(1, p, 0.5), 1000ms);
    EXPECT_EQ(reconnect_delay(1, p, 0.75), 1125ms);
    // Just below 1: the top of the range (reached, as rounding may make the factor 1 + j).
    EXPECT_GE(reconnect_delay(1, p, std::nextafter(1.0, 0.0)), 1249ms);
    EXPECT_LE(reconnect_delay(1, p, std::nextafter(1.0, 0.0)), 1250ms);
    // Applied after the cap: a capped delay varies around max.
    EXPECT_EQ(reconnect_delay(10, p, 0.0), 3000ms);
    EXPECT_EQ(reconnect_delay(10, p, 0.5), 4000ms);
    // Random values outside [0, 1) are clamped, never stretching the range.
    EXPECT_EQ(reconnect_delay(1, p, -3.0), 750ms);
    EXPECT_EQ(reconnect_delay(1, p, 7.0), 1250ms);

    // Many draws as the transport makes them: all inside the range, and spread over it.
    std::mt19937_64 rng(12345);
    std::uniform_real_distribution<double> random01(0.0, 1.0);
    ms lo = ms::max(), hi = ms::min();
    for (int i = 0; i < 10000; ++i) {
        const auto d = reconnect_delay(2, p, random01(rng));  // 2000 ms nominal
        ASSERT_GE(d, 1500ms);
        ASSERT_LE(d, 2500ms);
        lo = std::min(lo, d);
        hi = std::max(hi, d);
    }
    EXPECT_LT(lo, 1550ms);
    EXPECT_GT(hi, 2450ms);
}

TEST(ReconnectBackoff, FullJitterNeverGivesANegativeDelay) {
    const auto p = policy(100ms, 1000ms, 2.0, 1.0);
    EXPECT_EQ(reconnect_delay(1, p, 0.0), 0ms);
    EXPECT_EQ(reconnect_delay(1, p, 0.5), 100ms);
    EXPECT_LE(reconnect_delay(1, p, std::nextafter(1.0, 0.0)), 200ms);
    // What an unvalidated jitter above 1 would have produced: still clamped at 0, not negative
    // (such a policy is refused at connect anyway).
    EXPECT_EQ(reconnect_delay(1, policy(100ms, 1000ms, 2.0, 1.5), 0.0), 0ms);
}

TEST(ReconnectBackoff, UsablePoliciesPass) {
    EXPECT_TRUE(validate_reconnect_policy(ReconnectPolicy{}));  // the defaults
    EXPECT_TRUE(validate_reconnect_policy(policy(1ms, 1ms, 1.0, 0.0)));
    EXPECT_TRUE(validate_reconnect_policy(policy(10ms, 10s, 3.0, 1.0)));
}

// Each refused value: InvalidOptions naming the field and the value given.
TEST(ReconnectBackoff, OutOfRangePoliciesAreRefusedNamingTheFieldAndValue) {
    struct Case {
        ReconnectPolicy p;
        const char* field;
        const char* value;
    };
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    const Case cases[] = {
        {policy(0ms, 1000ms, 2.0, 0.2), "reconnect.initial", "0 ms"},
        {policy(-5ms, 1000ms, 2.0, 0.2), "reconnect.initial", "-5 ms"},
        {policy(500ms, 499ms, 2.0, 0.2), "reconnect.max", "499 ms"},
        {policy(100ms, 1000ms, 0.5, 0.2), "reconnect.multiplier", "0.5"},
        {policy(100ms, 1000ms, nan, 0.2), "reconnect.multiplier", "nan"},
        {policy(100ms, 1000ms, inf, 0.2), "reconnect.multiplier", "inf"},
        {policy(100ms, 1000ms, 2.0, 1.5), "reconnect.jitter", "1.5"},
        {policy(100ms, 1000ms, 2.0, -0.1), "reconnect.jitter", "-0.1"},
        {policy(100ms, 1000ms, 2.0, nan), "reconnect.jitter", "nan"},
    };
    for (const auto& c : cases) {
        auto r = validate_reconnect_policy(c.p);
        ASSERT_FALSE(r) << c.field << " " << c.value;
        EXPECT_EQ(r.error().code, BusError::Code::InvalidOptions);
        const std::string want = std::string("ClientOptions.") + c.field + " is " + c.value + ";";
        EXPECT_NE(r.error().message.find(want), std::string::npos)
            << "want '" << want << "' in: " << r.error().message;
    }
}

class ReconnectBackoffConnect : public ::testing::Test {
  protected:
    template <class T>
    T run(boost::asio::awaitable<T> a) {
        std::optional<T> out;
        boost::asio::co_spawn(
            io_,
            [&out, a = std::move(a)]() mutable -> boost::asio::awaitable<void> {
                out.emplace(co_await std::move(a));
            },
            boost::asio::detached);
        for (int i = 0; i < 500 && !out; ++i) {
            io_.restart();
            io_.run_for(10ms);
        }
        if (!out) throw std::runtime_error("coroutine did not finish in time");
        return std::move(*out);
    }
    boost::asio::io_context io_{1};
};

// Refused before anything is dialled: the path does not exist, so a dial would fail Io instead.
TEST_F(ReconnectBackoffConnect, ConnectRefusesABadPolicyBeforeDialling) {
    ClientOptions o;
    o.socket_path = "/nonexistent-debus-dir/bus.sock";
    o.reconnect.jitter = 1.5;
    auto r = run(BusClient::connect(io_.get_executor(), o));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, BusError::Code::InvalidOptions) << r.error().message;
    EXPECT_NE(r.error().message.find("reconnect.jitter is 1.5"), std::string::npos)
        << r.error().message;

    // With reconnect off the policy is not used, and not checked: the dial is what fails.
    o.reconnect.enabled = false;
    auto off = run(BusClient::connect(io_.get_executor(), o));
    ASSERT_FALSE(off);
    EXPECT_EQ(off.error().code, BusError::Code::Io) << off.error().message;
}

TEST_F(ReconnectBackoffConnect, ConnectFdRefusesABadPolicyAndClosesTheFd) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ClientOptions o;
    o.reconnect.initial = 0ms;
    auto r = run(BusClient::connect_fd(io_.get_executor(), sv[1], o));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, BusError::Code::InvalidOptions) << r.error().message;
    EXPECT_NE(r.error().message.find("reconnect.initial is 0 ms"), std::string::npos)
        << r.error().message;
    // The fd was taken and closed: our end reads end-of-stream, with no Hello sent.
    char c = 0;
    EXPECT_EQ(::recv(sv[0], &c, 1, 0), 0);
    ::close(sv[0]);
}

}  // namespace
}  // namespace daemoneye::eventbus
