// Parsers of /proc text, from samples captured on Debian 12 / Linux 6.x, plus malformed and
// truncated variants. Tests plugins/procmond/src/proc_parsers.cpp.
#include "proc_parsers.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <string>

using namespace procmond;
using namespace std::string_literals;

namespace {

constexpr const char* kStatCat =
    "8840 (cat) R 8838 8838 3622 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 52965 3133440 411 "
    "18446744073709551615 94236842815488 94236842835369 140722052570944 0 0 0 0 0 0 0 0 0 17 0 0 "
    "0 0 0 0 94236842851376 94236842852992 94237467676672 140722052573832 140722052573852 "
    "140722052573852 140722052575211 0\n";

constexpr const char* kStatKthread =
    "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 3 0 0 20 0 1 0 9 0 0 18446744073709551615 0 0 0 "
    "0 0 0 0 2147483647 0 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

constexpr const char* kStatus =
    "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t8841\nNgid:\t0\nPid:\t8841\n"
    "PPid:\t8838\nTracerPid:\t0\nUid:\t1000\t0\t0\t1000\nGid:\t100\t101\t102\t103\nFDSize:\t256\n"
    "Groups:\t \nThreads:\t1\n";

}  // namespace

TEST(ParseStat, CapturedSample) {
    auto s = parse_stat(kStatCat);
    ASSERT_TRUE(s.ok()) << s.reason();
    EXPECT_EQ(s->pid, 8840);
    EXPECT_EQ(s->comm, "cat");
    EXPECT_EQ(s->state, 'R');
    EXPECT_EQ(s->ppid, 8838);
    EXPECT_EQ(s->flags, 4194304u);
    EXPECT_EQ(s->num_threads, 1);
    EXPECT_EQ(s->starttime_ticks, 52965u);
    EXPECT_EQ(s->vsize_bytes, 3133440u);
    EXPECT_EQ(s->rss_pages, 411);
}

TEST(ParseStat, LayoutWithheldWithoutPtraceAccessIsRecognised) {
    auto own = parse_stat(kStatCat);
    ASSERT_TRUE(own.ok());
    EXPECT_FALSE(own->layout_hidden);
    // What the kernel shows another user's process without ptrace access: startcode and
    // endcode 1, startstack and the argv/env addresses 0.
    std::string text = kStatCat;
    const auto close = text.rfind(')');
    std::vector<std::string> fields;
    std::string rest = text.substr(close + 2);
    for (std::size_t at = 0; at <= rest.size();) {
        const auto sp = rest.find(' ', at);
        fields.push_back(rest.substr(at, sp == std::string::npos ? std::string::npos : sp - at));
        if (sp == std::string::npos) break;
        at = sp + 1;
    }
    ASSERT_GE(fields.size(), 48u);
    fields[26 - 3] = "1";
    fields[27 - 3] = "1";
    for (std::size_t f : {28, 48, 49, 50}) fields[f - 3] = "0";
    std::string hidden = text.substr(0, close + 2);
    for (std::size_t i = 0; i < fields.size(); ++i) hidden += (i ? " " : "") + fields[i];
    auto s = parse_stat(hidden);
    ASSERT_TRUE(s.ok()) << s.reason();
    EXPECT_TRUE(s->layout_hidden);
    EXPECT_NE(s->image_fingerprint, own->image_fingerprint);
}

TEST(ParseStat, KernelThreadFlag) {
    auto s = parse_stat(kStatKthread);
    ASSERT_TRUE(s.ok()) << s.reason();
    EXPECT_EQ(s->ppid, 0);
    EXPECT_NE(s->flags & 0x00200000u, 0u);
    EXPECT_EQ(s->stime_ticks, 3u);
}

TEST(ParseStat, CommWithParenthesesAndSpaces) {
    // A process may name itself anything, including ") R 1 2": the last ')' ends comm.
    std::string text = kStatCat;
    text.replace(text.find("(cat)"), 5, "(a) R 1 (b c))");
    auto s = parse_stat(text);
    ASSERT_TRUE(s.ok()) << s.reason();
    EXPECT_EQ(s->comm, "a) R 1 (b c)");
    EXPECT_EQ(s->ppid, 8838);
}

