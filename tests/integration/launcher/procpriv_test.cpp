// proc.read and other processes' secrets: what a hostile proc.read plugin (tests/plugins/
// procsecrets.c) can reach from inside its sandbox through /proc/<pid>/{mem,environ,maps,exe,
// root,cwd}, for a process of another user (root) and one of the sandbox's own user (nobody).
// Real launcher, real processes; root-only checks skip with the reason. docs/launcher.md
// ("proc.read and other processes' secrets") has the analysis.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "launcher_harness.hpp"
#include "secret_holder.hpp"

namespace daemoneye::launcher::test {
namespace {

using ::testing::HasSubstr;

std::string random_marker() {
    std::random_device rd;
    return "de-secret-" + std::to_string(rd()) + std::to_string(rd());
}

// A world-readable host directory with a world-readable file holding the marker: outside the
// fsview (its /tmp is a private tmpfs), reachable only through some process's root/cwd link.
struct HostSecretDir {
    explicit HostSecretDir(const std::string& marker) {
        dir = "/tmp/de-procpriv-" + std::to_string(::getpid());
        std::filesystem::create_directories(dir);
        ::chmod(dir.c_str(), 0755);
        file = dir + "/secret.txt";
        std::ofstream(file) << marker << "\n";
        ::chmod(file.c_str(), 0644);
    }
    ~HostSecretDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string dir;
    std::string file;
};

void print_details(const rpc::v1::RpcResponse& h) {
    for (const char* tag : {"root", "peer"}) {
        for (const char* what :
             {"maps_errno", "mem_errno", "mem_found", "environ_errno", "environ_found", "exe_errno",
              "root_errno", "root_found", "cwd_errno", "cwd_found"}) {
            const std::string key = std::string(tag) + "." + what;
            std::cout << "[   INFO   ] " << key << "=" << detail(h, key) << "\n";
        }
    }
}

TEST(ProcReadSecrets, WhatAHostileProcReadPluginReachesOfOtherProcesses) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run processes as two users";
    const std::string marker = random_marker();
    HostSecretDir host(marker);
    SecretHolder root_proc(0, marker, host.dir);
    SecretHolder peer_proc(65534, marker, host.dir);
    ASSERT_TRUE(root_proc.ok && peer_proc.ok) << "could not start the secret holders";

    std::vector<std::string> args = {"--plugin",     plugin_path("procsecrets"),
                                     "--instance",   "procsecrets-0",
                                     "--permission", "proc.read"};
    Launcher l(args);
    auto hello = l.expect_hello();
    ASSERT_TRUE(hello.has_value()) << l.wait().err;
    l.welcome({{"root_pid", std::to_string(root_proc.pid)},
               {"peer_pid", std::to_string(peer_proc.pid)},
               {"marker", marker},
               {"root_file", host.file},
               {"cwd_file", "secret.txt"}});
    if (!layer(*hello, "user").applied() || !layer(*hello, "fsview").applied()) {
        ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
        l.wait();
        GTEST_SKIP() << "needs the user switch and the fsview: " << layer(*hello, "user").detail()
                     << " / " << layer(*hello, "fsview").detail();
    }
    auto h = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    print_details(*h);
    const std::string eacces = std::to_string(EACCES);

    // Another user's memory and environment: closed by plain file permissions (mode 0600/0400,
    // owned by the target's uid), whatever capabilities the plugin keeps (never
    // CAP_DAC_OVERRIDE), and mem/environ are never offered by the host either.
    EXPECT_EQ(detail(*h, "root.mem_errno"), eacces);
    EXPECT_EQ(detail(*h, "root.mem_found"), "0");
    EXPECT_EQ(detail(*h, "root.environ_errno"), eacces);
    EXPECT_EQ(detail(*h, "root.environ_found"), "0");
    // The seccomp filter refuses ptrace, process_vm_readv, pidfd_open/pidfd_getfd (base set).

    // Since ABI 1.2 the plugin keeps no capability: everything ptrace-protected of another
    // user's process is closed to it, the fsview bypass through root/cwd above all.
    EXPECT_EQ(detail(*h, "secrets.capeff"), "0000000000000000");
    EXPECT_EQ(detail(*h, "root.maps_errno"), eacces);
    EXPECT_EQ(detail(*h, "root.exe_errno"), eacces);
    EXPECT_EQ(detail(*h, "root.root_errno"), eacces);
    EXPECT_EQ(detail(*h, "root.root_found"), "0");
    EXPECT_EQ(detail(*h, "root.cwd_errno"), eacces);
    EXPECT_EQ(detail(*h, "root.cwd_found"), "0");
    // A dumpable process of the sandbox's own uid stays readable by any process of that uid,
    // capability or not (no Yama here): that is the cost of sharing a uid, see docs/launcher.md.
    std::cout << "[   INFO   ] same-uid peer readable without any capability: mem "
              << detail(*h, "peer.mem_found") << ", environ " << detail(*h, "peer.environ_found")
              << "\n";

