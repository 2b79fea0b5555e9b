// The real agent, a temporary config, real launchers and test plugins, driven through the real
// daemoneye-cli. Generous timeouts: these run on 2 busy cores; nothing here asserts speed.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "agent_harness.hpp"
#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/eventbus/bus_client.hpp"

using namespace daemoneye::agent::testing;

namespace {

const char* kFastRestarts =
    "process_manager:\n"
    "  graceful_shutdown_timeout_seconds: 5\n"
    "  force_shutdown_timeout_seconds: 5\n"
    "  restart_backoff_seconds: 1\n"
    "  max_restart_attempts: 2\n"
    "  heartbeat_timeout_seconds: 15\n"
    "broker: {startup_timeout_seconds: 60}\n"
    // No address-space limit: sanitizer builds of the launcher reserve terabytes of it. Memory
    // limits are the launcher's tests.
    "sandbox: {memory_limit_mb: 0}\n";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// The agent with the test collector "good" enabled, ready and Running.
::testing::AssertionResult started_with_good_running(TempAgent& a) {
    a.add_plugin("de_test_good.so");
    a.write_config(std::string(kFastRestarts) + "collectors:\n  good: {enabled: true}\n");
    a.start();
    if (!a.wait_ready()) return ::testing::AssertionFailure() << "not ready:\n" << a.log();
    if (!wait_until([&] { return a.state_of("good") == "Running"; }, 120s)) {
        return ::testing::AssertionFailure() << "good not Running:\n" << a.log();
    }
    return ::testing::AssertionSuccess();
}

}  // namespace