TEST(ParseStat, Malformed) {
    EXPECT_FALSE(parse_stat("").ok());
    EXPECT_FALSE(parse_stat("8840 cat R 1").ok());
    auto no_pid = parse_stat("x (cat) R 1 2");
    ASSERT_FALSE(no_pid.ok());
    EXPECT_NE(no_pid.reason().find("bad pid"), std::string::npos);
    auto bad_ppid = parse_stat(std::string(kStatCat).replace(14, 4, "88x8"));
    ASSERT_FALSE(bad_ppid.ok());
    EXPECT_NE(bad_ppid.reason().find("ppid"), std::string::npos) << bad_ppid.reason();
}

TEST(ParseStat, TruncatedAtEveryLength) {
    const std::string full = kStatCat;
    // Cutting anywhere before field 25 (after rss) must fail with a reason, never crash.
    const std::size_t rss_end = full.find(" 411 ") + 5;
    for (std::size_t n = 0; n < rss_end; ++n) {
        auto s = parse_stat(full.substr(0, n));
        if (s.ok()) {
            ADD_FAILURE() << "accepted a truncated stat of " << n << " bytes";
        } else {
            EXPECT_FALSE(s.reason().empty());
        }
    }
    EXPECT_TRUE(parse_stat(full.substr(0, rss_end + 1)).ok());
}

TEST(ParseStatus, CapturedSample) {
    auto s = parse_status(kStatus);
    ASSERT_TRUE(s.ok()) << s.reason();
    EXPECT_EQ(s->uid, 1000u);
    EXPECT_EQ(s->euid, 0u);
    EXPECT_EQ(s->gid, 100u);
    EXPECT_EQ(s->egid, 101u);
}

TEST(ParseStatus, MissingOrMalformedIds) {
    auto no_uid = parse_status("Name:\tcat\nGid:\t0\t0\t0\t0\n");
    ASSERT_FALSE(no_uid.ok());
    EXPECT_EQ(no_uid.reason(), "status: no Uid line");
    auto bad = parse_status("Uid:\tabc\t0\t0\t0\nGid:\t0\t0\t0\t0\n");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.reason().find("line 1"), std::string::npos) << bad.reason();
    auto truncated = parse_status("Uid:\t1000");  // cut after the real uid
    EXPECT_FALSE(truncated.ok());
}

TEST(ParseCmdline, NulSeparated) {
    auto argv = parse_cmdline(
        "/bin/sleep\0"s
        "100\0"s);
    ASSERT_EQ(argv.size(), 2u);
    EXPECT_EQ(argv[0], "/bin/sleep");
    EXPECT_EQ(argv[1], "100");
}

TEST(ParseCmdline, EmptyArgumentsKeptAndRewrittenArgv) {
    auto argv = parse_cmdline("a\0\0b\0"s);
    ASSERT_EQ(argv.size(), 3u);
    EXPECT_EQ(argv[1], "");
    auto rewritten = parse_cmdline("nginx: worker process");
    ASSERT_EQ(rewritten.size(), 1u);
    EXPECT_EQ(rewritten[0], "nginx: worker process");
    EXPECT_TRUE(parse_cmdline("").empty());
    EXPECT_EQ(parse_cmdline("a\0b\0c\0d\0"s, 2).size(), 2u);
}

TEST(ParseCgroup, UnifiedHierarchy) {
    auto cg = parse_cgroup("0::/system.slice/ssh.service\n");
    ASSERT_TRUE(cg.ok()) << cg.reason();
    EXPECT_EQ(cg->path, "/system.slice/ssh.service");
    EXPECT_EQ(cg->container_id, "");
}

