// The bridge end to end: Hello/Welcome, RPCs served by the plugin, events with sequence numbers,
// heartbeats, graceful stop, lost bus, and plugins that fail to start or crash.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <csignal>

#include "launcher_harness.hpp"

namespace daemoneye::launcher::test {
namespace {

using ::testing::HasSubstr;

constexpr int kPluginInitFailure = 7;
constexpr int kBusLost = 8;

TEST(Lifecycle, HelloCarriesManifestSandboxAndPid) {
    Launcher l({"--plugin", plugin_path("good"), "--instance", "good-0"});
    auto hello = l.expect_hello();
    ASSERT_TRUE(hello.has_value()) << l.wait().err;
    EXPECT_EQ(hello->role(), bus::v1::ROLE_COLLECTOR);
    EXPECT_EQ(hello->instance_id(), "good-0");
    EXPECT_EQ(hello->pid(), l.pid());
    EXPECT_EQ(hello->manifest().name(), "good");
    EXPECT_EQ(hello->manifest().abi_major(), 1u);
    ASSERT_EQ(hello->manifest().publishes_size(), 1);
    EXPECT_EQ(hello->manifest().publishes(0), "events.test.#");
    std::vector<std::string> names;
    for (const auto& s : hello->sandbox()) names.push_back(s.name());
    EXPECT_THAT(names,
                ::testing::ElementsAre("env", "fds", "pdeathsig", "rlimits", "namespaces", "user",
                                       "caps", "no_new_privs", "landlock", "seccomp"));
    for (const auto& s : hello->sandbox()) EXPECT_FALSE(s.detail().empty()) << s.name();
    EXPECT_TRUE(layer(*hello, "seccomp").applied());
    l.welcome();
    ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
    auto r = l.wait();
    EXPECT_TRUE(r.exited && r.code == 0) << r.err;
}

// The agent may narrow what a plugin declares (collectors.<name>.publishes): the launcher takes
// its session's grants, so an emit outside them fails at once with DE_ERR_DENIED (counted)
// rather than going out to be denied by the broker for every message.
TEST(Lifecycle, EmitsOutsideTheSessionsNarrowedGrantsAreRefusedLocally) {
    Launcher l({"--plugin", plugin_path("good"), "--instance", "good-1"});
    ASSERT_TRUE(l.expect_hello().has_value());
    l.welcome({}, 200, std::vector<std::string>{"events.test.other"});  // declares events.test.#
    auto refused = l.task("emit", {{"count", "3"}});                    // events.test.good
    ASSERT_TRUE(refused.has_value());
    EXPECT_THAT(records(*refused), ::testing::ElementsAre("ok=0 denied=3 other=0"));
    auto allowed = l.task("emit", {{"count", "2"}, {"topic", "events.test.other"}});
    ASSERT_TRUE(allowed.has_value());
    EXPECT_THAT(records(*allowed), ::testing::ElementsAre("ok=2 denied=0 other=0"));
    ASSERT_TRUE(l.pump_until([&] { return l.published("events.test.other").size() >= 2; }));
    EXPECT_TRUE(l.published("events.test.good").empty());
    ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
    auto r = l.wait();
    EXPECT_TRUE(r.exited && r.code == 0) << r.err;
}

TEST(Lifecycle, ServesHealthTasksConfigAndStops) {
    Launcher l({"--plugin", plugin_path("good"), "--instance", "good-1"});
    ASSERT_TRUE(l.expect_hello().has_value());
    l.welcome({{"greeting", "hello"}});

    // The launcher subscribes to its own RPC topic.
    ASSERT_TRUE(l.pump_until([&] {
        for (const auto& e : l.seen()) {
            if (e.has_subscribe() && e.subscribe().pattern() == "control.collector.good.good-1")
                return true;
        }
        return false;
    }));

    auto health = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(health.has_value());
    EXPECT_EQ(health->status(), rpc::v1::STATUS_OK) << health->DebugString();
    EXPECT_EQ(health->responder(), "good-1");
    EXPECT_EQ(health->health().state(), rpc::v1::HEALTH_STATE_HEALTHY);
    EXPECT_EQ(detail(*health, "greeting"), "hello");  // Welcome.config reached the plugin
    EXPECT_EQ(detail(*health, "instance"), "good-1");
    EXPECT_EQ(detail(*health, "launcher.instance"), "good-1");
    EXPECT_THAT(detail(*health, "launcher.sandbox_applied"), HasSubstr("seccomp"));

    auto echo = l.task("echo", {{"pid", "1"}, {"name", "init"}});
    ASSERT_TRUE(echo.has_value());
    EXPECT_EQ(echo->status(), rpc::v1::STATUS_OK);
    EXPECT_EQ(echo->task_result().task_id(), "task-echo");
    EXPECT_EQ(echo->task_result().source(), "good-1");
    EXPECT_THAT(records(*echo), ::testing::UnorderedElementsAre("pid=1", "name=init"));

    auto unknown = l.task("nope");
    ASSERT_TRUE(unknown.has_value());
    EXPECT_EQ(unknown->status(), rpc::v1::STATUS_ERROR);
    EXPECT_THAT(unknown->error().message(), HasSubstr("unknown task kind"));

    // Events: inside the declared pattern they go out with increasing sequence numbers; outside
    // it they are refused with DE_ERR_DENIED and counted.
    auto emitted = l.task("emit", {{"count", "50"}});
    ASSERT_TRUE(emitted.has_value());
    EXPECT_THAT(records(*emitted), ::testing::ElementsAre("ok=50 denied=0 other=0"));
    auto denied = l.task("emit", {{"count", "3"}, {"topic", "events.process.lifecycle"}});
    ASSERT_TRUE(denied.has_value());
    EXPECT_THAT(records(*denied), ::testing::ElementsAre("ok=0 denied=3 other=0"));
    ASSERT_TRUE(l.pump_until([&] { return l.published("events.test.good").size() >= 50; }));
    auto events = l.published("events.test.good");
    ASSERT_EQ(events.size(), 50u);
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i].payload(), "event " + std::to_string(i));
        EXPECT_EQ(events[i].payload_type(), "daemoneye.test.Text");
        EXPECT_GT(events[i].timestamp().unix_nanos(), 0u);
        if (i > 0) {
            EXPECT_GT(events[i].correlation().sequence_number(),
                      events[i - 1].correlation().sequence_number());
        }
    }

    rpc::v1::RpcRequest update;
    update.set_operation(rpc::v1::OPERATION_UPDATE_CONFIG);
    (*update.mutable_config_update()->mutable_config())["greeting"] = "changed";
    auto ok = l.call(update);
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(ok->status(), rpc::v1::STATUS_OK) << ok->error().message();
    (*update.mutable_config_update()->mutable_config())["reject"] = "1";
    update.clear_correlation_id();
    auto refused = l.call(update);
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status(), rpc::v1::STATUS_ERROR);
    EXPECT_THAT(refused->error().message(), HasSubstr("key 'reject' is not allowed"));
    health = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(health.has_value());
    EXPECT_EQ(detail(*health, "greeting"), "changed");  // the refused update left the old config
    EXPECT_EQ(health->health().events_emitted(), 50u);
    EXPECT_EQ(detail(*health, "launcher.emit_errors"), "3");
    // The launcher's own bus client: every event went out through it, the two config updates
    // were answered by it (this health check is counted once its reply is written).
    EXPECT_GE(std::stoull(detail(*health, "launcher.bus.published")), 50u);
    EXPECT_GE(std::stoull(detail(*health, "launcher.bus.rpc_served")), 2u);
    EXPECT_EQ(detail(*health, "launcher.bus.rpc_malformed"), "0");
    EXPECT_EQ(detail(*health, "launcher.bus.broker_errors"), "0");

    auto caps = l.call(rpc::v1::OPERATION_GET_CAPABILITIES);
    ASSERT_TRUE(caps.has_value());
    EXPECT_THAT(caps->capabilities().capabilities(), ::testing::ElementsAre("echo", "emit"));

    // Heartbeats arrive on control.health.heartbeat at the Welcome's interval (200 ms).
    ASSERT_TRUE(l.pump_until([&] {
        return l.payloads<bus::v1::CollectorHeartbeat>("control.health.heartbeat").size() >= 2;
    }));
    auto hb = l.payloads<bus::v1::CollectorHeartbeat>("control.health.heartbeat").back();
    EXPECT_EQ(hb.instance_id(), "good-1");
    EXPECT_EQ(hb.plugin(), "good");
    EXPECT_EQ(hb.state(), "running");

    auto stop = l.call(rpc::v1::OPERATION_STOP);
    ASSERT_TRUE(stop.has_value());
    EXPECT_EQ(stop->status(), rpc::v1::STATUS_OK);
    EXPECT_EQ(stop->lifecycle().state(), "stopping");
    auto r = l.wait();
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, 0) << r.err;
    bool goodbye = false;
    for (const auto& e : l.seen()) goodbye |= e.has_goodbye();
    EXPECT_TRUE(goodbye);
    EXPECT_EQ(l.payloads<bus::v1::CollectorHeartbeat>("control.health.heartbeat").back().state(),
              "stopped");
}

