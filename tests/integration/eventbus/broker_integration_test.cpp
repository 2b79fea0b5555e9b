// The broker with real client processes over its unix socket: fan-out, a stalled subscriber,
// gap accounting, peer credentials, every kind of bad input, RPC failure modes, reconnect.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "child_process.hpp"
#include "daemoneye/eventbus/broker.hpp"
#include "daemoneye/eventbus/bus_client.hpp"

namespace asio = boost::asio;
namespace eb = daemoneye::eventbus;
using daemoneye::test::ChildProcess;
using namespace std::chrono_literals;

namespace {

constexpr auto kLong = 60s;

std::uint64_t field(const std::string& line, const std::string& key) {
    std::smatch m;
    const std::regex re(key + "=([0-9]+)");
    if (!std::regex_search(line, m, re)) return UINT64_MAX;
    return std::stoull(m[1]);
}

bool contains(const std::vector<std::string>& lines, const std::string& needle) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const auto& l) { return l.find(needle) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
}

class BrokerIntegration : public ::testing::Test {
  protected:
    void start(eb::BrokerOptions options = {}) {
        char tmpl[] = "/tmp/debus-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        options.socket_path = dir_ + "/run/bus.sock";
        if (options.startup_timeout.count() == 30000) options.startup_timeout = 5s;
        options_ = options;
        broker_ = eb::Broker::create(io_.get_executor(), options).value();
        auto ok = broker_->listen();
        ASSERT_TRUE(ok) << ok.error().message;
        thread_ = std::thread([this] { io_.run(); });
    }

    template <class F>
    auto on_loop(F f) {
        std::promise<decltype(f())> p;
        auto fut = p.get_future();
        asio::post(io_, [&] { p.set_value(f()); });
        return fut.get();
    }

    template <class T>
    T run_coro(asio::awaitable<T> a) {
        std::promise<T> p;
        auto fut = p.get_future();
        asio::co_spawn(
            io_,
            [&p, a = std::move(a)]() mutable -> asio::awaitable<void> {
                p.set_value(co_await std::move(a));
            },
            asio::detached);
        return fut.get();
    }

    void TearDown() override {
        if (thread_.joinable()) {
            on_loop([this] {
                local_.clear();
                broker_->stop();
                for (auto& b : retired_) b->stop();
                return 0;
            });
            std::this_thread::sleep_for(100ms);
            work_.reset();
            io_.stop();
            thread_.join();
        }
        broker_.reset();
        retired_.clear();
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }

    eb::BusClient& local_client(const std::string& name) {
        return *on_loop([&]() -> eb::BusClient* {
            eb::ClientOptions o;
            o.client_name = name;
            o.role = daemoneye::bus::v1::ROLE_AGENT;
            local_.push_back(eb::BusClient::connect_local(*broker_, o).value());
            return local_.back().get();
        });
    }

    std::vector<std::string> args(std::initializer_list<std::string> extra) {
        std::vector<std::string> a{BUS_TEST_CLIENT, "--socket", options_.socket_path};
        a.insert(a.end(), extra);
        return a;
    }

    eb::BrokerMetrics metrics() { return broker_->metrics_async().get(); }

    asio::io_context io_{1};
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    std::thread thread_;
    std::string dir_;
    eb::BrokerOptions options_;
    std::unique_ptr<eb::Broker> broker_;
    std::vector<std::unique_ptr<eb::Broker>> retired_;
    std::vector<std::unique_ptr<eb::BusClient>> local_;
};

