// net.read privilege separation (launcher/src/privsep/): the sandboxed plugin keeps no capability,
// cannot reach other users' /proc/<pid>/fd or host files through /proc/<pid>/root, and still gets
// every user's socket owners from the launcher's socket-owner helper through
// de_host_api::socket_owners; the helper shrugs off hostile requests and dies with the launcher.
// Real launcher, real helper process, real /proc; root-only checks skip with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemoneye/plugin_api.h"
#include "foreign_listener.hpp"
#include "launcher_harness.hpp"

namespace daemoneye::launcher::test {
namespace {

using ::testing::HasSubstr;

std::string status_field(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(field + ":", 0) == 0) {
            auto v = line.substr(field.size() + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    }
    return "";
}

// The helper's pid, from its layer's detail ("pid N, ...").
pid_t helper_pid(const bus::v1::Hello& hello) {
    const auto l = layer(hello, "owner_helper");
    if (!l.applied()) return -1;
    std::istringstream in(l.detail());
    std::string word;
    pid_t pid = -1;
    in >> word >> pid;
    return word == "pid" ? pid : -1;
}

// Gone, or a zombie nobody has reaped yet: either way no longer running.
bool process_gone(pid_t pid) {
    const std::string state = status_field(pid, "State");
    return state.empty() || state[0] == 'Z' || state[0] == 'X';
}

bool wait_gone(pid_t pid, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!process_gone(pid)) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
    return true;
}

void stop(Launcher& l) {
    ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
    auto r = l.wait();
    EXPECT_TRUE(r.exited && r.code == 0) << "signal " << r.signal << " code " << r.code << "\n"
                                         << r.err;
}

#define SKIP_UNLESS_PRIVSEP(s)                                                                   \
    do {                                                                                         \
        if (!layer((s).hello, "user").applied()) {                                               \
            stop(*(s).launcher);                                                                 \
            GTEST_SKIP() << "needs root (user switch): " << layer((s).hello, "user").detail();   \
        }                                                                                        \
        if (!layer((s).hello, "owner_helper").applied()) {                                       \
            stop(*(s).launcher);                                                                 \
            GTEST_SKIP() << "helper not running: " << layer((s).hello, "owner_helper").detail(); \
        }                                                                                        \
    } while (0)

TEST(Privsep, NetReadPluginKeepsNoCapabilityAndCannotReachHostFilesThroughProc) {
    auto s = start("probe", {"--permission", "net.read"});
    if (!layer(s.hello, "user").applied()) {
        stop(*s.launcher);
        GTEST_SKIP() << "capability drop needs root: " << layer(s.hello, "user").detail();
    }
    auto& l = *s.launcher;
    auto h = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(detail(*h, "probe.capeff"), "0000000000000000");
    EXPECT_EQ(detail(*h, "probe.capprm"), "0000000000000000");
    EXPECT_EQ(detail(*h, "probe.capbnd"), "0000000000000000");
    EXPECT_EQ(detail(*h, "probe.uid"), "65534");
    // The test process (root) is the launcher's parent: its root link leads to the host's /, and
    // without CAP_DAC_READ_SEARCH/CAP_SYS_PTRACE the kernel refuses it.
    EXPECT_EQ(detail(*h, "probe.open_parent_root_shadow_errno"), std::to_string(EACCES))
        << "/proc/<pid>/root/etc/shadow must not be readable with net.read";
    EXPECT_EQ(detail(*h, "probe.parent_exe_open_errno"), std::to_string(EACCES));
    EXPECT_THAT(layer(s.hello, "caps").detail(), HasSubstr("permitted+effective: none"));
    stop(l);
}

TEST(Privsep, HelperIsReportedWithItsOwnConfinementAndHoldsOnlyTwoCapabilities) {
    auto s = start("owners", {"--permission", "net.read"});
    SKIP_UNLESS_PRIVSEP(s);
    auto& l = *s.launcher;
    ASSERT_FALSE(s.hello.sandbox().empty());
    EXPECT_EQ(s.hello.sandbox(0).name(), "owner_helper") << "spawned before the other layers";
    const auto detail_text = layer(s.hello, "owner_helper").detail();
    EXPECT_THAT(detail_text, HasSubstr("cap_dac_read_search,cap_sys_ptrace"));
    EXPECT_THAT(detail_text, HasSubstr("seccomp"));
    EXPECT_THAT(layer(s.hello, "fds").detail(), HasSubstr("(socket-owner helper)"));
    const pid_t helper = helper_pid(s.hello);
    ASSERT_GT(helper, 0) << detail_text;
    EXPECT_EQ(status_field(helper, "PPid"), std::to_string(l.pid()));
    EXPECT_EQ(status_field(helper, "Name"), "de-owner-helper");
    // CAP_DAC_READ_SEARCH (2) and CAP_SYS_PTRACE (19), nothing else, nothing to regain.
    EXPECT_EQ(status_field(helper, "CapEff"), "0000000000080004");
    EXPECT_EQ(status_field(helper, "CapPrm"), "0000000000080004");
    EXPECT_EQ(status_field(helper, "CapBnd"), "0000000000080004");
    EXPECT_EQ(status_field(helper, "CapInh"), "0000000000000000");
    EXPECT_EQ(status_field(helper, "CapAmb"), "0000000000000000");
    EXPECT_THAT(status_field(helper, "Uid"), HasSubstr("65534"));
    EXPECT_EQ(status_field(helper, "NoNewPrivs"), "1");
    EXPECT_EQ(status_field(helper, "Seccomp"), "2");
    // Only stdio and its socket.
    int fds = 0;
    for (const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(helper) + "/fd")) {
        (void)e;
        ++fds;
    }
    EXPECT_LE(fds, 5) << "stdio, the helper socket, its /proc descriptor";
    stop(l);
    EXPECT_TRUE(wait_gone(helper, 30s)) << "the helper outlived a clean stop";
}

