// Tests plugins/netmond/src/netmond_collector.cpp against the real kernel: a listener and a
// loopback connection opened here must show up with this process as owner, in both sources.
#include "netmond_collector.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>

namespace daemoneye::netmond {
namespace {

struct Recorded {
    std::string topic, type, bytes;
};

class Recorder {
  public:
    CollectorIo io() {
        CollectorIo io;
        io.emit = [this](const char* topic, const char* type, const std::string& bytes) {
            std::lock_guard lock(mu_);
            events_.push_back({topic, type, bytes});
            return DE_OK;
        };
        io.log = [](de_log_level, const std::string&) {};
        io.now_unix_nanos = [] { return uint64_t{1}; };
        return io;
    }
    std::vector<events::v1::NetworkEvent> network_events(const std::string& topic) {
        std::lock_guard lock(mu_);
        std::vector<events::v1::NetworkEvent> out;
        for (const auto& e : events_) {
            if (e.topic != topic) continue;
            events::v1::NetworkEvent ev;
            EXPECT_TRUE(ev.ParseFromString(e.bytes));
            out.push_back(ev);
        }
        return out;
    }
    size_t count(const std::string& topic) {
        std::lock_guard lock(mu_);
        size_t n = 0;
        for (const auto& e : events_) n += e.topic == topic;
        return n;
    }
    void clear() {
        std::lock_guard lock(mu_);
        events_.clear();
    }