TEST_F(BrokerIntegration, SocketDirectoryAndFileAreOwnerOnly) {
    start();
    struct stat st {};
    ASSERT_EQ(::stat((dir_ + "/run").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    ASSERT_EQ(::stat(options_.socket_path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // A second broker on the same path is refused while the first listens.
    auto other = eb::Broker::create(io_.get_executor(), options_).value();
    auto r = other->listen();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("another broker is listening on"), std::string::npos);
}

TEST_F(BrokerIntegration, FanOutToManyWildcardSubscriberProcesses) {
    start();
    const std::vector<std::string> patterns{"events.#",      "#",           "events.test.+",
                                            "events.+.data", "+.test.data", "events.test.data"};
    std::vector<std::unique_ptr<ChildProcess>> subs;
    for (const auto& p : patterns) {
        subs.push_back(std::make_unique<ChildProcess>(
            args({"--mode", "subscribe", "--pattern", p, "--count", "3000"})));
    }
    for (auto& s : subs) ASSERT_TRUE(s->wait_for("READY", kLong));
    ChildProcess pub(args({"--mode", "publish", "--count", "3000", "--size", "256"}));
    auto done = pub.wait_for("DONE", kLong);
    ASSERT_TRUE(done);
    EXPECT_EQ(field(*done, "published"), 3000u);
    for (auto& s : subs) {
        std::vector<std::string> seen;
        std::optional<std::string> r;
        while (auto l = s->read_line(kLong)) {
            seen.push_back(*l);
            if (l->rfind("RESULT", 0) == 0) {
                r = l;
                break;
            }
        }
        ASSERT_TRUE(r) << "subscriber exited with " << s->wait(kLong) << ":\n" << joined(seen);
        EXPECT_EQ(field(*r, "received"), 3000u) << *r;
        EXPECT_EQ(field(*r, "gaps"), 0u) << *r;
        EXPECT_EQ(s->wait(kLong), 0);
    }
    const auto m = metrics();
    EXPECT_EQ(m.drops, 0u);
    EXPECT_GE(m.deliveries, 3000u * patterns.size());
}

TEST_F(BrokerIntegration, StalledSubscriberLosesOnlyItsOwnCopiesAndSeesEveryGap) {
    eb::BrokerOptions o;
    o.message_buffer_size = 200;
    start(o);
    auto& observer = local_client("diag-observer");
    std::atomic<int> diagnostics{0};
    auto sub = run_coro(observer.subscribe("control.health.diagnostics",
                                           [&](const eb::MessageView&) { ++diagnostics; }));
    ASSERT_TRUE(sub);
    constexpr std::size_t kCount = 10000;
    ChildProcess healthy(
        args({"--mode", "subscribe", "--pattern", "events.#", "--count", std::to_string(kCount)}));
    ChildProcess stalled(args({"--mode", "subscribe", "--pattern", "events.#", "--stall-ms", "1500",
                               "--idle-exit-ms", "3000", "--linger-ms", "20000"}));
    ASSERT_TRUE(healthy.wait_for("READY", kLong));
    ASSERT_TRUE(stalled.wait_for("READY", kLong));
    ChildProcess pub(args({"--mode", "publish", "--count", std::to_string(kCount), "--rate", "4000",
                           "--size", "256"}));
    ASSERT_TRUE(pub.wait_for("DONE", kLong));

    auto h = healthy.wait_for("RESULT", kLong);
    ASSERT_TRUE(h);
    EXPECT_EQ(field(*h, "received"), kCount) << *h;
    EXPECT_EQ(field(*h, "gaps"), 0u) << *h;

    auto s = stalled.wait_for("RESULT", kLong);
    ASSERT_TRUE(s);
    const auto gaps = field(*s, "gaps");
    const auto received = field(*s, "received");
    EXPECT_GT(gaps, 0u) << *s;
    EXPECT_EQ(received + gaps, kCount) << *s;

    // The broker's per-subscription drop counter says the same thing (read while the stalled
    // subscriber lingers, connected).
    std::uint64_t dropped = 0;
    for (const auto& session : broker_->sessions_async().get()) {
        for (const auto& sub_stats : session.subscriptions) dropped += sub_stats.dropped;
    }
    stalled.wait(1s);  // killed if still lingering
    EXPECT_EQ(dropped, gaps);
    EXPECT_EQ(metrics().drops, gaps);
    EXPECT_GE(diagnostics.load(), 1);
}

TEST_F(BrokerIntegration, PeerWithAnotherUidIsRefused) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another uid";
    start();
    // File permissions would already stop uid 65534; open them so SO_PEERCRED is what refuses.
    ::chmod(dir_.c_str(), 0755);
    ::chmod((dir_ + "/run").c_str(), 0755);
    ::chmod(options_.socket_path.c_str(), 0666);
    ChildProcess other(args({"--mode", "subscribe", "--pattern", "#", "--as-uid", "65534"}));
    auto line = other.wait_for("REFUSED", kLong);
    ASSERT_TRUE(line);
    EXPECT_NE(line->find("neither the broker's uid"), std::string::npos) << *line;
    EXPECT_GE(metrics().sessions_refused, 1u);
}

TEST_F(BrokerIntegration, MaxConnectionsRefusedWithAnErrorFrame) {
    eb::BrokerOptions o;
    o.max_connections = 1;
    start(o);
    ChildProcess first(args({"--mode", "subscribe", "--pattern", "#", "--idle-exit-ms", "20000"}));
    ASSERT_TRUE(first.wait_for("READY", kLong));
    ChildProcess second(args({"--mode", "subscribe", "--pattern", "#"}));
    auto line = second.wait_for("REFUSED", kLong);
    ASSERT_TRUE(line);
    EXPECT_NE(line->find("max_connections"), std::string::npos) << *line;
}

TEST_F(BrokerIntegration, EveryBadInputGetsAnErrorAndOthersCarryOn) {
    eb::BrokerOptions o;
    o.socket_publish_grants = {"events.test.#"};
    o.startup_timeout = 1s;
    start(o);
    auto& server = local_client("slow-server");
    auto served = run_coro(
        server.serve("control.collector.slow",
                     [this](eb::rpcv1::RpcRequest) -> asio::awaitable<eb::rpcv1::RpcResponse> {
                         asio::steady_timer t(io_, 2s);
                         co_await t.async_wait(asio::use_awaitable);
                         co_return eb::rpc_ok();
                     }));
    ASSERT_TRUE(served);

    // A healthy subscriber that must see everything published after the abuse.
    ChildProcess watcher(args({"--mode", "subscribe", "--pattern", "events.#", "--count", "500"}));
    ASSERT_TRUE(watcher.wait_for("READY", kLong));

    struct Case {
        std::string name;
        std::vector<std::string> expect;  // substrings of some line
    };
    const std::vector<Case> cases{
        {"crc", {"CRC32 mismatch", "CLOSED"}},
        {"oversized", {"too large", "CLOSED"}},
        {"zero-length", {"ERROR", "CLOSED"}},
        {"not-a-batch", {"ERROR", "CLOSED"}},
        {"before-hello", {"expected Hello first", "CLOSED"}},
        {"bad-version", {"protocol version 99", "CLOSED"}},
        {"no-hello", {"no Hello within", "CLOSED"}},
        {"unknown-type", {"unknown message type", "HEARTBEAT"}},
        {"invalid-topic", {"code=3", "events..bad", "HEARTBEAT"}},
        {"invalid-pattern", {"code=4", "HEARTBEAT"}},
        {"denied", {"code=5", "events.other.thing", "events.test.#", "HEARTBEAT"}},
        {"reply-topic", {"code=5", "another session's RPC replies", "HEARTBEAT"}},
        {"malformed-publish", {"malformed publish", "HEARTBEAT"}},
        {"spoofed-topic", {"malformed publish", "bad field key at byte 19", "HEARTBEAT"}},
        {"malformed-inside", {"malformed publish", "correlation tag is not UTF-8", "HEARTBEAT"}},
        {"duplicate-correlation",
         {"RPC_RESPONSE id=dup-1 status=2 code=3", "duplicate correlation id 'dup-1'",
          "HEARTBEAT"}},
    };
    for (const auto& c : cases) {
        const auto before = metrics();
        ChildProcess raw(args({"--mode", "raw", "--case", c.name, "--target",
                               "control.collector.slow", "--timeout-ms", "8000"}));
        const auto lines = raw.read_all(kLong);
        raw.wait(kLong);
        for (const auto& e : c.expect) {
            EXPECT_TRUE(contains(lines, e)) << c.name << ": no line with '" << e << "' in\n"
                                            << joined(lines);
        }
        // Each one counted: an ACL refusal as a denial, everything else as a protocol error.
        const auto after = metrics();
        EXPECT_GE(after.protocol_errors - before.protocol_errors + (after.denials - before.denials),
                  1u)
            << c.name << " was not counted";
    }

    ChildProcess pub(args({"--mode", "publish", "--count", "500"}));
    ASSERT_TRUE(pub.wait_for("DONE", kLong));
    auto r = watcher.wait_for("RESULT", kLong);
    ASSERT_TRUE(r);
    EXPECT_EQ(field(*r, "received"), 500u) << *r;
}

// Before Welcome only broker.startup_timeout_seconds decides how long a silent peer may stay (it
// is longer than the heartbeat-derived idle deadline here, as with the defaults: 30 s vs 20 s);
// after Welcome, four silent heartbeat intervals or a half-sent frame end the session. Each is
// told with an Error, counted and logged like any other bad input.
TEST_F(BrokerIntegration, SilentPeersAreDroppedOnTheirOwnDeadlines) {
    eb::BrokerOptions o;
    o.heartbeat_interval = 250ms;  // idle deadline 1 s
    o.startup_timeout = 3s;
    o.read_timeout = 1s;
    start(o);
    auto run = [&](const std::string& name) {
        const auto before = metrics();
        const auto t0 = std::chrono::steady_clock::now();
        ChildProcess raw(args({"--mode", "raw", "--case", name, "--timeout-ms", "10000"}));
        auto lines = raw.read_all(kLong);
        raw.wait(kLong);
        const auto took = std::chrono::steady_clock::now() - t0;
        const auto after = metrics();
        EXPECT_EQ(after.protocol_errors - before.protocol_errors, 1u) << name;
        EXPECT_TRUE(contains(lines, "CLOSED")) << name << ":\n" << joined(lines);
        return std::pair{lines, took};
    };
    {
        auto [lines, took] = run("no-hello");
        EXPECT_TRUE(contains(lines, "no Hello within startup_timeout (3000 ms)")) << joined(lines);
        EXPECT_GE(took, 2500ms) << "dropped before startup_timeout";
    }
    {
        auto [lines, took] = run("silent-after-welcome");
        EXPECT_TRUE(contains(lines, "WELCOME")) << joined(lines);
        EXPECT_TRUE(contains(lines, "no frame started within the idle timeout of 1000 ms"))
            << joined(lines);
    }
    {
        auto [lines, took] = run("half-frame");
        EXPECT_TRUE(contains(lines, "read deadline of 1000 ms passed")) << joined(lines);
    }
}

TEST_F(BrokerIntegration, RpcOkNotFoundTimeoutLateReplyOverloaded) {
    start();
    auto& server = local_client("rpc-server");
    ASSERT_TRUE(
        run_coro(server.serve("control.collector.fast",
                              [](eb::rpcv1::RpcRequest) -> asio::awaitable<eb::rpcv1::RpcResponse> {
                                  co_return eb::rpc_ok();
                              })));
    ASSERT_TRUE(run_coro(
        server.serve("control.collector.slow",
                     [this](eb::rpcv1::RpcRequest) -> asio::awaitable<eb::rpcv1::RpcResponse> {
                         asio::steady_timer t(io_, 700ms);
                         co_await t.async_wait(asio::use_awaitable);
                         co_return eb::rpc_ok();
                     })));

    {  // success: correlation metadata comes back, execution time is reported
        ChildProcess c(args({"--mode", "call", "--target", "control.collector.fast"}));
        auto line = c.wait_for("RPC", kLong);
        ASSERT_TRUE(line);
        EXPECT_NE(line->find("RPC ok"), std::string::npos) << *line;
        EXPECT_NE(line->find("root=root-1"), std::string::npos) << *line;
        EXPECT_NE(line->find("stage=test"), std::string::npos) << *line;
        EXPECT_NE(line->find("tag=v0"), std::string::npos) << *line;
        EXPECT_NE(field(*line, "exec_us"), UINT64_MAX);
    }
    {  // nobody serves the target: NotFound at once, from the broker
        ChildProcess c(args(
            {"--mode", "call", "--target", "control.collector.nobody", "--timeout-ms", "20000"}));
        const auto t0 = std::chrono::steady_clock::now();
        auto line = c.wait_for("RPC", kLong);
        ASSERT_TRUE(line);
        EXPECT_NE(line->find("code=NotFound"), std::string::npos) << *line;
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 15s);  // not the 20 s timeout
    }
    {  // timeout, then the late reply is dropped and counted
        ChildProcess c(args({"--mode", "call", "--target", "control.collector.slow", "--timeout-ms",
                             "150", "--wait-ms", "1500"}));
        auto line = c.wait_for("RPC", kLong);
        ASSERT_TRUE(line);
        EXPECT_NE(line->find("code=Timeout"), std::string::npos) << *line;
        auto stats = c.wait_for("STATS", kLong);
        ASSERT_TRUE(stats);
        EXPECT_EQ(field(*stats, "late"), 1u) << *stats;
        EXPECT_EQ(field(*stats, "timeouts"), 1u) << *stats;
    }
    {  // beyond max_pending_requests: Overloaded at once, the others succeed
        ChildProcess c(args({"--mode", "call", "--target", "control.collector.slow", "--timeout-ms",
                             "10000", "--max-pending", "2", "--concurrent", "3"}));
        const auto lines = c.read_all(kLong);
        EXPECT_EQ(std::count_if(
                      lines.begin(), lines.end(),
                      [](const auto& l) { return l.find("code=Overloaded") != std::string::npos; }),
                  1)
            << joined(lines);
        EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                                [](const auto& l) { return l.rfind("RPC ok", 0) == 0; }),
                  2)
            << joined(lines);
    }
    const auto m = metrics();
    EXPECT_GE(m.rpc_not_found, 1u);
    EXPECT_GE(m.rpc_responses, 3u);
}