TEST(Privsep, AnotherUsersSocketOwnerComesFromTheHelperNotFromTheSandbox) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a listener as another user";
    ForeignListener foreign;
    ASSERT_TRUE(foreign.ok) << "could not start a listener as uid 65534";
    auto s =
        start("owners", {"--permission", "net.read"},
              {{"inode", std::to_string(foreign.inode)}, {"pid", std::to_string(foreign.pid)}});
    SKIP_UNLESS_PRIVSEP(s);
    auto& l = *s.launcher;
    auto h = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(detail(*h, "owners.offered"), "1");
    EXPECT_EQ(detail(*h, "owners.host_abi"),
              std::to_string(DE_PLUGIN_ABI_MAJOR) + "." + std::to_string(DE_PLUGIN_ABI_MINOR));
    EXPECT_EQ(detail(*h, "owners.status"), "DE_OK");
    EXPECT_EQ(detail(*h, "owners.calls"), "1") << "only the listener: 0 and 1 have no owner";
    EXPECT_EQ(detail(*h, "owners.pid"), std::to_string(foreign.pid));
    char self[512] = {};
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    ASSERT_GT(n, 0);
    EXPECT_EQ(detail(*h, "owners.exe"),
              std::string(self, static_cast<std::size_t>(n)).substr(0, 255));
    EXPECT_FALSE(detail(*h, "owners.comm").empty());
    // The plugin itself cannot look: the listener's fd directory and its root link are closed.
    EXPECT_EQ(detail(*h, "owners.fd_dir_errno"), std::to_string(EACCES));
    EXPECT_EQ(detail(*h, "owners.root_shadow_errno"), std::to_string(EACCES));
    EXPECT_EQ(detail(*h, "launcher.violations"), "");
    stop(l);
}

TEST(Privsep, HelperRejectsMalformedAndOversizedRequestsAndKeepsServing) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a listener as another user";
    ForeignListener foreign;
    ASSERT_TRUE(foreign.ok);
    auto s =
        start("owners", {"--permission", "net.read"},
              {{"inode", std::to_string(foreign.inode)}, {"pid", std::to_string(foreign.pid)}});
    SKIP_UNLESS_PRIVSEP(s);
    auto& l = *s.launcher;
    const pid_t helper = helper_pid(s.hello);
    auto t = l.task("hostile");
    ASSERT_TRUE(t.has_value());
    ASSERT_EQ(t->status(), rpc::v1::STATUS_OK) << t->error().message();
    const auto recs = records(*t);
    ASSERT_EQ(recs.size(), 6u);
    for (const char* what :
         {"short", "oversized", "too_many", "length_mismatch", "bad_kind", "bad_magic"}) {
        bool seen = false;
        for (const auto& r : recs) {
            if (r.rfind(std::string(what) + " ", 0) != 0) continue;
            seen = true;
            EXPECT_THAT(r, HasSubstr("status=1 text=request:")) << r;  // BAD_REQUEST, says why
        }
        EXPECT_TRUE(seen) << what;
    }
    EXPECT_THAT(recs[1], HasSubstr("over the limit"));
    EXPECT_THAT(recs[2], HasSubstr("5000 inodes"));
    EXPECT_FALSE(process_gone(helper)) << "the helper died of a hostile request";
    // Still serving, with the right answer.
    auto h = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(detail(*h, "owners.status"), "DE_OK");
    EXPECT_EQ(detail(*h, "owners.pid"), std::to_string(foreign.pid));
    stop(l);
}

TEST(Privsep, HelperDiesWithTheLauncher) {
    auto s = start("owners", {"--permission", "net.read"});
    if (!layer(s.hello, "owner_helper").applied()) {
        stop(*s.launcher);
        GTEST_SKIP() << "helper not running: " << layer(s.hello, "owner_helper").detail();
    }
    auto& l = *s.launcher;
    const pid_t helper = helper_pid(s.hello);
    ASSERT_GT(helper, 0);
    ASSERT_FALSE(process_gone(helper));
    l.signal(SIGKILL);  // no clean shutdown: only PR_SET_PDEATHSIG / EOF can end the helper
    auto r = l.wait();
    EXPECT_EQ(r.signal, SIGKILL);
    EXPECT_TRUE(wait_gone(helper, 30s)) << "helper " << helper << " outlived its launcher";
}

