// Diff engine and anomaly rules over hand-built process tables. Tests
// plugins/procmond/src/diff_engine.cpp and anomaly_rules.cpp.
#include "diff_engine.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace procmond;

namespace {

Process proc(int pid, int ppid, const std::string& name, const std::string& exe,
             std::uint64_t start = 1000, std::uint32_t uid = 1000) {
    Process p;
    p.pid = pid;
    p.ppid = ppid;
    p.name = name;
    p.exe = exe;
    p.argv = {exe};
    p.uid = p.euid = uid;
    p.start_time_unix_nanos = start;
    p.state = 'S';
    p.exe_readable = !exe.empty();
    p.exe_identity = {1, static_cast<std::uint64_t>(std::hash<std::string>{}(exe)), 5, 5, 100};
    p.exe_sha256 = "aa";
    return p;
}

ProcessTable table(std::initializer_list<Process> ps) {
    ProcessTable t;
    for (const auto& p : ps) t.emplace(p.pid, p);
    return t;
}

std::size_t count(const std::vector<ProcessChange>& cs, ChangeKind k) {
    return static_cast<std::size_t>(
        std::count_if(cs.begin(), cs.end(), [&](const ProcessChange& c) { return c.kind == k; }));
}

const ProcessChange* find(const std::vector<ProcessChange>& cs, ChangeKind k) {
    for (const auto& c : cs) {
        if (c.kind == k) return &c;
    }
    return nullptr;
}

}  // namespace

TEST(DiffEngine, BaselineHasNoLifecycleEvents) {
    DiffEngine d;
    auto base = d.baseline(table(
        {proc(1, 0, "init", "/sbin/init", 1, 0), proc(10, 1, "sshd", "/usr/sbin/sshd", 2, 0)}));
    EXPECT_EQ(count(base, ChangeKind::kStarted), 0u);
}

TEST(DiffEngine, StartedAndExited) {
    DiffEngine d;
    const auto a =
        table({proc(1, 0, "init", "/sbin/init", 1, 0), proc(20, 1, "sleep", "/usr/bin/sleep")});
    const auto b =
        table({proc(1, 0, "init", "/sbin/init", 1, 0), proc(21, 1, "cat", "/usr/bin/cat")});
    auto cs = d.diff(a, b);
    ASSERT_EQ(count(cs, ChangeKind::kStarted), 1u);
    ASSERT_EQ(count(cs, ChangeKind::kExited), 1u);
    EXPECT_EQ(find(cs, ChangeKind::kStarted)->process.pid, 21);
    EXPECT_EQ(find(cs, ChangeKind::kExited)->process.pid, 20);
    EXPECT_TRUE(d.diff(b, b).empty());
}

TEST(DiffEngine, PidReuseIsExitPlusStart) {
    DiffEngine d;
    auto cs = d.diff(table({proc(20, 1, "sleep", "/usr/bin/sleep", 1000)}),
                     table({proc(20, 1, "sleep", "/usr/bin/sleep", 2000)}));
    EXPECT_EQ(count(cs, ChangeKind::kExited), 1u);
    EXPECT_EQ(count(cs, ChangeKind::kStarted), 1u);
    EXPECT_EQ(count(cs, ChangeKind::kExec), 0u);
}

TEST(DiffEngine, ExecIsSamePidAndStartNewImage) {
    DiffEngine d;
    auto before = proc(30, 1, "bash", "/usr/bin/bash");
    auto after = proc(30, 1, "ls", "/usr/bin/ls");
    auto cs = d.diff(table({before}), table({after}));
    ASSERT_EQ(count(cs, ChangeKind::kExec), 1u);
    const auto* e = find(cs, ChangeKind::kExec);
    EXPECT_EQ(e->previous.exe, "/usr/bin/bash");
    EXPECT_EQ(e->process.exe, "/usr/bin/ls");
    EXPECT_EQ(e->changed_fields.front(), "exe");
    EXPECT_EQ(count(cs, ChangeKind::kStarted), 0u);
}

