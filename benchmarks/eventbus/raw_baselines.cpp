#include "raw_baselines.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "../bench_clock.hpp"

namespace daemoneye::bench {
namespace {

constexpr std::size_t kMessage = 64;

// One party's end(s) of the sockets. Blocking, or event-loop style: one edge-triggered epoll
// instance for all of the party's sockets, as Asio's reactor has.
class Party {
  public:
    Party(std::initializer_list<int> fds, bool event_loop) : event_loop_(event_loop) {
        if (!event_loop_) return;
        ep_ = ::epoll_create1(EPOLL_CLOEXEC);
        for (int fd : fds) {
            epoll_event e{};
            e.events = EPOLLIN | EPOLLET;
            e.data.fd = fd;
            ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e);
        }
    }
    ~Party() {
        if (ep_ >= 0) ::close(ep_);
    }
    Party(const Party&) = delete;
    Party& operator=(const Party&) = delete;

    bool send(int fd, const char* buf) {
        return ::send(fd, buf, kMessage, MSG_NOSIGNAL | (event_loop_ ? MSG_DONTWAIT : 0)) ==
               static_cast<ssize_t>(kMessage);
    }
    bool receive(int fd, char* buf) {
        std::size_t got = 0;
        while (got < kMessage) {
            const auto n = ::recv(fd, buf + got, kMessage - got, event_loop_ ? MSG_DONTWAIT : 0);
            if (n > 0) {
                got += static_cast<std::size_t>(n);
                continue;
            }
            if (n == 0 || !event_loop_ || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;
            epoll_event e{};
            if (::epoll_wait(ep_, &e, 1, -1) < 0 && errno != EINTR) return false;
        }
        return true;
    }

  private:
    bool event_loop_;
    int ep_ = -1;
};

// The far side of a ping-pong or relay (a forked child): echoes each message, then exits.
[[noreturn]] void echo_until_closed(int fd, bool event_loop) {
    Party echo({fd}, event_loop);
    char buf[kMessage] = {};
    while (echo.receive(fd, buf) && echo.send(fd, buf)) {
    }
    ::_exit(0);
}

}  // namespace

bool pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < n; ++i) {
        if (cpu < 0 || i == cpu) CPU_SET(static_cast<int>(i), &set);
    }
    return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

RawRun raw_pingpong(std::size_t count, std::size_t warmup, bool event_loop, int other_cpu) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (other_cpu >= 0) pin_to(other_cpu);
        ::close(sv[0]);
        echo_until_closed(sv[1], event_loop);
    }
    ::close(sv[1]);
    RawRun run;
    run.latencies_ns.reserve(count);
    {
        Party me({sv[0]}, event_loop);
        char buf[kMessage] = {};
        double cpu0 = 0;
        for (std::size_t i = 0; i < count + warmup; ++i) {
            if (i == warmup) cpu0 = thread_cpu_us();
            const auto t0 = mono_ns();
            if (!me.send(sv[0], buf) || !me.receive(sv[0], buf)) break;
            if (i >= warmup) run.latencies_ns.push_back(mono_ns() - t0);
        }
        run.cpu_us_per_round_trip = (thread_cpu_us() - cpu0) / static_cast<double>(count);
    }
    ::close(sv[0]);
    ::waitpid(pid, nullptr, 0);
    return run;
}

RawRun raw_relay(std::size_t count, std::size_t warmup, bool event_loop, int other_cpu) {
    int a[2], b[2], result[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) != 0) return {};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) != 0) return {};
    if (::pipe2(result, O_CLOEXEC) != 0) return {};
    const pid_t server = ::fork();
    if (server == 0) {
        ::close(a[0]);
        ::close(a[1]);
        ::close(b[0]);
        ::close(result[0]);
        ::close(result[1]);
        echo_until_closed(b[1], event_loop);
    }
    ::close(b[1]);
    const pid_t client = ::fork();
    if (client == 0) {
        if (other_cpu >= 0) pin_to(other_cpu);
        ::close(a[1]);
        ::close(b[0]);
        ::close(result[0]);
        Party me({a[0]}, event_loop);
        char buf[kMessage] = {};
        std::vector<std::uint64_t> lat;
        lat.reserve(count);
        for (std::size_t i = 0; i < count + warmup; ++i) {
            const auto t0 = mono_ns();
            if (!me.send(a[0], buf) || !me.receive(a[0], buf)) break;
            if (i >= warmup) lat.push_back(mono_ns() - t0);
        }
        const auto* p = reinterpret_cast<const char*>(lat.data());
        std::size_t left = lat.size() * sizeof(std::uint64_t);
        while (left > 0) {
            const auto n = ::write(result[1], p, left);
            if (n <= 0) ::_exit(1);
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        ::_exit(0);
    }
    ::close(a[0]);
    ::close(result[1]);
    std::thread relay([&] {
        Party r({a[1], b[0]}, event_loop);
        char buf[kMessage];
        while (r.receive(a[1], buf) && r.send(b[0], buf) && r.receive(b[0], buf) &&
               r.send(a[1], buf)) {
        }
    });
    RawRun run;
    std::vector<char> bytes;
    char chunk[65536];
    for (;;) {
        const auto n = ::read(result[0], chunk, sizeof chunk);
        if (n <= 0) break;
        bytes.insert(bytes.end(), chunk, chunk + n);
    }
    ::close(result[0]);
    ::waitpid(client, nullptr, 0);
    ::shutdown(a[1], SHUT_RDWR);
    ::shutdown(b[0], SHUT_RDWR);
    relay.join();
    ::close(a[1]);
    ::close(b[0]);
    ::waitpid(server, nullptr, 0);
    run.latencies_ns.resize(bytes.size() / sizeof(std::uint64_t));
    std::memcpy(run.latencies_ns.data(), bytes.data(),
                run.latencies_ns.size() * sizeof(std::uint64_t));
    return run;
}

}  // namespace daemoneye::bench