TEST_F(BrokerIntegration, ClientReconnectsAfterBrokerRestart) {
    start();
    ChildProcess sub(args({"--mode", "subscribe", "--pattern", "events.#", "--count", "1",
                           "--idle-exit-ms", "30000"}));
    ASSERT_TRUE(sub.wait_for("READY", kLong));
    on_loop([this] {
        broker_->stop();
        retired_.push_back(std::move(broker_));
        return 0;
    });
    ASSERT_TRUE(sub.wait_for("STATE reconnecting", kLong));
    on_loop([this] {
        broker_ = eb::Broker::create(io_.get_executor(), options_).value();
        return broker_->listen() ? 0 : 1;
    });
    ASSERT_TRUE(sub.wait_for("STATE connected", kLong));
    auto& pub = local_client("restart-publisher");
    // The re-subscription may land just after "connected": publish until the child has it.
    std::optional<std::string> result;
    for (int i = 0; i < 200 && !result; ++i) {
        on_loop([&] {
            std::uint8_t b = 1;
            return pub.publish("events.test.after", "test.Blob", {&b, 1}).ok();
        });
        result = sub.wait_for("RESULT", 100ms);
    }
    ASSERT_TRUE(result);
    EXPECT_EQ(field(*result, "received"), 1u);
}

}  // namespace