// A record read while the process was mid-execve already names the new exe (with the old
// comm and no argv); the kernel's exec event that follows must still be an EXEC, not a
// METADATA change. So must a process re-executing its own file.
TEST(DiffEngine, AKernelReportedExecIsAnExecEvenWhenTheExeLooksUnchanged) {
    DiffEngine d;
    auto torn = proc(31, 1, "test_runner", "/tmp/marker-sleep");
    torn.argv.clear();
    torn.image_fingerprint = 0;  // the new address layout not yet set up
    auto after = proc(31, 1, "marker-sleep", "/tmp/marker-sleep");
    after.argv = {"marker", "3600"};
    after.image_fingerprint = 0x1234;
    std::vector<ProcessChange> cs;
    d.diff_one(&torn, &after, table({after}), cs, /*exec_seen=*/true);
    ASSERT_EQ(count(cs, ChangeKind::kExec), 1u);
    EXPECT_EQ(count(cs, ChangeKind::kMetadata), 0u);
    const auto* e = find(cs, ChangeKind::kExec);
    EXPECT_EQ(e->process.argv, (std::vector<std::string>{"marker", "3600"}));
    EXPECT_EQ(e->changed_fields.front(), "exe");

    // Without the kernel's word (a scan), the same pair is a metadata change, as before.
    cs.clear();
    d.diff_one(&torn, &after, table({after}), cs);
    EXPECT_EQ(count(cs, ChangeKind::kExec), 0u);
    EXPECT_EQ(count(cs, ChangeKind::kMetadata), 1u);

    // bash doing `exec bash`: same file, new image (new layout).
    cs.clear();
    auto shell = proc(32, 1, "bash", "/usr/bin/bash");
    shell.image_fingerprint = 0x77;
    auto reshell = shell;
    reshell.image_fingerprint = 0x78;
    d.diff_one(&shell, &reshell, table({reshell}), cs, /*exec_seen=*/true);
    EXPECT_EQ(count(cs, ChangeKind::kExec), 1u);

    // A scan already saw the new image before the queued exec event was handled: no duplicate.
    cs.clear();
    d.diff_one(&reshell, &reshell, table({reshell}), cs, /*exec_seen=*/true);
    EXPECT_TRUE(cs.empty());
}

TEST(DiffEngine, MetadataListsChangedFieldsButIgnoresVolatileOnes) {
    DiffEngine d;
    auto before = proc(40, 1, "worker", "/usr/bin/worker");
    auto after = before;
    after.uid = 0;
    after.argv = {"/usr/bin/worker", "--x"};
    after.rss_bytes = 999;
    after.state = 'R';
    auto cs = d.diff(table({before}), table({after}));
    const auto* m = find(cs, ChangeKind::kMetadata);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->changed_fields, (std::vector<std::string>{"argv", "uid"}));

    auto only_volatile = before;
    only_volatile.rss_bytes = 12345;
    only_volatile.cpu_user_ms = 77;
    EXPECT_TRUE(d.diff(table({before}), table({only_volatile})).empty());
}

TEST(DiffEngine, KernelThreadRenamesAreCountedNotReported) {
    auto kworker = [](const std::string& name, std::uint32_t uid = 0) {
        Process p = proc(42, 2, name, "", 1000, uid);
        p.argv.clear();
        p.kernel_thread = true;
        return p;
    };
    DiffEngine d;
    auto t1 = table({kworker("kworker/u8:3-events")});
    auto t2 = table({kworker("kworker/u8:3-writeback")});
    EXPECT_TRUE(d.diff(t1, t2).empty());
    EXPECT_EQ(d.kthread_renames(), 1u);
    // Anything besides the name still is a change, and a user process's rename always is.
    auto t3 = table({kworker("kworker/u8:3-flush", 5)});
    auto cs = d.diff(t2, t3);
    ASSERT_EQ(count(cs, ChangeKind::kMetadata), 1u);
    EXPECT_EQ(cs[0].changed_fields, (std::vector<std::string>{"name", "uid", "euid"}));
    auto u1 = table({proc(7, 1, "sshd", "/usr/sbin/sshd")});
    auto u2 = table({proc(7, 1, "evil", "/usr/sbin/sshd")});
    EXPECT_EQ(count(d.diff(u1, u2), ChangeKind::kMetadata), 1u);
    EXPECT_EQ(d.kthread_renames(), 1u);
}

TEST(DiffEngine, ParentChangeGoesToTree) {
    DiffEngine d;
    auto before = proc(50, 45, "child", "/usr/bin/child");
    auto after = before;
    after.ppid = 1;
    auto cs = d.diff(table({before}), table({after}));
    const auto* t = find(cs, ChangeKind::kParent);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->previous.ppid, 45);
    EXPECT_EQ(t->process.ppid, 1);
}

