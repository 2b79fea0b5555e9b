// The first-party collectors under the full sandbox with the permissions they declare: they must
// start, collect, answer health and tasks, and stop without a single sandbox violation. This is
// what keeps the seccomp base set and the per-permission allowances honest.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "launcher_harness.hpp"

namespace daemoneye::launcher::test {
namespace {

std::string collector(const std::string& name) {
    return std::string(DAEMONEYE_PLUGIN_DIR) + "/" + name + ".so";
}

void run_collector(const std::string& name, const std::vector<std::string>& permissions,
                   const std::map<std::string, std::string>& config, const std::string& task_kind) {
    if (!std::filesystem::exists(collector(name))) GTEST_SKIP() << collector(name) << " not built";
    std::vector<std::string> args = {"--plugin", collector(name), "--instance", name + "-0"};
    for (const auto& p : permissions) args.insert(args.end(), {"--permission", p});
    Launcher l(args);
    auto hello = l.expect_hello();
    ASSERT_TRUE(hello.has_value()) << l.wait().err;
    l.welcome(config);
    l.pump(1500ms);  // let it scan / watch for a while
    auto h = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value()) << l.wait().err;
    EXPECT_EQ(h->status(), rpc::v1::STATUS_OK) << h->error().message();
    EXPECT_NE(h->health().state(), rpc::v1::HEALTH_STATE_UNHEALTHY) << h->health().message();
    auto t = l.task(task_kind);
    ASSERT_TRUE(t.has_value());
    EXPECT_NE(t->status(), rpc::v1::STATUS_ERROR) << t->error().message();
    EXPECT_GT(t->task_result().records_size(), 0) << task_kind;
    EXPECT_EQ(detail(*h, "launcher.violations"), "")
        << "the sandbox denied something " << name << " needs";
    ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
    auto r = l.wait();
    EXPECT_TRUE(r.exited && r.code == 0) << "signal " << r.signal << "\n" << r.err;
    EXPECT_TRUE(l.payloads<bus::v1::SandboxViolation>("control.health.diagnostics").empty())
        << r.err;
    for (const auto& d : l.payloads<bus::v1::Diagnostic>("control.health.diagnostics")) {
        ADD_FAILURE() << "diagnostic: " << d.message();
    }
}

TEST(Collectors, ProcmondRunsCleanInTheSandbox) {
    // procmond probes the netlink process connector; granting proc.events lets it use it
    // (without the grant the probe is a reported violation, and it falls back to scanning).
    run_collector("procmond", {"proc.read", "proc.events"}, {{"scan_interval_ms", "200"}},
                  "enumerate_processes");
}

TEST(Collectors, NetmondRunsCleanInTheSandbox) {
    run_collector("netmond", {"net.read"}, {}, "list_listeners");
}

TEST(Collectors, FsmondRunsCleanInTheSandbox) {
    run_collector("fsmond", {"fs.watch:/etc"}, {{"paths.0", "/etc"}}, "recent_changes");
}

}  // namespace
}  // namespace daemoneye::launcher::test
