// Tests launcher/src/privsep/owner_helper.cpp: the /proc walk against the real /proc (this
// process's own socket), the request loop on a real SOCK_SEQPACKET socketpair (hostile input is
// answered with BAD_REQUEST and serving goes on), and the client (ids, timeouts, a dead helper).
// The forked, confined helper itself is exercised through the real launcher in
// tests/integration/launcher/privsep_test.cpp.
#include "daemoneye/launcher/privsep/owner_helper.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>

namespace daemoneye::launcher::privsep {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::uint64_t inode_of(int fd) {
    struct stat st {};
    ::fstat(fd, &st);
    return st.st_ino;
}

std::string own_comm() {
    char buf[64] = {};
    const int fd = ::open("/proc/self/comm", O_RDONLY);
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    std::string s(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

struct ProcFd {
    ProcFd() : fd(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
    ~ProcFd() { ::close(fd); }
    int fd;
};

TEST(OwnerHelper, WalkFindsThisProcessAsTheOwnerOfItsSocket) {
    ProcFd proc;
    const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(s, 0);
    const std::uint64_t inode = inode_of(s);
    WalkStats stats;
    const std::vector<std::uint64_t> wanted = {0, inode, 1};
    const auto owners = find_socket_owners(proc.fd, wanted, &stats);
    ASSERT_EQ(owners.size(), 1u);
    EXPECT_EQ(owners[0].inode, inode);
    EXPECT_EQ(owners[0].pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(owners[0].comm, own_comm());
    char exe[512] = {};
    ASSERT_GT(::readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
    EXPECT_EQ(owners[0].exe, exe);
    EXPECT_GT(stats.fds_examined, 0u);
    ::close(s);
    EXPECT_TRUE(find_socket_owners(proc.fd, std::vector<std::uint64_t>{inode}).empty())
        << "closed: nobody holds it";
    EXPECT_TRUE(find_socket_owners(proc.fd, {}).empty());
}

// The serve loop in a thread on one end of a socketpair; the test is the (hostile) client.
class Served : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv_), 0);
        server_ = std::thread([this] { serve_owner_requests(sv_[1], proc_.fd, 0); });
    }
    void TearDown() override {
        if (sv_[0] >= 0) ::close(sv_[0]);  // EOF ends the loop
        server_.join();
        ::close(sv_[1]);
    }
    Response roundtrip(const std::vector<std::uint8_t>& m) {
        EXPECT_EQ(::send(sv_[0], m.data(), m.size(), 0), static_cast<ssize_t>(m.size()));
        std::vector<std::uint8_t> buf(kMaxResponseBytes);
        const ssize_t n = ::recv(sv_[0], buf.data(), buf.size(), 0);
        EXPECT_GE(n, static_cast<ssize_t>(kHeaderBytes));
        auto r = decode_response(std::span<const std::uint8_t>(buf.data(), n > 0 ? n : 0));
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : Response{};
    }
    ProcFd proc_;
    int sv_[2] = {-1, -1};
    std::thread server_;
};

TEST_F(Served, HostileRequestsGetBadRequestAndServingGoesOn) {
    auto r = roundtrip({1, 2, 3});
    EXPECT_EQ(r.header.status, ReplyStatus::BadRequest);
    EXPECT_THAT(r.text, HasSubstr("shorter than the 16-byte header"));
    EXPECT_THAT(r.text, HasSubstr("rejected requests so far: 1"));

    std::vector<std::uint8_t> oversized(kMaxRequestBytes + 4096, 0x41);
    r = roundtrip(oversized);
    EXPECT_EQ(r.header.status, ReplyStatus::BadRequest);
    EXPECT_THAT(r.text, HasSubstr(std::to_string(oversized.size()) + " bytes, over the limit"));

    auto wrong_count = encode_request(8, std::vector<std::uint64_t>{1, 2, 3});
    wrong_count[12] = 200;
    r = roundtrip(wrong_count);
    EXPECT_EQ(r.header.status, ReplyStatus::BadRequest);
    EXPECT_EQ(r.header.request_id, 8u);

    r = roundtrip({});  // an empty message is not EOF
    EXPECT_EQ(r.header.status, ReplyStatus::BadRequest);
    EXPECT_THAT(r.text, HasSubstr("rejected requests so far: 4"));

    // Still answering valid questions correctly.
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    r = roundtrip(encode_request(9, std::vector<std::uint64_t>{inode_of(s)}));
    EXPECT_EQ(r.header.status, ReplyStatus::Ok);
    EXPECT_EQ(r.header.request_id, 9u);
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.records[0].pid, static_cast<std::uint32_t>(::getpid()));
    ::close(s);
}

TEST_F(Served, ClientLooksUpThroughTheSocketAndSkipsStaleReplies) {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    // A reply nobody asked for (as if from an earlier, timed-out request) is skipped.
    for (const auto& m : encode_owner_responses(12345, std::vector<OwnerRecord>{{1, 1, "x", ""}}))
        ASSERT_EQ(::send(sv_[1], m.data(), m.size(), 0), static_cast<ssize_t>(m.size()));
    OwnerHelperClient client(sv_[0], 0);
    sv_[0] = -1;  // the client owns it now (closed by its destructor before TearDown joins)
    std::vector<OwnerRecord> got;
    auto st = client.lookup(std::vector<std::uint64_t>{inode_of(s), 0},
                            [&](const OwnerRecord& r) { got.push_back(r); });
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].pid, static_cast<std::uint32_t>(::getpid()));
    std::vector<std::uint64_t> too_many(kMaxInodes + 1, 5);
    EXPECT_THAT(client.lookup(too_many, [](const OwnerRecord&) {}).error().message,
                HasSubstr("max " + std::to_string(kMaxInodes)));
    EXPECT_FALSE(client.broken());
    // The helper's walk counters come back with the answer.
    const auto state = client.state();
    EXPECT_TRUE(state.running);
    EXPECT_EQ(state.lookups, 1u);
    EXPECT_GT(state.last_walk.fds_examined, 0u);
    ::close(s);
}