TEST(Lifecycle, SigtermStopsGracefully) {
    Launcher l({"--plugin", plugin_path("good"), "--instance", "good-2"});
    ASSERT_TRUE(l.expect_hello().has_value());
    l.welcome();
    ASSERT_TRUE(l.call(rpc::v1::OPERATION_HEALTH_CHECK).has_value());
    l.signal(SIGTERM);
    auto r = l.wait();
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, 0);
    EXPECT_THAT(r.err, HasSubstr("SIGTERM"));
}

TEST(Lifecycle, LostBusExitsWithBusLost) {
    Launcher l({"--plugin", plugin_path("good"), "--instance", "good-3"});
    ASSERT_TRUE(l.expect_hello().has_value());
    l.welcome();
    ASSERT_TRUE(l.call(rpc::v1::OPERATION_HEALTH_CHECK).has_value());
    l.close_bus();
    auto r = l.wait();
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, kBusLost) << r.err;
    EXPECT_THAT(r.err, HasSubstr("bus lost"));
}

TEST(Lifecycle, RefusedHandshakeExitsWithBusLost) {
    Launcher l({"--plugin", plugin_path("good"), "--instance", "good-4"});
    ASSERT_TRUE(l.expect_hello().has_value());
    bus::v1::Envelope err;
    err.mutable_error()->set_code(bus::v1::ERROR_CODE_DENIED);
    err.mutable_error()->set_message("instance id does not match the fd's registration");
    l.send(err);
    auto r = l.wait();
    ASSERT_TRUE(r.exited);
    EXPECT_EQ(r.code, kBusLost);
    EXPECT_THAT(r.err, HasSubstr("instance id does not match"));
}

