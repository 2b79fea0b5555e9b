#include "daemoneye/launcher/bridge/rpc_dispatch.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../test_descriptor.hpp"

namespace daemoneye::launcher {
namespace {

using testing::fake_descriptor;
using testing::g_fake;

struct Fixture {
    Fixture() {
        g_fake = {};
        manifest = *read_manifest(d);
        EXPECT_TRUE(plugin.create(config).ok());
        EXPECT_TRUE(plugin.start().ok());
    }
    de_plugin_descriptor d = fake_descriptor();
    EmitBuffer events{10, 1 << 20};
    HostContext host{"fake-0", "fake", TopicFilter({"events.test.#"}), events, 1024};
    ConfigStore config{{}};
    PluginInstance plugin{nullptr, d, host};
    Manifest manifest;
    SandboxReport sandbox{applied("seccomp", "on"), not_applied("landlock", "disabled")};
    RpcContext ctx{
        plugin, host, manifest, sandbox, 1 << 20, [] { return 5u; }, [] { return std::size_t{0}; }};

    RpcOutcome call(rpc::v1::Operation op) {
        rpc::v1::RpcRequest req;
        req.set_correlation_id("c1");
        req.set_operation(op);
        return handle_rpc(req, ctx);
    }
};

TEST(RpcDispatch, HealthMergesLauncherAndPluginDetails) {
    Fixture f;
    auto out = f.call(rpc::v1::OPERATION_HEALTH_CHECK);
    const auto& r = out.response;
    EXPECT_EQ(r.correlation_id(), "c1");
    EXPECT_EQ(r.responder(), "fake-0");
    EXPECT_EQ(r.status(), rpc::v1::STATUS_OK);
    EXPECT_EQ(r.health().state(), rpc::v1::HEALTH_STATE_DEGRADED);
    EXPECT_EQ(r.health().errors(), 2u);
    EXPECT_EQ(r.health().details().at("mode"), "scan");
    EXPECT_EQ(r.health().details().at("launcher.sandbox_applied"), "seccomp");
    EXPECT_EQ(r.health().details().at("launcher.sandbox_missing"), "landlock");
    EXPECT_FALSE(out.stop_requested);
}

TEST(RpcDispatch, HealthReportsTheBusLinksCounters) {
    Fixture f;
    EXPECT_EQ(f.call(rpc::v1::OPERATION_HEALTH_CHECK)
                  .response.health()
                  .details()
                  .count("launcher.bus.published"),
              0u);  // no link counters given: none reported

    f.ctx.bus_stats = [] { return std::optional<BusLinkStats>(BusLinkStats{120, 7, 2, 1, 4096}); };
    auto h = f.call(rpc::v1::OPERATION_HEALTH_CHECK).response.health();
    EXPECT_EQ(h.details().at("launcher.bus.published"), "120");
    EXPECT_EQ(h.details().at("launcher.bus.rpc_served"), "7");
    EXPECT_EQ(h.details().at("launcher.bus.rpc_malformed"), "2");
    EXPECT_EQ(h.details().at("launcher.bus.broker_errors"), "1");
    EXPECT_EQ(h.details().at("launcher.bus.outbound_bytes"), "4096");

    f.ctx.bus_stats = [] { return std::optional<BusLinkStats>(); };
    h = f.call(rpc::v1::OPERATION_HEALTH_CHECK).response.health();
    EXPECT_THAT(h.details().at("launcher.bus"), ::testing::HasSubstr("did not answer"));
    EXPECT_EQ(h.details().count("launcher.bus.published"), 0u);
}

TEST(RpcDispatch, StopIsAnsweredThenRequested) {
    Fixture f;
    auto out = f.call(rpc::v1::OPERATION_STOP);
    EXPECT_TRUE(out.stop_requested);
    EXPECT_EQ(out.response.status(), rpc::v1::STATUS_OK);
    EXPECT_EQ(out.response.lifecycle().state(), "stopping");
}

TEST(RpcDispatch, TasksConfigAndCapabilities) {
    Fixture f;
    rpc::v1::RpcRequest req;
    req.set_operation(rpc::v1::OPERATION_EXECUTE_TASK);
    req.mutable_task()->set_kind("echo");
    auto task = handle_rpc(req, f.ctx).response;
    EXPECT_EQ(task.status(), rpc::v1::STATUS_OK);
    EXPECT_EQ(task.task_result().records_size(), 10);

    req.Clear();
    req.set_operation(rpc::v1::OPERATION_EXECUTE_TASK);
    auto missing = handle_rpc(req, f.ctx).response;
    EXPECT_EQ(missing.status(), rpc::v1::STATUS_ERROR);
    EXPECT_EQ(missing.error().code(), rpc::v1::ERROR_CODE_INVALID_OPERATION);

    req.Clear();
    req.set_operation(rpc::v1::OPERATION_UPDATE_CONFIG);
    (*req.mutable_config_update()->mutable_config())["value"] = "9";
    auto cfg = handle_rpc(req, f.ctx).response;
    EXPECT_EQ(cfg.status(), rpc::v1::STATUS_OK);
    EXPECT_STREQ(f.host.api()->config_get(f.host.api()->host_ctx, "value"), "9");

    auto caps = f.call(rpc::v1::OPERATION_GET_CAPABILITIES).response;
    EXPECT_EQ(caps.capabilities().name(), "fake");
    EXPECT_THAT(caps.capabilities().permissions(), ::testing::ElementsAre("proc.read"));

    auto restart = f.call(rpc::v1::OPERATION_RESTART).response;
    EXPECT_EQ(restart.status(), rpc::v1::STATUS_ERROR);
    EXPECT_THAT(restart.error().message(), ::testing::HasSubstr("control.collector.fake"));
}

}  // namespace
}  // namespace daemoneye::launcher