// The real forked, confined helper answers like an in-process walk; the timings are printed
// for docs/launcher.md (no assertion on them).
TEST(OwnerHelper, SpawnedHelperAnswersLikeAnInProcessWalk) {
    OwnerHelperOptions options;
    auto spawned = spawn_owner_helper(options);
    if (spawned.fd < 0) GTEST_SKIP() << "helper not started: " << spawned.report.detail;
    EXPECT_TRUE(spawned.report.applied);
    EXPECT_THAT(spawned.report.detail, HasSubstr("pid " + std::to_string(spawned.pid)));
    EXPECT_THAT(spawned.report.detail, HasSubstr("seccomp allow-list"));
    OwnerHelperClient client(spawned.fd, spawned.pid);
    std::vector<int> fds;
    std::vector<std::uint64_t> inodes;
    for (int i = 0; i < 300; ++i) {
        fds.push_back(::socket(AF_INET, SOCK_DGRAM, 0));
        inodes.push_back(inode_of(fds.back()));
    }
    ProcFd proc;
    auto t0 = std::chrono::steady_clock::now();
    const auto local = find_socket_owners(proc.fd, inodes);
    auto t1 = std::chrono::steady_clock::now();
    std::vector<OwnerRecord> remote;
    auto st = client.lookup(inodes, [&](const OwnerRecord& r) { remote.push_back(r); });
    auto t2 = std::chrono::steady_clock::now();
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_EQ(remote.size(), inodes.size());
    ASSERT_EQ(local.size(), inodes.size());
    for (const auto& r : remote) {
        EXPECT_EQ(r.pid, static_cast<std::uint32_t>(::getpid()));
        EXPECT_FALSE(r.exe.empty());
    }
    auto us = [](auto d) {
        return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    };
    std::cout << "[   INFO   ] 300 sockets: in-process walk " << us(t1 - t0)
              << " us, through the helper " << us(t2 - t1) << " us\n";
    for (int fd : fds) ::close(fd);
}