TEST(DiffEngine, IntegrityOnModifiedDeletedReplaced) {
    DiffEngine d(false);
    auto before = proc(60, 1, "svc", "/opt/svc");
    auto modified = before;
    modified.exe_sha256 = "bb";
    modified.exe_identity.mtime_ns = 6;
    auto cs = d.diff(table({before}), table({modified}));
    ASSERT_EQ(count(cs, ChangeKind::kIntegrity), 1u);
    EXPECT_EQ(find(cs, ChangeKind::kIntegrity)->rule, "executable_modified");

    auto deleted = before;
    deleted.exe_deleted = true;
    deleted.exe_replaced = true;
    cs = d.diff(table({before}), table({deleted}));
    ASSERT_EQ(count(cs, ChangeKind::kIntegrity), 2u);
    EXPECT_EQ(cs[0].rule, "executable_deleted");
    EXPECT_EQ(cs[1].rule, "executable_replaced");
    // Still deleted on the next scan: no repeat.
    EXPECT_TRUE(d.diff(table({deleted}), table({deleted})).empty());
}

TEST(DiffEngine, ZombieLosingFieldsIsNotAChange) {
    DiffEngine d;
    auto before = proc(70, 1, "x", "/usr/bin/x");
    auto zombie = before;
    zombie.state = 'Z';
    zombie.argv.clear();
    zombie.exe_readable = false;
    EXPECT_TRUE(d.diff(table({before}), table({zombie})).empty());
}

TEST(DiffEngine, AnomalyReportedOncePerProcessAndRule) {
    DiffEngine d;
    auto parent = proc(80, 1, "bash", "/usr/bin/bash", 1000, 1000);
    auto a = proc(81, 80, "payload", "/tmp/payload");
    auto t1 = table({parent});
    auto t2 = table({parent, a});
    auto cs = d.diff(t1, t2);
    const auto* an = find(cs, ChangeKind::kAnomaly);
    ASSERT_NE(an, nullptr);
    EXPECT_EQ(an->rule, "executable_in_temp_dir");
    EXPECT_NE(an->reason.find("/tmp/payload"), std::string::npos);
    auto moved = a;
    moved.ppid = 1;
    auto cs2 = d.diff(t2, table({parent, moved}));
    EXPECT_EQ(count(cs2, ChangeKind::kAnomaly), 0u);
}

TEST(AnomalyRules, CommMismatchRespectsTruncationAndInterpreters) {
    ProcessTable t;
    auto p = proc(90, 1, "systemd-journal", "/usr/lib/systemd/systemd-journald");
    EXPECT_TRUE(evaluate_anomalies(p, t).empty());  // 15-char truncation
    auto script = proc(91, 1, "myscript.py", "/usr/bin/python3.11");
    EXPECT_TRUE(evaluate_anomalies(script, t).empty());  // interpreter
    auto applet = proc(92, 1, "sh", "/bin/busybox");
    EXPECT_TRUE(evaluate_anomalies(applet, t).empty());
    auto renamed = proc(93, 1, "kworker/0:1", "/usr/bin/miner");
    auto hits = evaluate_anomalies(renamed, t);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].rule, "comm_mismatch");
    auto login = proc(94, 1, "bash", "/usr/bin/bash");
    login.argv = {"-bash"};
    EXPECT_TRUE(evaluate_anomalies(login, t).empty());
    auto sshd = proc(95, 1, "sshd", "/usr/sbin/sshd");
    sshd.argv = {"sshd: alice [priv]"};
    EXPECT_TRUE(evaluate_anomalies(sshd, t).empty());
}

TEST(AnomalyRules, RootChildOfNonRoot) {
    auto parent = proc(100, 1, "bash", "/usr/bin/bash", 1, 1000);
    auto child = proc(101, 100, "rootsh", "/usr/bin/rootsh", 2, 0);
    auto t = table({parent, child});
    auto hits = evaluate_anomalies(child, t);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].rule, "root_child_of_non_root");
    EXPECT_NE(hits[0].reason.find("uid 1000"), std::string::npos);
    auto sudo = proc(102, 100, "sudo", "/usr/bin/sudo", 3, 0);
    sudo.exe_setuid_root = true;
    EXPECT_TRUE(evaluate_anomalies(sudo, t).empty());
}

TEST(AnomalyRules, DeletedExecutable) {
    auto p = proc(110, 1, "svc", "/usr/bin/svc");
    p.exe_deleted = true;
    auto hits = evaluate_anomalies(p, {});
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].rule, "deleted_executable");
}
