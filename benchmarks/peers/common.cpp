#include "common.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace peers {

Args parse_args(int argc, char** argv, int from) {
    Args m;
    for (int i = from; i + 1 < argc; i += 2) m[argv[i]] = argv[i + 1];
    return m;
}

std::uint64_t num(const Args& a, const std::string& key, std::uint64_t def) {
    auto it = a.find(key);
    return it == a.end() ? def : std::stoull(it->second);
}

std::string str(const Args& a, const std::string& key, const std::string& def) {
    auto it = a.find(key);
    return it == a.end() ? def : it->second;
}

double percentile_us(std::vector<std::uint64_t>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto i =
        std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
    return static_cast<double>(v[i]) / 1000.0;
}

void become_child_role() {
    const pid_t parent = ::getppid();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);  // the harness died before the line above
    ::signal(SIGPIPE, SIG_IGN);
}

bool wait_go(const std::string& path, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (::access(path.c_str(), F_OK) != 0) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

Watch::Watch(const Args& a)
    : expect_(num(a, "--expect", 0)),
      idle_(num(a, "--idle-ms", 2000)),
      start_(num(a, "--start-ms", 60000)) {}

bool Watch::done(std::uint64_t received) {
    if (received >= expect_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (received != seen_) {
        seen_ = received;
        since_ = now;
        return false;
    }
    return now - since_ > (seen_ == 0 ? start_ : idle_);
}

void print_sub_result(std::uint64_t received, std::uint64_t first, std::uint64_t last,
                      std::uint64_t library_dropped) {
    std::cout << "RESULT received=" << received << " first=" << first << " last=" << last
              << " dropped=" << library_dropped << std::endl;
}

RpcSummary summarize_rpc(std::vector<std::uint64_t>& lat) {
    double total = 0;
    for (auto v : lat) total += static_cast<double>(v);
    RpcSummary r;
    r.rps = total > 0 ? static_cast<double>(lat.size()) / (total / 1e9) : 0;
    r.p50_us = percentile_us(lat, 0.50);
    r.p99_us = percentile_us(lat, 0.99);
    return r;
}

void print_rpc_result(std::vector<std::uint64_t>& lat) {
    const auto r = summarize_rpc(lat);
    std::cout << "RESULT p50_us=" << r.p50_us << " p99_us=" << r.p99_us << " rps=" << r.rps
              << " n=" << lat.size() << std::endl;
}

double field(const std::string& line, const std::string& key) {
    const std::string k = " " + key + "=";
    const auto at = (" " + line).find(k);
    if (at == std::string::npos) return 0;
    try {
        return std::stod(line.substr(at - 1 + k.size()));
    } catch (const std::exception&) {
        return 0;
    }
}

int free_tcp_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    ::close(fd);
    return port;
}

bool tcp_accepts(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

bool unix_accepts(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

std::string find_program(const std::string& name) {
    std::string path = ::getenv("PATH") ? ::getenv("PATH") : "";
    path += ":/usr/sbin:/usr/local/sbin:/sbin:/usr/bin:/usr/local/bin";
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        if (dir.empty()) continue;
        const std::string p = dir + "/" + name;
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
}

Server::Server(const std::vector<std::string>& argv, const std::string& log) : log_(log) {
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        const int in = ::open("/dev/null", O_RDONLY);
        const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0) ::_exit(126);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        std::vector<char*> args;
        for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
}

Server::~Server() {
    if (reaped_ || pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
}

bool Server::alive() {
    if (reaped_) return false;
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
}

std::string Server::log_tail() const {
    std::ifstream f(log_);
    std::vector<std::string> lines;
    for (std::string l; std::getline(f, l);) lines.push_back(l);
    std::string out;
    for (std::size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) {
        out += "\n    " + lines[i];
    }
    return out.empty() ? " (no output)" : out;
}

}  // namespace peers