// A helper that dies is reaped (no zombie) and described with how it ended, once as a notice.
TEST(OwnerHelperClient, ADeadHelperIsReapedAndItsEndDescribed) {
    OwnerHelperOptions options;
    auto spawned = spawn_owner_helper(options);
    if (spawned.fd < 0) GTEST_SKIP() << "helper not started: " << spawned.report.detail;
    OwnerHelperClient client(spawned.fd, spawned.pid);
    EXPECT_TRUE(client.state().running);
    EXPECT_EQ(client.take_exit_notice(), std::nullopt);
    ASSERT_EQ(::kill(spawned.pid, SIGKILL), 0);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    HelperState state = client.state();
    while (state.running && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        state = client.state();
    }
    ASSERT_FALSE(state.running) << state.text;
    EXPECT_THAT(state.text, HasSubstr("killed by signal 9 (SIGKILL)"));
    EXPECT_NE(::access(("/proc/" + std::to_string(spawned.pid)).c_str(), F_OK), 0)
        << "still a zombie";
    auto notice = client.take_exit_notice();
    ASSERT_TRUE(notice.has_value());
    EXPECT_THAT(*notice, HasSubstr("pid " + std::to_string(spawned.pid)));
    EXPECT_EQ(client.take_exit_notice(), std::nullopt) << "said once";
    EXPECT_THAT(
        client.lookup(std::vector<std::uint64_t>{1}, [](const OwnerRecord&) {}).error().message,
        HasSubstr("not running"));
}

TEST(OwnerHelperClient, ADeadOrSilentHelperIsAnErrorNotAHang) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    {
        OwnerHelperClient silent(::dup(sv[0]), 0, 300ms);
        auto st = silent.lookup(std::vector<std::uint64_t>{1}, [](const OwnerRecord&) {});
        ASSERT_FALSE(st.ok());
        EXPECT_THAT(st.error().message, HasSubstr("no answer within 300 ms"));
        EXPECT_FALSE(silent.broken()) << "a timeout alone does not give up on the helper";
    }
    ::close(sv[1]);  // the helper is gone
    OwnerHelperClient dead(sv[0], 0, 5s);
    auto st = dead.lookup(std::vector<std::uint64_t>{1}, [](const OwnerRecord&) {});
    ASSERT_FALSE(st.ok());
    EXPECT_TRUE(dead.broken());
    EXPECT_THAT(
        dead.lookup(std::vector<std::uint64_t>{1}, [](const OwnerRecord&) {}).error().message,
        HasSubstr("not running"));
}

}  // namespace
}  // namespace daemoneye::launcher::privsep

