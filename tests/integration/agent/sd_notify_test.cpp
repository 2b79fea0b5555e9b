// The agent's systemd notify protocol (packaging/daemoneye-agent.service is Type=notify with
// WatchdogSec): the real agent runs with NOTIFY_SOCKET naming an AF_UNIX datagram socket this
// test owns and WATCHDOG_USEC set, as systemd would start it. Every datagram is checked for its
// sender (NotifyAccess=main: only the agent's own pid counts). Counts, not timing precision.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "agent_harness.hpp"

using namespace daemoneye::agent::testing;

namespace {

constexpr std::uint64_t kWatchdogUsec = 2'000'000;  // the agent pings every second

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

struct Notification {
    pid_t sender = 0;
    std::string text;  // "READY=1\nSTATUS=..."
    std::chrono::steady_clock::time_point at;
    // At READY=1 only: the agent's log as it was when READY arrived (the agent is stopped with
    // SIGSTOP while it is read, so nothing it does after READY can be in it).
    std::string log_at_ready;
};

// A bound AF_UNIX datagram socket with SO_PASSCRED, read by a thread.
class NotifySocket {
  public:
    NotifySocket(const fs::path& path, std::function<std::string()> on_ready)
        : path_(path), on_ready_(std::move(on_ready)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        const int one = 1;
        ok_ = ok_ && ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0;
        if (ok_) reader_ = std::thread([this] { read_loop(); });
    }
    ~NotifySocket() {
        stop_ = true;
        if (reader_.joinable()) reader_.join();
        if (fd_ >= 0) ::close(fd_);
    }
    bool ok() const { return ok_; }

    std::vector<Notification> received() const {
        std::lock_guard lock(mu_);
        return received_;
    }
    // Notifications carrying the line `assignment` ("READY=1", "WATCHDOG=1").
    std::vector<Notification> with(const std::string& assignment) const {
        std::vector<Notification> out;
        for (const auto& n : received()) {
            if (has_line(n.text, assignment)) out.push_back(n);
        }
        return out;
    }
    static bool has_line(const std::string& text, const std::string& line) {
        std::istringstream in(text);
        for (std::string l; std::getline(in, l);) {
            if (l == line) return true;
        }
        return false;
    }
    static std::string value_of(const std::string& text, const std::string& key) {
        std::istringstream in(text);
        for (std::string l; std::getline(in, l);) {
            if (l.rfind(key + "=", 0) == 0) return l.substr(key.size() + 1);
        }
        return "";
    }

  private:
    void read_loop() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            char buf[4096];
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
            iovec iov{buf, sizeof buf};
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
            if (n < 0) continue;
            Notification note;
            note.text.assign(buf, static_cast<std::size_t>(n));
            note.at = std::chrono::steady_clock::now();
            for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                    ucred cred{};
                    std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
                    note.sender = cred.pid;
                }
            }
            if (has_line(note.text, "READY=1")) note.log_at_ready = on_ready_();
            std::lock_guard lock(mu_);
            received_.push_back(std::move(note));
        }
    }

    fs::path path_;
    std::function<std::string()> on_ready_;
    int fd_ = -1;
    bool ok_ = false;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::vector<Notification> received_;
    std::thread reader_;
};