  private:
    std::mutex mu_;
    std::vector<Recorded> events_;
};

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

uint16_t bound_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

class NetmondCollectorTest : public ::testing::TestWithParam<SourceMode> {};

TEST_P(NetmondCollectorTest, SeesListenerAndLoopbackConnectionWithOwningPid) {
    Recorder rec;
    NetmondConfig cfg;
    cfg.source = GetParam();
    NetmondCollector c(rec.io(), cfg);
    c.scan_once();
    EXPECT_EQ(rec.count(kConnectionsTopic), 0u) << "first scan must be a snapshot";
    EXPECT_EQ(rec.count(kListenersTopic), 0u);
    rec.clear();

    auto listener = std::make_unique<Fd>(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener->fd, 8), 0);
    const uint16_t port = bound_port(listener->fd);
    addr.sin_port = htons(port);
    auto client = std::make_unique<Fd>(::socket(AF_INET, SOCK_STREAM, 0));
    ASSERT_EQ(::connect(client->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    auto server = std::make_unique<Fd>(::accept(listener->fd, nullptr, nullptr));
    ASSERT_GE(server->fd, 0);
    const uint16_t client_port = bound_port(client->fd);

    c.scan_once();
    const auto pid = static_cast<uint32_t>(::getpid());
    bool saw_listen = false;
    for (const auto& ev : rec.network_events(kListenersTopic)) {
        if (ev.socket().local_port() != port) continue;
        saw_listen = true;
        EXPECT_EQ(ev.kind(), events::v1::NETWORK_EVENT_KIND_LISTEN_STARTED);
        EXPECT_EQ(ev.socket().pid(), pid);
        EXPECT_EQ(ev.socket().state(), "LISTEN");
        EXPECT_EQ(ev.socket().local_address(), "127.0.0.1");
        EXPECT_FALSE(ev.socket().process_name().empty());
        EXPECT_NE(ev.socket().inode(), 0u);
    }
    EXPECT_TRUE(saw_listen);
    int ends = 0;
    for (const auto& ev : rec.network_events(kConnectionsTopic)) {
        const auto& s = ev.socket();
        const bool ours = (s.local_port() == client_port && s.remote_port() == port) ||
                          (s.local_port() == port && s.remote_port() == client_port);
        if (!ours) continue;
        ++ends;
        EXPECT_EQ(ev.kind(), events::v1::NETWORK_EVENT_KIND_OPENED);
        EXPECT_EQ(s.pid(), pid);
        EXPECT_EQ(s.state(), "ESTABLISHED");
        EXPECT_EQ(s.transport(), events::v1::TRANSPORT_TCP);
    }
    EXPECT_EQ(ends, 2) << "both ends of the loopback connection, each once";

    // Tasks answer from a fresh read.
    SocketFilter by_port;
    by_port.port = port;
    const auto listeners = c.list_listeners(by_port);
    ASSERT_EQ(listeners.size(), 1u);
    ASSERT_TRUE(listeners[0].owner);
    EXPECT_EQ(listeners[0].owner->pid, pid);
    SocketFilter by_pid;
    by_pid.pid = pid;
    by_pid.port = client_port;
    EXPECT_EQ(c.list_connections(by_pid).size(), 2u);

    rec.clear();
    server.reset();
    client.reset();
    listener.reset();
    c.scan_once();
    int closed = 0;
    for (const auto& ev : rec.network_events(kConnectionsTopic))
        if (ev.socket().local_port() == client_port || ev.socket().remote_port() == client_port) {
            EXPECT_EQ(ev.kind(), events::v1::NETWORK_EVENT_KIND_CLOSED);
            EXPECT_EQ(ev.socket().pid(), pid) << "closed events carry the last known owner";
            ++closed;
        }
    EXPECT_EQ(closed, 2);
    bool saw_stop = false;
    for (const auto& ev : rec.network_events(kListenersTopic))
        if (ev.socket().local_port() == port) {
            saw_stop = true;
            EXPECT_EQ(ev.kind(), events::v1::NETWORK_EVENT_KIND_LISTEN_STOPPED);
        }
    EXPECT_TRUE(saw_stop);

    const auto h = c.health();
    const std::string mode = GetParam() == SourceMode::Procfs ? "mode=procfs" : "mode=sock_diag";
    EXPECT_NE(h.detail.find(mode), std::string::npos) << h.detail;
}

TEST_P(NetmondCollectorTest, SeesUdpAndIpv6Listeners) {
    Recorder rec;
    NetmondConfig cfg;
    cfg.source = GetParam();
    NetmondCollector c(rec.io(), cfg);
    c.scan_once();
    Fd u(::socket(AF_INET6, SOCK_DGRAM, 0));
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    if (::bind(u.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        GTEST_SKIP() << "no IPv6 loopback";
    socklen_t len = sizeof a;
    ::getsockname(u.fd, reinterpret_cast<sockaddr*>(&a), &len);
    const uint16_t port = ntohs(a.sin6_port);
    c.scan_once();
    bool seen = false;
    for (const auto& ev : rec.network_events(kListenersTopic)) {
        if (ev.socket().local_port() != port) continue;
        seen = true;
        EXPECT_EQ(ev.socket().transport(), events::v1::TRANSPORT_UDP);
        EXPECT_EQ(ev.socket().local_address(), "::1");
        EXPECT_EQ(ev.socket().state(), "UNCONN");
        EXPECT_EQ(ev.socket().pid(), static_cast<uint32_t>(::getpid()));
    }
    EXPECT_TRUE(seen);
}

INSTANTIATE_TEST_SUITE_P(Sources, NetmondCollectorTest,
                         ::testing::Values(SourceMode::SockDiag, SourceMode::Procfs),
                         [](const auto& info) {
                             return info.param == SourceMode::Procfs ? "procfs" : "sock_diag";
                         });

// Unprivileged: a partial view, said so in health, and no crash. Runs in a child that drops to
// nobody so the test binary keeps its privileges.
TEST(NetmondUnprivileged, PartialViewIsStatedNotFatal) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(3);
        Recorder rec;
        NetmondCollector c(rec.io(), NetmondConfig{});
        c.scan_once();
        c.scan_once();
        const auto h = c.health();
        // pid 1 and the test runner are root's: their fds are not ours to read.
        if (h.detail.find("view=partial") == std::string::npos) _exit(4);
        if (h.detail.find("sockets=") == std::string::npos) _exit(5);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "3: setuid failed, 4: view not partial, 5: no detail";
}

}  // namespace
}  // namespace daemoneye::netmond