TEST(ParseCgroup, DockerContainerIds) {
    const std::string id(64, 'a');
    auto scope = parse_cgroup("0::/system.slice/docker-" + id + ".scope\n");
    ASSERT_TRUE(scope.ok());
    EXPECT_EQ(scope->container_id, id);
    auto v1 = parse_cgroup("12:pids:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n");
    ASSERT_TRUE(v1.ok());
    EXPECT_EQ(v1->path, "/docker/" + id);
    EXPECT_EQ(v1->container_id, id);
    // 63 or 65 hex digits are not an id.
    EXPECT_EQ(container_id_from_cgroup_path("/docker/" + std::string(63, 'b')), "");
    EXPECT_EQ(container_id_from_cgroup_path("/docker/" + std::string(65, 'b')), "");
}

TEST(ParseCgroup, CapturedV1Sample) {
    auto cg = parse_cgroup("9:name=systemd:/\n8:pids:/\n7:blkio:/\n0::/\n");
    ASSERT_TRUE(cg.ok());
    EXPECT_EQ(cg->path, "/");
}

TEST(ParseCgroup, Malformed) {
    EXPECT_FALSE(parse_cgroup("").ok());
    auto no_colon = parse_cgroup("0::/ok\ngarbage\n");
    ASSERT_FALSE(no_colon.ok());
    EXPECT_NE(no_colon.reason().find("line 2"), std::string::npos) << no_colon.reason();
    EXPECT_FALSE(parse_cgroup("x::/a\n").ok());
    EXPECT_FALSE(parse_cgroup("0::relative\n").ok());
    EXPECT_FALSE(parse_cgroup("0:").ok());  // truncated
}

TEST(ParseNamespaceLink, Captured) {
    auto ns = parse_namespace_link("pid:[4026531836]");
    ASSERT_TRUE(ns.ok()) << ns.reason();
    EXPECT_EQ(ns->type, "pid");
    EXPECT_EQ(ns->inode, 4026531836u);
}

TEST(ParseNamespaceLink, Malformed) {
    for (const char* bad : {"", "pid", "pid:", "pid:[", "pid:[]", "pid:[12", ":[12]", "pid:[1x]",
                            "pid:[0]", "pid:12]"}) {
        EXPECT_FALSE(parse_namespace_link(bad).ok()) << bad;
    }
}

TEST(ParseExeLink, PlainAndDeleted) {
    auto plain = parse_exe_link("/usr/bin/sleep");
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(plain->path, "/usr/bin/sleep");
    EXPECT_FALSE(plain->deleted);
    auto deleted = parse_exe_link("/tmp/x/sleep (deleted)");
    ASSERT_TRUE(deleted.ok());
    EXPECT_EQ(deleted->path, "/tmp/x/sleep");
    EXPECT_TRUE(deleted->deleted);
    auto memfd = parse_exe_link("/memfd:payload (deleted)");
    ASSERT_TRUE(memfd.ok());
    EXPECT_TRUE(memfd->deleted);
}

TEST(ParseExeLink, Malformed) {
    EXPECT_FALSE(parse_exe_link("").ok());
    EXPECT_FALSE(parse_exe_link(" (deleted)").ok());
    EXPECT_FALSE(parse_exe_link("relative/path").ok());
    EXPECT_FALSE(parse_exe_link("/a\0b"s).ok());
}

TEST(ParseBootTime, Captured) {
    auto bt = parse_boot_time(
        "cpu  5912 0 2676 96647 352 0 52 9 0 0\nintr 1 2 3\nctxt 123\nbtime 1795255162\n"
        "processes 9000\n");
    ASSERT_TRUE(bt.ok()) << bt.reason();
    EXPECT_EQ(*bt, 1795255162u);
}

TEST(ParseBootTime, MissingOrBad) {
    EXPECT_EQ(parse_boot_time("cpu 1 2 3\n").reason(), "/proc/stat: no btime line");
    EXPECT_FALSE(parse_boot_time("btime x\n").ok());
    EXPECT_FALSE(parse_boot_time("btime \n").ok());
}