// ---- proc.read (ABI 1.2): the helper's LINKS / OPEN_EXE answers ----
namespace daemoneye::launcher::privsep {
namespace {

TEST(ProcessLinks, OwnLinksMatchWhatProcShows) {
    ProcFd proc;
    const auto self = static_cast<std::uint32_t>(::getpid());
    const auto r = read_process_links(proc.fd, self, 42);
    EXPECT_EQ(r.error, 0);
    char exe[512] = {}, cwd[512] = {};
    ASSERT_GT(::readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
    ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
    EXPECT_EQ(r.exe_errno, 0);
    EXPECT_EQ(r.exe, exe);
    struct stat st {};
    ASSERT_EQ(::stat("/proc/self/exe", &st), 0);
    EXPECT_EQ(r.exe_ino, st.st_ino);
    EXPECT_EQ(r.exe_size, static_cast<std::uint64_t>(st.st_size));
    EXPECT_EQ(r.cwd, cwd);
    bool mnt = false;
    for (const auto& ns : r.namespaces) {
        if (ns.name == "mnt") mnt = ns.error == 0 && ns.link.rfind("mnt:[", 0) == 0;
    }
    EXPECT_TRUE(mnt);
    EXPECT_EQ(r.root_exe_errno, 0);
    EXPECT_EQ(r.root_exe_ino, st.st_ino);
    EXPECT_NE(r.image_fingerprint, 0u);
    EXPECT_EQ(read_process_links(proc.fd, self, 42).image_fingerprint, r.image_fingerprint)
        << "stable for one image and key";
    EXPECT_NE(read_process_links(proc.fd, self, 43).image_fingerprint, r.image_fingerprint)
        << "keyed";
    EXPECT_EQ(read_process_links(proc.fd, kMaxPid, 42).error, ENOENT) << "no such process";
}

TEST(ProcessLinks, OpenExeHandsOutWhatRunsOrSaysWhyNot) {
    ProcFd proc;
    int err = -1;
    const int fd = open_process_exe(proc.fd, static_cast<std::uint32_t>(::getpid()), err);
    ASSERT_GE(fd, 0) << std::strerror(err);
    char magic[4] = {};
    EXPECT_EQ(::pread(fd, magic, 4, 0), 4);
    EXPECT_EQ(std::memcmp(magic,
                          "\x7f"
                          "ELF",
                          4),
              0);
    ::close(fd);
    EXPECT_EQ(open_process_exe(proc.fd, kMaxPid, err), -1);
    EXPECT_EQ(err, ENOENT);
    EXPECT_EQ(open_process_exe(proc.fd, 2, err), -1) << "kthreadd has no image";
    EXPECT_NE(err, 0);
}

TEST(ProcessLinks, ServeLoopAnswersOnlyGrantedKindsAndPassesTheDescriptor) {
    ProcFd proc;
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    std::thread server([&] {
        serve_owner_requests(sv[1], proc.fd, 0,
                             kind_bit(RequestKind::Links) | kind_bit(RequestKind::OpenExe), 7);
    });
    {
        OwnerHelperClient client(sv[0], -1, 10s);
        const auto self = static_cast<std::uint32_t>(::getpid());
        auto links = client.links(self);
        ASSERT_TRUE(links.ok()) << links.error().message;
        EXPECT_EQ(links->pid, self);
        EXPECT_EQ(links->exe_errno, 0);
        auto gone = client.links(kMaxPid);
        ASSERT_TRUE(gone.ok());
        EXPECT_EQ(gone->error, ENOENT);
        auto exe = client.open_exe(self);
        ASSERT_TRUE(exe.ok()) << exe.error().message;
        ASSERT_GE(exe->fd, 0);
        EXPECT_EQ(::fcntl(exe->fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        struct stat a {
        }, b{};
        ::fstat(exe->fd, &a);
        ::stat("/proc/self/exe", &b);
        EXPECT_EQ(a.st_ino, b.st_ino);
        ::close(exe->fd);
        auto refused = client.lookup(std::vector<std::uint64_t>{1}, [](const OwnerRecord&) {});
        ASSERT_FALSE(refused.ok());
        EXPECT_THAT(refused.error().message, HasSubstr("not granted"));
        EXPECT_TRUE(client.links(self).ok()) << "still serving";
        // Cost of one round trip (printed, not asserted: speed belongs to benchmarks).
        const auto t0 = std::chrono::steady_clock::now();
        constexpr int kCalls = 500;
        for (int i = 0; i < kCalls; ++i) ASSERT_TRUE(client.links(self).ok());
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
        std::cout << "[   INFO   ] process_links round trip: " << us / kCalls << " us per call ("
                  << kCalls << " calls, in-process helper thread)\n";
        EXPECT_FALSE(client.links(0).ok()) << "refused before it is sent";
    }  // the client closes its end: EOF ends the loop
    server.join();
    ::close(sv[1]);
}

}  // namespace
}  // namespace daemoneye::launcher::privsep