// No zombie: the sandboxed launcher may wait4 for its helper (and only for it), reaps it as soon
// as it dies, says so on the diagnostics topic, and its health check reports the helper plainly.
bool process_absent(pid_t pid) {
    return ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0;
}

TEST(Privsep, ADeadHelperIsReapedAndReportedInTheHealthCheck) {
    auto s = start("owners", {"--permission", "net.read"});
    SKIP_UNLESS_PRIVSEP(s);
    auto& l = *s.launcher;
    const pid_t helper = helper_pid(s.hello);
    ASSERT_GT(helper, 0);
    EXPECT_THAT(layer(s.hello, "seccomp").detail(),
                HasSubstr("wait4(" + std::to_string(helper) + ", the socket-owner helper)"));
    auto h = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(detail(*h, "launcher.owner_helper"), "running (pid " + std::to_string(helper) + ")");
    // The plugin's lookup (of inode 1, which no socket has: a whole walk) went through the
    // helper, whose walk counters came back with the answer.
    EXPECT_EQ(detail(*h, "owners.status"), "DE_OK");
    EXPECT_EQ(detail(*h, "launcher.owner_helper.lookups"), "1");
    EXPECT_NE(detail(*h, "launcher.owner_helper.fds_examined"), "0");
    EXPECT_FALSE(detail(*h, "launcher.owner_helper.unreadable_pids").empty());
    EXPECT_EQ(h->health().state(), rpc::v1::HEALTH_STATE_HEALTHY);

    ASSERT_EQ(::kill(helper, SIGKILL), 0);
    // Reaped by the launcher (a zombie would keep its /proc entry), then reported once.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!process_absent(helper) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(process_absent(helper))
        << "helper " << helper << " state " << status_field(helper, "State") << " not reaped";
    auto diagnostic = [&] {
        for (const auto& d : l.payloads<bus::v1::Diagnostic>("control.health.diagnostics")) {
            if (d.fields().count("phase") != 0 && d.fields().at("phase") == "owner_helper")
                return true;
        }
        return false;
    };
    EXPECT_TRUE(l.pump_until(diagnostic, 60s)) << "no diagnostic about the dead helper";
    h = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    EXPECT_THAT(detail(*h, "launcher.owner_helper"),
                HasSubstr("pid " + std::to_string(helper) + " killed by signal 9 (SIGKILL)"));
    EXPECT_EQ(h->health().state(), rpc::v1::HEALTH_STATE_DEGRADED);
    EXPECT_THAT(h->health().message(), HasSubstr("socket-owner helper"));
    EXPECT_EQ(detail(*h, "launcher.violations"), "") << "wait4 on the helper is allowed";
    EXPECT_NE(detail(*h, "owners.status"), "DE_OK") << "the plugin's lookup fails cleanly";
    stop(l);
}

TEST(Privsep, NoHelperWithoutNetReadOrUnderNoSandbox) {
    {
        auto s = start("probe", {});
        EXPECT_EQ(layer(s.hello, "owner_helper").detail(), "absent");
        stop(*s.launcher);
    }
    // --no-sandbox: the plugin runs with the launcher's own privileges and reads /proc itself.
    auto s = start("owners", {"--no-sandbox", "--permission", "net.read"}, {{"inode", "1"}});
    EXPECT_EQ(layer(s.hello, "owner_helper").detail(), "absent");
    auto h = s.launcher->call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(detail(*h, "owners.offered"), "0");
    EXPECT_EQ(detail(*h, "owners.status"), "DE_ERR_UNSUPPORTED");
    stop(*s.launcher);
}

TEST(Privsep, DescribeListsTheHelper) {
    auto r = run_launcher({"--describe", plugin_path("owners"), "--permission", "net.read"});
    ASSERT_TRUE(r.exited) << r.err;
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("{\"name\":\"owner_helper\",\"applied\":"));
    EXPECT_THAT(r.out, HasSubstr("\"abi\":\"" + std::to_string(DE_PLUGIN_ABI_MAJOR) + "." +
                                 std::to_string(DE_PLUGIN_ABI_MINOR) + "\""));
}

TEST(Privsep, APluginBuiltForAbi10StillLoadsAndRuns) {
    auto s = start("abi_1_0", {});
    EXPECT_EQ(s.hello.manifest().abi_minor(), 0u);
    auto h = s.launcher->call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(detail(*h, "old.host_abi"),
              std::to_string(DE_PLUGIN_ABI_MAJOR) + "." + std::to_string(DE_PLUGIN_ABI_MINOR));
    EXPECT_EQ(detail(*h, "old.instance"), "abi_1_0-0");
    stop(*s.launcher);
}

}  // namespace
}  // namespace daemoneye::launcher::test