    // ... while the host still answers what procmond needs, from the helper.
    EXPECT_EQ(detail(*h, "links.offered"), "1");
    EXPECT_EQ(detail(*h, "links.status"), "DE_OK");
    EXPECT_EQ(detail(*h, "links.calls"), "1");
    EXPECT_EQ(detail(*h, "links.exe_errno"), "0");
    EXPECT_EQ(detail(*h, "links.exe"), std::filesystem::canonical("/bin/sleep").string());
    EXPECT_EQ(detail(*h, "links.cwd_errno"), "0");
    EXPECT_EQ(detail(*h, "links.cwd"), host.dir);
    EXPECT_THAT(detail(*h, "links.mnt"), ::testing::StartsWith("mnt:["));
    EXPECT_EQ(detail(*h, "links.root_exe_errno"), "0");
    EXPECT_EQ(detail(*h, "links.fingerprint"), "1");
    EXPECT_EQ(detail(*h, "exe.status"), "DE_OK");
    EXPECT_EQ(detail(*h, "exe.elf"), "1") << "the passed descriptor reads the executable";
    EXPECT_EQ(detail(*h, "launcher.violations"), "");

    ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
    auto r = l.wait();
    EXPECT_TRUE(r.exited && r.code == 0) << r.err;
}

TEST(ProcReadSecrets, HelperRefusesMalformedAndUngrantedRequestsAndKeepsServing) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a process as root vs nobody";
    const std::string marker = random_marker();
    HostSecretDir host(marker);
    SecretHolder root_proc(0, marker, host.dir);
    ASSERT_TRUE(root_proc.ok);
    Launcher l({"--plugin", plugin_path("procsecrets"), "--instance", "procsecrets-0",
                "--permission", "proc.read"});
    auto hello = l.expect_hello();
    ASSERT_TRUE(hello.has_value()) << l.wait().err;
    l.welcome({{"root_pid", std::to_string(root_proc.pid)}});
    if (!layer(*hello, "owner_helper").applied()) {
        ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
        l.wait();
        GTEST_SKIP() << "helper not running: " << layer(*hello, "owner_helper").detail();
    }
    EXPECT_THAT(layer(*hello, "owner_helper").detail(), HasSubstr("process_links"));
    EXPECT_THAT(layer(*hello, "owner_helper").detail(), HasSubstr("cap_sys_ptrace"));
    EXPECT_THAT(layer(*hello, "owner_helper").detail(),
                ::testing::Not(HasSubstr("cap_dac_read_search")))
        << "proc.read alone: the helper needs only CAP_SYS_PTRACE";
    auto t = l.task("hostile");
    ASSERT_TRUE(t.has_value());
    ASSERT_EQ(t->status(), rpc::v1::STATUS_OK) << t->error().message();
    const auto recs = records(*t);
    ASSERT_EQ(recs.size(), 7u);
    for (std::size_t i = 0; i < 6; ++i) {
        EXPECT_THAT(recs[i], HasSubstr("status=1 text=request:")) << recs[i];  // BAD_REQUEST
    }
    EXPECT_THAT(recs[0], HasSubstr("exactly one pid"));
    EXPECT_THAT(recs[1], HasSubstr("pid 0 out of range"));
    EXPECT_THAT(recs[2], HasSubstr("pid 5000000 out of range"));
    EXPECT_THAT(recs[5], HasSubstr("not granted"));
    EXPECT_EQ(recs[6],
              "after status=DE_OK exe=" + std::filesystem::canonical("/bin/sleep").string());
    auto h = l.call(rpc::v1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.has_value());
    EXPECT_THAT(detail(*h, "launcher.owner_helper"), HasSubstr("running"));
    ASSERT_TRUE(l.call(rpc::v1::OPERATION_STOP).has_value());
    auto r = l.wait();
    EXPECT_TRUE(r.exited && r.code == 0) << r.err;
}

}  // namespace
}  // namespace daemoneye::launcher::test
