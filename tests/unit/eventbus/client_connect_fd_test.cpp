// BusClient::connect_fd takes the descriptor it is given: whether or not it connects, the caller
// must not close it, so every way it fails closes it (checked with fcntl: EBADF afterwards).
// Each case names the step that fails: asio's assign() refusing the descriptor, the handshake
// failing on a descriptor assign() accepted, and the options check after assign().
#include <fcntl.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>

#include "bus_test_loop.hpp"

namespace daemoneye::eventbus {
namespace {

using namespace std::chrono_literals;

bool is_closed(int fd) {
    errno = 0;
    return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

class ClientConnectFd : public test::BusTestLoop {
  protected:
    void TearDown() override {
        for (int fd : own_) ::close(fd);
        test::BusTestLoop::TearDown();
    }
    // connect_fd's result; the descriptor, should it still be open, is closed by the fixture.
    Result<std::unique_ptr<BusClient>, BusError> connect_fd(int fd, ClientOptions o = {}) {
        o.client_name = "fd-test";
        o.handshake_timeout = 5s;
        auto op = BusClient::connect_fd(io_.get_executor(), fd, o);
        auto r = run(std::move(op));
        if (!is_closed(fd)) own_.push_back(fd);
        return r;
    }
    std::vector<int> own_;
};

// asio's assign() registers the descriptor with the loop's epoll instance; what it refuses is
// what epoll_ctl(EPOLL_CTL_ADD) refuses (a file epoll cannot watch is accepted: EPERM is let
// through). One refusal a test can produce: an epoll instance at the top of a chain of nested
// instances as deep as the kernel allows (ELOOP).
TEST_F(ClientConnectFd, ADescriptorAsioCannotAssignIsClosed) {
    std::vector<int> chain;
    auto nest = [&] {
        const int e = ::epoll_create1(EPOLL_CLOEXEC);
        if (e < 0) return false;
        chain.push_back(e);
        own_.push_back(e);
        return true;
    };
    // e0 watches e1 watches ... e4: adding e0 to another epoll instance goes beyond the kernel's
    // nesting limit (EP_MAX_NESTS, 4).
    ASSERT_TRUE(nest());
    for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(nest());
        epoll_event ev{};
        ev.events = EPOLLIN;
        ASSERT_EQ(::epoll_ctl(chain[chain.size() - 2], EPOLL_CTL_ADD, chain.back(), &ev), 0)
            << std::strerror(errno);
    }
    {  // the loop's own epoll instance refuses it too: see for ourselves with another
        const int probe = ::epoll_create1(EPOLL_CLOEXEC);
        ASSERT_GE(probe, 0);
        epoll_event ev{};
        ev.events = EPOLLIN;
        const int rc = ::epoll_ctl(probe, EPOLL_CTL_ADD, chain[0], &ev);
        const int err = errno;
        ::close(probe);
        ASSERT_EQ(rc, -1);
        ASSERT_EQ(err, ELOOP);
    }
    const int fd = chain[0];
    own_.erase(std::find(own_.begin(), own_.end(), fd));  // connect_fd takes it

    auto r = connect_fd(fd);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, BusError::Code::Io);
    EXPECT_NE(r.error().message.find("broker fd " + std::to_string(fd) + " is not usable"),
              std::string::npos)
        << r.error().message;
    EXPECT_TRUE(is_closed(fd));
}

// assign() takes any descriptor epoll accepts or cannot watch: /dev/null, a pipe, a regular
// file. Such a descriptor fails at the Hello (sendmsg: not a socket) and is closed there.
TEST_F(ClientConnectFd, ANonSocketDescriptorFailsTheHandshakeAndIsClosed) {
    for (const char* what : {"/dev/null", "pipe"}) {
        SCOPED_TRACE(what);
        int fd = -1;
        if (std::string(what) == "pipe") {
            int p[2];
            ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
            own_.push_back(p[1]);
            fd = p[0];
        } else {
            fd = ::open(what, O_RDWR | O_CLOEXEC);
            ASSERT_GE(fd, 0);
        }
        auto r = connect_fd(fd);
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().code, BusError::Code::Timeout) << r.error().message;
        EXPECT_TRUE(is_closed(fd)) << r.error().message;
    }
}

// A socketpair whose other end is gone (the broker died before the launcher said Hello), and a
// live one refused for its options after assign(): both closed.
TEST_F(ClientConnectFd, APeerGoneOrOptionsRefusedAfterAssignCloseTheDescriptor) {
    {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ::close(sv[1]);
        auto r = connect_fd(sv[0]);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, BusError::Code::Io) << r.error().message;
        EXPECT_TRUE(is_closed(sv[0])) << r.error().message;
    }
    {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        own_.push_back(sv[1]);
        ClientOptions o;
        o.reconnect.enabled = true;
        o.reconnect.jitter = 2.0;
        auto r = connect_fd(sv[0], o);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, BusError::Code::InvalidOptions) << r.error().message;
        EXPECT_TRUE(is_closed(sv[0])) << r.error().message;
    }
}

}  // namespace
}  // namespace daemoneye::eventbus
