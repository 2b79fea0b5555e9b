// The first-party collectors under the full sandbox with the permissions they declare: they must
// start, collect, answer health and tasks, and stop without a single sandbox violation. This is
// what keeps the seccomp base set and the per-permission allowances honest.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>

#include "daemoneye/events/v1/events.pb.h"

#include "foreign_listener.hpp"
#include "launcher_harness.hpp"
#include "secret_holder.hpp"

namespace daemoneye::launcher::test {
namespace {

std::string collector(const std::string& name) {
    return std::string(DAEMONEYE_PLUGIN_DIR) + "/" + name + ".so";
}

void run_collector(const std::string& name, const std::vector<std::string>& permissions,
                   const std::map<std::string, std::string>& config, const std::string& task_kind,
                   const std::map<std::string, std::string>& task_params = {},
                   const std::function<void(const rpc::v1::TaskResult&)>& check = {}) {
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
    auto t = l.task(task_kind, task_params);
    ASSERT_TRUE(t.has_value());
    EXPECT_NE(t->status(), rpc::v1::STATUS_ERROR) << t->error().message();
    EXPECT_GT(t->task_result().records_size(), 0) << task_kind;
    if (check) check(t->task_result());
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
    // This test process runs as root, the collector as nobody: its exe path and hash come from
    // another user's /proc/<pid>/exe, which is what Landlock used to break.
    char self[512] = {};
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ASSERT_GT(n, 0);
    const std::string own_exe(self, static_cast<std::size_t>(n));
    run_collector("procmond", {"proc.read", "proc.events"}, {{"scan_interval_ms", "200"}},
                  "enumerate_processes", {{"pid", std::to_string(getpid())}},
                  [&](const rpc::v1::TaskResult& result) {
                      bool found = false;
                      for (const auto& rec : result.records()) {
                          events::v1::ProcessBatch batch;
                          ASSERT_EQ(rec.type(), "daemoneye.events.v1.ProcessBatch");
                          ASSERT_TRUE(batch.ParseFromString(rec.data()));
                          for (const auto& p : batch.processes()) {
                              if (p.pid() != static_cast<std::uint32_t>(getpid())) continue;
                              found = true;
                              EXPECT_EQ(p.exe(), own_exe);
                              EXPECT_EQ(p.exe_sha256().size(), 64u) << "no hash of " << p.exe();
                          }
                      }
                      EXPECT_TRUE(found) << "own pid not enumerated";
                  });
}

std::string sha256_of(const std::string& path) {
    std::string cmd = "sha256sum '" + path + "'";
    FILE* f = ::popen(cmd.c_str(), "r");
    if (f == nullptr) return "";
    char buf[128] = {};
    const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
    ::pclose(f);
    return ok ? std::string(buf).substr(0, 64) : "";
}

// proc.read keeps no capability (ABI 1.2): another user's exe path, cwd, namespaces and exe hash
// reach procmond only through the launcher's helper. The collector runs as user daemon (uid 1);
// the process it must describe runs as nobody (a child that switched uid and exec'd sleep), so
// neither is the other's or root's.
TEST(Collectors, ProcmondDescribesAnotherUsersProcessThroughTheHelper) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run processes as two users";
    if (!std::filesystem::exists(collector("procmond"))) GTEST_SKIP() << "procmond not built";
    const std::string dir = "/tmp/de-procmond-cwd-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    ::chmod(dir.c_str(), 0700);  // not even listable by the collector's user
    ::chown(dir.c_str(), 65534, 65534);
    SecretHolder other(65534, "x", dir);
    ASSERT_TRUE(other.ok) << "could not start a process as uid 65534";
    const std::string sleep_exe = std::filesystem::canonical("/bin/sleep").string();
    Launcher l({"--plugin", collector("procmond"), "--instance", "procmond-0", "--permission",
                "proc.read", "--permission", "proc.events", "--user", "daemon"});
    auto hello = l.expect_hello();
    ASSERT_TRUE(hello.has_value()) << l.wait().err;
    l.welcome({{"scan_interval_ms", "200"}});
    if (!layer(*hello, "owner_helper").applied() || !layer(*hello, "user").applied()) {
        ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
        l.wait();
        std::filesystem::remove_all(dir);
        GTEST_SKIP() << "needs the helper and the user switch: "
                     << layer(*hello, "owner_helper").detail();
    }
    EXPECT_THAT(layer(*hello, "caps").detail(), ::testing::HasSubstr("permitted+effective: "
                                                                     "cap_net_admin"))
        << "proc.events keeps CAP_NET_ADMIN, proc.read nothing";
    l.pump(1000ms);
    auto t = l.task("enumerate_processes", {{"pid", std::to_string(other.pid)}});
    ASSERT_TRUE(t.has_value());
    ASSERT_EQ(t->status(), rpc::v1::STATUS_OK) << t->error().message();
    bool found = false;
    for (const auto& rec : t->task_result().records()) {
        events::v1::ProcessBatch batch;
        ASSERT_TRUE(batch.ParseFromString(rec.data()));
        for (const auto& p : batch.processes()) {
            if (p.pid() != static_cast<std::uint32_t>(other.pid)) continue;
            found = true;
            EXPECT_EQ(p.uid(), 65534u);
            EXPECT_EQ(p.exe(), sleep_exe);
            EXPECT_EQ(p.cwd(), dir);
            EXPECT_EQ(p.exe_sha256(), sha256_of(sleep_exe));
            EXPECT_TRUE(p.namespaces().contains("mnt")) << "namespaces from the helper";
        }
    }
    EXPECT_TRUE(found) << "pid " << other.pid << " not enumerated";
    auto h = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    EXPECT_THAT(detail(*h, "launcher.owner_helper"), ::testing::HasSubstr("running"));
    EXPECT_NE(detail(*h, "launcher.owner_helper.process_calls"), "0");
    // CAP_NET_ADMIN (proc.events) is all the connector needs: procmond reports which mode runs.
    std::cout << "[   INFO   ] procmond mode=" << detail(*h, "mode")
              << " mode_reason=" << detail(*h, "mode_reason") << "\n";
    EXPECT_EQ(detail(*h, "launcher.violations"), "");
    ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
    auto r = l.wait();
    EXPECT_TRUE(r.exited && r.code == 0) << r.err;
    std::filesystem::remove_all(dir);
}

TEST(Collectors, NetmondRunsCleanInTheSandbox) {
    // A listener owned by this (root) process: netmond, as nobody, must resolve its owner through
    // /proc/<pid>/fd.
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(fd, 1), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const unsigned port = ntohs(addr.sin_port);
    run_collector("netmond", {"net.read"}, {}, "list_listeners", {},
                  [&](const rpc::v1::TaskResult& result) {
                      bool found = false;
                      for (const auto& rec : result.records()) {
                          events::v1::SocketBatch batch;
                          ASSERT_EQ(rec.type(), "daemoneye.events.v1.SocketBatch");
                          ASSERT_TRUE(batch.ParseFromString(rec.data()));
                          for (const auto& s : batch.sockets()) {
                              if (s.local_port() != port) continue;
                              found = true;
                              EXPECT_EQ(s.pid(), static_cast<std::uint32_t>(getpid()))
                                  << "owner of port " << port << " not resolved";
                          }
                      }
                      EXPECT_TRUE(found) << "own listener on port " << port << " not listed";
                  });
    close(fd);
}

TEST(Collectors, NetmondResolvesAnotherUsersListenerThroughTheOwnerHelper) {
    // The listener belongs to a process running as nobody that is not dumpable (root owns its
    // /proc/<pid>/fd): netmond, which keeps no capability under net.read, can only learn the
    // owner from the launcher's socket-owner helper (de_host_api::socket_owners).
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a listener as another user";
    ForeignListener foreign;
    ASSERT_TRUE(foreign.ok) << "could not start a listener as uid 65534";
    run_collector("netmond", {"net.read"}, {}, "list_listeners",
                  {{"port", std::to_string(foreign.port)}}, [&](const rpc::v1::TaskResult& result) {
                      bool found = false;
                      for (const auto& rec : result.records()) {
                          events::v1::SocketBatch batch;
                          ASSERT_TRUE(batch.ParseFromString(rec.data()));
                          for (const auto& s : batch.sockets()) {
                              if (s.local_port() != foreign.port) continue;
                              found = true;
                              EXPECT_EQ(s.pid(), static_cast<std::uint32_t>(foreign.pid));
                              EXPECT_EQ(s.uid(), 0u) << "created by root before the uid change";
                              EXPECT_FALSE(s.exe().empty()) << "exe comes from the helper too";
                              EXPECT_FALSE(s.process_name().empty());
                          }
                      }
                      EXPECT_TRUE(found) << "listener on port " << foreign.port << " not listed";
                  });
}

TEST(Collectors, FsmondRunsCleanInTheSandbox) {
    run_collector("fsmond", {"fs.watch:/etc"}, {{"paths.0", "/etc"}}, "recent_changes");
}

}  // namespace
}  // namespace daemoneye::launcher::test