void expect_init_failure(const std::string& plugin, const std::string& message) {
    Launcher l({"--plugin", plugin_path(plugin), "--instance", plugin + "-0"});
    ASSERT_TRUE(l.expect_hello().has_value());
    l.welcome();
    auto r = l.wait();
    ASSERT_TRUE(r.exited) << "must exit cleanly, not crash (signal " << r.signal << ")\n" << r.err;
    EXPECT_EQ(r.code, kPluginInitFailure) << r.err;
    EXPECT_THAT(r.err, HasSubstr(message));
    EXPECT_THAT(r.err, HasSubstr("threw across the ABI boundary"));
    auto diags = l.payloads<bus::v1::Diagnostic>("control.health.diagnostics");
    ASSERT_FALSE(diags.empty());
    EXPECT_EQ(diags.front().severity(), "error");
    EXPECT_THAT(diags.front().message(), HasSubstr(message));
    EXPECT_EQ(diags.front().fields().at("phase"), "init");
}

TEST(Misbehaving, ThrowingConstructorIsReportedAndExitsCleanly) {
    expect_init_failure("throw_ctor", "constructor failed on purpose");
}

TEST(Misbehaving, ThrowingStartIsReportedAndExitsCleanly) {
    expect_init_failure("throw_start", "start failed on purpose");
}

TEST(Misbehaving, SegfaultKillsTheLauncherWithTheSignal) {
    Launcher l({"--plugin", plugin_path("segfault"), "--instance", "segv-0"});
    ASSERT_TRUE(l.expect_hello().has_value());
    l.welcome();
    auto r = l.wait();
    EXPECT_FALSE(r.exited) << "exit code " << r.code << "\n" << r.err;
    EXPECT_EQ(r.signal, SIGSEGV) << r.err;
}

}  // namespace
}  // namespace daemoneye::launcher::test
