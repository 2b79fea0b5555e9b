// Raw unix-socket ping-pong between two processes: the physical limit of a request/reply.
// The server listens on --socket (a path), accepts one connection and echoes --size-byte
// messages; the client sends one, waits for the whole echo, and measures each round trip.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <vector>

#include "roles.hpp"

namespace peers {
namespace {

bool read_exact(int fd, char* p, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
        const auto r = ::read(fd, p + got, n - got);
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
    }
    return true;
}

sockaddr_un address(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    return a;
}

int raw_server(const Args& a) {
    const auto size = num(a, "--size", 64);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const auto addr = address(str(a, "--socket"));
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 1) != 0) {
        std::cerr << "raw-server: cannot listen on " << str(a, "--socket") << ": "
                  << std::strerror(errno) << "\n";
        return 1;
    }
    std::cout << "READY" << std::endl;
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return 1;
    std::vector<char> buf(size);
    while (read_exact(c, buf.data(), size)) {
        if (::write(c, buf.data(), size) != static_cast<ssize_t>(size)) break;
    }
    ::close(c);
    ::close(fd);
    return 0;
}

int raw_client(const Args& a) {
    const auto size = num(a, "--size", 64);
    const auto count = num(a, "--count", 10000), warmup = num(a, "--warmup", 1000);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const auto addr = address(str(a, "--socket"));
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        std::cerr << "raw-client: cannot connect to " << str(a, "--socket") << "\n";
        return 1;
    }
    std::vector<char> buf(size, 'x');
    std::vector<std::uint64_t> lat;
    lat.reserve(count);
    for (std::uint64_t i = 0; i < warmup + count; ++i) {
        const auto t0 = mono_ns();
        if (::write(fd, buf.data(), size) != static_cast<ssize_t>(size)) return 1;
        if (!read_exact(fd, buf.data(), size)) return 1;
        if (i >= warmup) lat.push_back(mono_ns() - t0);
    }
    ::close(fd);
    print_rpc_result(lat);
    return 0;
}

}  // namespace

int dispatch_raw(const std::string& role, const Args& a) {
    if (role == "raw-server") return raw_server(a);
    if (role == "raw-client") return raw_client(a);
    return kUnknownRole;
}

}  // namespace peers