TEST(AgentSdNotify, ReadyAfterCollectorsUpWatchdogPingsStatusAndStoppingOnSigterm) {
    TempAgent a;
    a.add_plugin("de_test_good.so");
    a.add_plugin("de_test_abi_1_0.so");
    a.write_config(
        "process_manager: {graceful_shutdown_timeout_seconds: 10, "
        "force_shutdown_timeout_seconds: 5}\n"
        "broker: {startup_timeout_seconds: 120}\n"
        "sandbox: {memory_limit_mb: 0}\n"
        "collectors:\n  good: {enabled: true}\n  old_abi: {enabled: true}\n");

    NotifySocket notify(a.root() / "notify.sock", [&a] {
        // Freeze the agent while its log is read: READY=1 must already have the collectors up.
        ::kill(a.pid(), SIGSTOP);
        std::string log = a.log();
        ::kill(a.pid(), SIGCONT);
        return log;
    });
    ASSERT_TRUE(notify.ok()) << std::strerror(errno);

    // As systemd starts a Type=notify service with WatchdogSec (no WATCHDOG_PID: the agent is
    // the main process itself). The agent inherits them at fork; the test process drops them.
    ::setenv("NOTIFY_SOCKET", (a.root() / "notify.sock").c_str(), 1);
    ::setenv("WATCHDOG_USEC", std::to_string(kWatchdogUsec).c_str(), 1);
    a.start();
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ASSERT_GT(a.pid(), 0);

    ASSERT_TRUE(wait_until([&] { return !notify.with("READY=1").empty(); }, 180s)) << "no READY=1\n"
                                                                                   << a.log();
    const auto ready = notify.with("READY=1");
    ASSERT_EQ(ready.size(), 1u) << "READY=1 is sent once";
    // The collectors were up (said Hello: Starting -> Running) before READY=1 was sent.
    for (const char* id : {"good-0", "old_abi-0"}) {
        const std::string line = std::string("collector ") + id + ": Starting -> Running";
        EXPECT_TRUE(contains(ready[0].log_at_ready, line))
            << "'" << line << "' missing from the log at READY=1:\n"
            << ready[0].log_at_ready;
    }
    const std::string status = NotifySocket::value_of(ready[0].text, "STATUS");
    EXPECT_EQ(status, "running: 2 of 2 enabled collector(s) up") << ready[0].text;

    // Watchdog pings keep coming after READY: at least 6, and at least one per four watchdog
    // periods on average (the agent pings every half period; this only catches a stopped or
    // badly stalled loop, never a slow machine).
    const auto ready_at = ready[0].at;
    auto pings_after_ready = [&] {
        std::size_t n = 0;
        for (const auto& p : notify.with("WATCHDOG=1")) n += p.at >= ready_at ? 1 : 0;
        return n;
    };
    ASSERT_TRUE(wait_until([&] { return pings_after_ready() >= 6; }, 180s))
        << "only " << pings_after_ready() << " WATCHDOG=1 after READY=1\n"
        << a.log();
    const auto window = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - ready_at)
                            .count();
    EXPECT_GE(pings_after_ready() * 4 * kWatchdogUsec, static_cast<std::uint64_t>(window))
        << pings_after_ready() << " pings in " << window << " us";

    // SIGTERM: STOPPING=1 (with a STATUS saying what it is doing), then a clean exit.
    const pid_t agent_pid = a.pid();
    EXPECT_EQ(a.stop(), 0) << a.log();
    ASSERT_TRUE(wait_until([&] { return !notify.with("STOPPING=1").empty(); }, 30s))
        << "no STOPPING=1\n"
        << a.log();
    const auto stopping = notify.with("STOPPING=1");
    EXPECT_EQ(stopping.size(), 1u);
    EXPECT_GE(stopping[0].at, ready_at);
    EXPECT_TRUE(contains(NotifySocket::value_of(stopping[0].text, "STATUS"), "stopping"))
        << stopping[0].text;

    // NotifyAccess=main: everything came from the agent itself, never from a launcher or plugin.
    const auto all = notify.received();
    ASSERT_FALSE(all.empty());
    for (const auto& n : all) {
        EXPECT_EQ(n.sender, agent_pid) << "notification from pid " << n.sender << ": " << n.text;
        EXPECT_FALSE(n.text.empty());
        // Every line is VARIABLE=value (a stray newline in a STATUS would break the protocol).
        std::istringstream in(n.text);
        for (std::string l; std::getline(in, l);) {
            EXPECT_NE(l.find('='), std::string::npos) << "bad line '" << l << "' in " << n.text;
        }
    }
}

// Without NOTIFY_SOCKET the agent neither notifies nor complains (it is not under systemd).
TEST(AgentSdNotify, NoNotifySocketMeansNoNotifications) {
    TempAgent a;
    a.add_plugin("de_test_good.so");
    a.write_config("sandbox: {memory_limit_mb: 0}\ncollectors:\n  good: {enabled: true}\n");
    ::unsetenv("NOTIFY_SOCKET");
    a.start();
    ASSERT_TRUE(a.wait_ready(180s)) << a.log();
    EXPECT_FALSE(contains(a.log(), "sd_notify")) << a.log();
    EXPECT_EQ(a.stop(), 0) << a.log();
}

}  // namespace
