// netmond: one scan with 10,000 open loopback sockets, next to `ss -tanp` (iproute2) measured in
// the same run on the same sockets. Prints CPU and wall time of each.
//   netmond_scan_bench [connections=5000]   (two sockets per loopback connection)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "netmond_collector.hpp"

using namespace daemoneye::netmond;

namespace {

double cpu_ms(const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 +
           (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e3;
}

struct Measured {
    double cpu_ms, wall_ms;
};

template <class F>
Measured measure_self(F&& f) {
    rusage a{}, b{};
    getrusage(RUSAGE_THREAD, &a);
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const auto t1 = std::chrono::steady_clock::now();
    getrusage(RUSAGE_THREAD, &b);
    return {cpu_ms(b) - cpu_ms(a), std::chrono::duration<double, std::milli>(t1 - t0).count()};
}

Measured measure_ss() {
    std::fflush(stdout);  // or the child's freopen flushes our buffered lines a second time
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout)) _exit(126);
        execlp("ss", "ss", "-tanp", static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    rusage r{};
    wait4(pid, &status, 0, &r);
    const auto t1 = std::chrono::steady_clock::now();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "ss -tanp failed (iproute2 installed?)\n");
        std::exit(1);
    }
    return {cpu_ms(r), std::chrono::duration<double, std::milli>(t1 - t0).count()};
}

}  // namespace

int main(int argc, char** argv) {
    const int connections = argc > 1 ? std::atoi(argv[1]) : 5000;
    rlimit nofile{static_cast<rlim_t>(connections * 2 + 256),
                  static_cast<rlim_t>(connections * 2 + 256)};
    if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
        std::perror("setrlimit RLIMIT_NOFILE");
        return 1;
    }
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listener, 4096) != 0) {
        std::perror("listen");
        return 1;
    }
    socklen_t len = sizeof a;
    getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    std::vector<int> fds;
    for (int i = 0; i < connections; ++i) {
        const int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            std::perror("connect");
            return 1;
        }
        const int s = accept(listener, nullptr, nullptr);
        fds.push_back(c);
        fds.push_back(s);
    }
    std::printf("sockets: %zu loopback TCP sockets (+1 listener) owned by pid %d\n", fds.size(),
                getpid());

    uint64_t emitted = 0;
    CollectorIo io;
    io.emit = [&emitted](const char*, const char*, const std::string&) {
        ++emitted;
        return DE_OK;
    };
    io.now_unix_nanos = [] { return uint64_t{0}; };
    for (SourceMode mode : {SourceMode::SockDiag, SourceMode::Procfs}) {
        NetmondConfig cfg;
        cfg.source = mode;
        NetmondCollector c(io, cfg);
        const auto cold = measure_self([&] { c.scan_once(); });  // first scan: full owner walk
        const auto warm = measure_self([&] { c.scan_once(); });  // owners cached
        const auto health = c.health().detail;
        const bool full =
            health.find("sockets=" + std::to_string(fds.size())) != std::string::npos ||
            health.find("sockets=") != std::string::npos;
        std::printf(
            "netmond %-9s cold scan: cpu %7.1f ms  wall %7.1f ms | warm scan: cpu %7.1f ms  wall "
            "%7.1f ms%s\n",
            mode == SourceMode::SockDiag ? "sock_diag" : "procfs", cold.cpu_ms, cold.wall_ms,
            warm.cpu_ms, warm.wall_ms, full ? "" : " (no socket count?)");
        // The owners must be resolved, or the comparison with ss -p would be unfair.
        SocketFilter f;
        f.pid = static_cast<uint32_t>(getpid());
        const size_t owned = c.list_connections(f).size();
        if (owned < fds.size()) {
            std::fprintf(stderr, "only %zu of %zu sockets resolved to their owner\n", owned,
                         fds.size());
            return 1;
        }
    }
    const auto ss = measure_ss();
    std::printf("ss -tanp             : cpu %7.1f ms  wall %7.1f ms\n", ss.cpu_ms, ss.wall_ms);
    for (int fd : fds) close(fd);
    close(listener);
    return 0;
}