TEST(AgentIntegration, ConfigErrorsNameFileLineAndKeyAndTheAgentDoesNotStart) {
    TempAgent a;
    {
        std::ofstream out(a.config_path());
        out << "broker:\n"
               "  startup_timeout_seconds: 30\n"
               "  max_subscriber: 5\n"  // line 3: unknown key
               "ipc:\n"
               "  max_connections: lots\n";  // line 5: wrong type
    }
    a.start();
    EXPECT_EQ(a.wait_exit(), 1);
    const std::string log = a.log();
    const std::string file = a.config_path().string();
    EXPECT_TRUE(contains(log, file + ":3:3: broker.max_subscriber: unknown key")) << log;
    EXPECT_TRUE(contains(log, file + ":5:20: ipc.max_connections: expected a non-negative integer"))
        << log;
    EXPECT_FALSE(fs::exists(a.socket()));

    // --check-config and `config validate` report the same lines.
    auto check = run_program({DAEMONEYE_AGENT_PATH, "--check-config", file});
    EXPECT_EQ(check.exit_code, 1);
    auto validate = a.cli({"config", "validate", file});
    EXPECT_EQ(validate.exit_code, 2);
    EXPECT_EQ(check.err, validate.err);
    EXPECT_TRUE(contains(validate.err, ":3:3: broker.max_subscriber")) << validate.err;

    auto ok = a.cli({"config", "validate", DAEMONEYE_SOURCE_DIR "/config/daemoneye.yaml"});
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST(AgentIntegration, HealthCheckExitCodes) {
    TempAgent a;
    // Unreachable: 2.
    auto r = a.cli({"health-check"});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, "cannot connect")) << r.err;
    // Other verbs: 3 (unreachable), one line on stderr.
    r = a.cli({"collectors", "list"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

    // Healthy: 0 (a plugin registered, nothing asked to run).
    a.add_plugin("de_test_good.so");
    a.write_config(std::string(kFastRestarts) + "collectors:\n  good: {enabled: false}\n");
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    r = a.cli({"health-check", "--verbose"});
    EXPECT_EQ(r.exit_code, 0) << r.out << a.log();
    EXPECT_TRUE(contains(r.out, "overall: healthy")) << r.out;
    EXPECT_TRUE(contains(r.out, "broker")) << r.out;
}

TEST(AgentIntegration, HealthCheckDegradedWhenACollectorFails) {
    TempAgent a;
    a.add_plugin("de_test_throw_start.so");  // start() throws: the launcher exits, every time
    a.write_config(std::string(kFastRestarts) + "collectors:\n  throw-start: {enabled: true}\n");
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    ASSERT_TRUE(wait_until(
        [&] {
            const auto s = a.state_of("throw-start");
            return s == "Crashed" || s == "Failed";
        },
        120s))
        << a.log();
    auto r = a.cli({"health-check"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
}

TEST(AgentIntegration, StartStopRestartACollector) {
    TempAgent a;
    a.add_plugin("de_test_good.so");
    a.write_config(std::string(kFastRestarts) + "collectors:\n  good: {enabled: false}\n");
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    EXPECT_EQ(a.state_of("good"), "Stopped");

    auto r = a.cli({"collectors", "start", "good"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << a.log();
    EXPECT_TRUE(contains(r.out, "Running")) << r.out;
    const pid_t first = a.pid_of("good");
    ASSERT_GT(first, 0);
    EXPECT_TRUE(process_alive(first));

    auto status = a.cli({"collectors", "status", "good"});
    EXPECT_EQ(status.exit_code, 0);
    EXPECT_TRUE(contains(status.out, "state:            Running")) << status.out;
    EXPECT_TRUE(contains(status.out, "events published")) << status.out;
    // rpc.enable_correlation_tracking (default on): the agent logs the RPCs it makes, with ids.
    bool logged = false;
    for (int i = 0; i < 100 && !logged; ++i) {
        logged = contains(a.log(), "rpc called control.collector.good.good-0 ");
        if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(logged) << a.log();
    EXPECT_TRUE(contains(a.log(), " root=")) << a.log();

    r = a.cli({"collectors", "restart", "good"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const pid_t second = a.pid_of("good");
    EXPECT_GT(second, 0);
    EXPECT_NE(first, second);
    EXPECT_FALSE(process_alive(first));

    r = a.cli({"collectors", "stop", "good"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(a.state_of("good"), "Stopped");
    EXPECT_FALSE(process_alive(second));
    EXPECT_TRUE(children_of(a.pid()).empty());

    // Unknown collector: a clear error and a failure exit code.
    r = a.cli({"collectors", "start", "nosuch"});
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_TRUE(contains(r.err, "no collector named 'nosuch'")) << r.err;
}

// collectors.<name>.publishes narrows what a collector's bus session may publish: the grant the
// broker enforces is the configured list; a pattern beyond what the plugin declares keeps the
// collector from starting, with the reason in its status.
TEST(AgentIntegration, ConfiguredPublishesNarrowACollectorsGrant) {
    {
        TempAgent a;
        a.add_plugin("de_test_good.so");  // declares events.test.#
        a.write_config(std::string(kFastRestarts) +
                       "collectors:\n  good: {publishes: [events.test.good]}\n");
        a.start();
        ASSERT_TRUE(a.wait_ready()) << a.log();
        ASSERT_TRUE(wait_until([&] { return a.state_of("good") == "Running"; }, 30s)) << a.log();
        auto status = a.cli({"collectors", "status", "good"});
        EXPECT_TRUE(contains(status.out,
                             "may publish:      events.test.good, "
                             "control.health.heartbeat, control.health.diagnostics"))
            << status.out;
    }
    {
        TempAgent a;
        a.add_plugin("de_test_good.so");
        a.write_config(std::string(kFastRestarts) +
                       "collectors:\n  good: {publishes: [events.other.#]}\n");
        a.start();
        ASSERT_TRUE(a.wait_ready()) << a.log();
        EXPECT_TRUE(wait_until([&] { return a.state_of("good") == "Failed"; }, 30s)) << a.log();
        auto status = a.cli({"collectors", "status", "good"});
        EXPECT_TRUE(contains(status.out,
                             "'events.other.#' in collectors.good.publishes is not "
                             "within what the plugin declares (events.test.#)"))
            << status.out;
    }
}

TEST(AgentIntegration, KilledLauncherIsRestartedWithBackoffThenFailed) {
    TempAgent a;
    a.add_plugin("de_test_good.so");
    a.write_config(std::string(kFastRestarts) + "collectors:\n  good: {enabled: true}\n");
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    // max_restart_attempts: 2 -> two restarts, the third crash is final.
    for (int crash = 1; crash <= 3; ++crash) {
        ASSERT_TRUE(wait_until([&] { return a.state_of("good") == "Running"; }, 120s))
            << "crash " << crash << ": " << a.log();
        const pid_t pid = a.pid_of("good");
        ASSERT_GT(pid, 0);
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        ASSERT_TRUE(wait_until([&] { return a.pid_of("good") != pid; }, 60s));
    }
    ASSERT_TRUE(wait_until([&] { return a.state_of("good") == "Failed"; }, 60s)) << a.log();
    auto status = a.cli({"collectors", "status", "good"});
    EXPECT_TRUE(contains(status.out, "restarts:         2")) << status.out;
    EXPECT_TRUE(contains(status.out, "gave up after 2 restarts")) << status.out;
    EXPECT_TRUE(contains(status.out, "killed by signal 9")) << status.out;
    EXPECT_TRUE(contains(a.log(), "restart 1 of 2 in 1 s")) << a.log();
    EXPECT_TRUE(contains(a.log(), "restart 2 of 2 in 2 s")) << a.log();
    EXPECT_EQ(a.cli({"health-check"}).exit_code, 1);
}

// Every collector may publish on control.health.heartbeat, so a heartbeat counts only when it
// comes from the instance's own bus session (the broker stamps source_session). Here a socket
// client forges one for a running collector: refused, counted, logged; the collector's own
// heartbeats keep it Running.
TEST(AgentIntegration, AHeartbeatFromAnotherSessionIsRefusedAndCounted) {
    namespace eb = daemoneye::eventbus;
    TempAgent a;
    ASSERT_TRUE(started_with_good_running(a));

    boost::asio::io_context io;
    eb::ClientOptions o;
    o.client_name = "forger";
    o.socket_path = a.bus_socket().string();
    o.reconnect.enabled = false;
    std::string outcome;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            auto op = eb::BusClient::connect(io.get_executor(), o);
            auto c = co_await std::move(op);
            if (!c) {
                outcome = "connect: " + c.error().message;
                co_return;
            }
            daemoneye::bus::v1::CollectorHeartbeat hb;
            hb.set_instance_id("good-0");
            hb.set_plugin("good");
            hb.set_state("running");
            auto r = (*c)->publish("control.health.heartbeat", hb);
            outcome = r ? "sent" : "publish: " + r.error().message;
            co_await (*c)->flush();
            (*c)->close();
        },
        boost::asio::detached);
    io.run_for(30s);
    ASSERT_EQ(outcome, "sent");

    EXPECT_TRUE(wait_until(
        [&] {
            return contains(a.cli({"metrics", "--prometheus"}).out,
                            "daemoneye_collector_heartbeats_refused_total 1");
        },
        30s))
        << a.cli({"metrics", "--prometheus"}).out;
    EXPECT_TRUE(contains(a.log(), "collector good-0: heartbeat from bus session")) << a.log();
    EXPECT_EQ(a.state_of("good"), "Running");
}

TEST(AgentIntegration, DropInPluginIsRegisteredAndStarted) {
    TempAgent a;
    a.write_config(kFastRestarts);  // autostart: true (default), nothing in plugins.directories
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    auto list = a.cli({"plugins", "list"});
    EXPECT_TRUE(contains(list.out, "no plugins found")) << list.out;

    const std::string src = std::string(DAEMONEYE_TEST_PLUGIN_DIR) + "/de_test_good.so";
    auto r = a.cli({"plugins", "install", src, "--drop-in", a.drop_in().string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << a.log();
    EXPECT_TRUE(contains(r.out, "registered good 1.0.0")) << r.out;
    struct stat st {};
    ASSERT_EQ(::stat((a.drop_in() / "de_test_good.so").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0644u);

    ASSERT_TRUE(wait_until([&] { return a.state_of("good") == "Running"; }, 120s)) << a.log();

    // Removing the library stops its collectors.
    r = a.cli({"plugins", "remove", "good"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(wait_until([&] { return children_of(a.pid()).empty(); }, 60s));
    EXPECT_EQ(a.state_of("good"), "");
}

TEST(AgentIntegration, WorldWritableAndDuplicatePluginsAreRefusedWithTheirReason) {
    TempAgent a;
    a.add_plugin("de_test_good.so");
    a.write_config(std::string(kFastRestarts) + "collectors:\n  good: {enabled: false}\n");
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();

    // World-writable: written as a dot-file (ignored), then renamed into place.
    const fs::path tmp = a.drop_in() / ".ww.tmp";
    fs::copy_file(fs::path(DAEMONEYE_TEST_PLUGIN_DIR) / "de_test_probe.so", tmp);
    ::chmod(tmp.c_str(), 0666);
    fs::rename(tmp, a.drop_in() / "ww.so");
    ASSERT_TRUE(wait_until(
        [&] {
            return contains(a.cli({"plugins", "list"}).out, "world-writable");
        },
        60s))
        << a.cli({"plugins", "list"}).out;
    auto list = a.cli({"plugins", "list"});
    EXPECT_TRUE(contains(list.out, "REFUSED")) << list.out;

    // A second library with an existing name.
    const std::string dup = (a.root() / "good-copy.so").string();
    fs::copy_file(fs::path(DAEMONEYE_TEST_PLUGIN_DIR) / "de_test_good.so", dup);
    auto r = a.cli({"plugins", "install", dup, "--drop-in", a.drop_in().string()});
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_TRUE(contains(r.err, "duplicate plugin name 'good'")) << r.err;

    // ABI mismatch is refused with both versions named.
    r = a.cli({"plugins", "install",
               std::string(DAEMONEYE_TEST_PLUGIN_DIR) + "/de_test_abi_major.so", "--drop-in",
               a.drop_in().string()});
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_TRUE(contains(r.err, "ABI")) << r.err;
}

TEST(AgentIntegration, SigtermStopsEveryCollectorAndRemovesSockets) {
    TempAgent a;
    ASSERT_TRUE(started_with_good_running(a));
    const pid_t launcher = a.pid_of("good");
    ASSERT_GT(launcher, 0);
    EXPECT_TRUE(fs::exists(a.socket()));
    EXPECT_TRUE(fs::exists(a.bus_socket()));

    EXPECT_EQ(a.stop(), 0) << a.log();
    EXPECT_FALSE(process_alive(launcher));
    EXPECT_FALSE(fs::exists(a.socket()));
    EXPECT_FALSE(fs::exists(a.bus_socket()));
    EXPECT_TRUE(contains(a.log(), "agent stopped")) << a.log();
}

TEST(AgentIntegration, IpcTestAndMetrics) {
    TempAgent a;
    a.write_config(kFastRestarts);
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    auto r = a.cli({"ipc", "test", "--count", "8"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "every echo identical")) << r.out;
    r = a.cli({"metrics", "--prometheus"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_TRUE(contains(r.out, "# TYPE daemoneye_ipc_requests_total counter")) << r.out;
    EXPECT_TRUE(contains(r.out, "daemoneye_bus_publishes_total")) << r.out;
    // RPC bodies nobody could parse are counted, not only logged.
    EXPECT_TRUE(contains(r.out, "daemoneye_bus_agent_client_rpc_malformed_total 0")) << r.out;
    // Control messages that could not be queued, and items too big for a frame: counted.
    EXPECT_TRUE(contains(r.out, "daemoneye_bus_control_overflows_total 0")) << r.out;
    EXPECT_TRUE(contains(r.out, "daemoneye_bus_oversized_dropped_total 0")) << r.out;
    // The agent's self-check RPC at start-up is in the latency histograms (calls and served).
    EXPECT_TRUE(contains(r.out, "# TYPE daemoneye_bus_rpc_call_latency_seconds histogram"))
        << r.out;
    EXPECT_TRUE(contains(r.out, "daemoneye_bus_rpc_call_latency_seconds_count{outcome=\"ok\"}"))
        << r.out;
    EXPECT_TRUE(contains(
        r.out,
        "daemoneye_bus_rpc_served_latency_seconds_count{operation=\"OPERATION_HEALTH_CHECK\"}"))
        << r.out;
}

TEST(AgentIntegration, ChangedLibraryIsReprobedAndItsCollectorRestarted) {
    TempAgent a;
    a.write_config(kFastRestarts);
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    const std::string src = std::string(DAEMONEYE_TEST_PLUGIN_DIR) + "/de_test_good.so";
    ASSERT_EQ(a.cli({"plugins", "install", src, "--drop-in", a.drop_in().string()}).exit_code, 0);
    ASSERT_TRUE(wait_until([&] { return a.state_of("good") == "Running"; }, 120s)) << a.log();
    const pid_t before = a.pid_of("good");

    // Same plugin, different bytes (trailing data after the ELF image), replaced atomically.
    const fs::path tmp = a.drop_in() / ".good.tmp";
    fs::copy_file(src, tmp);
    { std::ofstream(tmp, std::ios::app) << "changed"; }
    ::chmod(tmp.c_str(), 0644);
    fs::rename(tmp, a.drop_in() / "de_test_good.so");

    ASSERT_TRUE(wait_until(
        [&] {
            const pid_t now = a.pid_of("good");
            return now > 0 && now != before && a.state_of("good") == "Running";
        },
        120s))
        << a.log();
    EXPECT_FALSE(process_alive(before));
    EXPECT_TRUE(contains(a.log(), "changed on disk")) << a.log();
    auto list = a.cli({"--json", "plugins", "list"});
    EXPECT_FALSE(contains(list.out, "bd4efc19")) << "old digest still listed: " << list.out;
}

TEST(AgentIntegration, AgentKilledLeavesNoOrphansAndRestartsCleanly) {
    TempAgent a;
    a.add_plugin("de_test_good.so");
    a.write_config(std::string(kFastRestarts) + "collectors:\n  good: {enabled: true}\n");
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    ASSERT_TRUE(wait_until([&] { return a.state_of("good") == "Running"; }, 120s)) << a.log();
    const pid_t launcher = a.pid_of("good");
    ASSERT_GT(launcher, 0);
    ::kill(a.pid(), SIGKILL);
    a.wait_exit();
    // PDEATHSIG: the launcher dies with the agent.
    EXPECT_TRUE(wait_until([&] { return !process_alive(launcher); }, 30s));
    // Stale sockets do not block the next start.
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    EXPECT_TRUE(wait_until([&] { return a.state_of("good") == "Running"; }, 120s)) << a.log();
}

TEST(AgentIntegration, PrometheusTextfileIsWritten) {
    TempAgent a;
    const fs::path prom = a.root() / "de.prom";
    a.write_config(kFastRestarts,
                   "metrics: {textfile_path: " + prom.string() + ", interval_seconds: 1}\n");
    a.start();
    ASSERT_TRUE(a.wait_ready()) << a.log();
    ASSERT_TRUE(wait_until([&] { return fs::exists(prom); }, 30s)) << a.log();
    const std::string text = slurp(prom.string());
    EXPECT_TRUE(contains(text, "# TYPE daemoneye_agent_uptime_seconds gauge")) << text;
    EXPECT_TRUE(contains(text, "daemoneye_broker_up 1")) << text;
}
