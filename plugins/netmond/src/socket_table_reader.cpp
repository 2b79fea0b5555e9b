#include "socket_table_reader.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "inet_diag_decoder.hpp"
#include "proc_net_parser.hpp"

namespace daemoneye::netmond {
namespace {

bool read_whole_file(const std::string& path, std::string& out, std::string& error) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = path + ": " + std::strerror(errno);
        return false;
    }
    out.clear();
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) error = path + ": " + std::strerror(errno);
        ::close(fd);
        return n == 0;
    }
}

const char* table_name(uint8_t family, Transport t) {
    if (t == Transport::Tcp) return family == AF_INET ? "tcp" : "tcp6";
    return family == AF_INET ? "udp" : "udp6";
}

}  // namespace

SocketTableReader::SocketTableReader(SourceMode mode, std::string proc_net_dir)
    : mode_(mode), proc_net_dir_(std::move(proc_net_dir)), recv_buf_(256 * 1024) {}

SocketTableReader::~SocketTableReader() {
    if (netlink_fd_ >= 0) ::close(netlink_fd_);
}

std::string SocketTableReader::mode_name() const {
    if (mode_ == SourceMode::Procfs || netlink_unavailable_) return "procfs";
    return last_used_procfs_ ? "sock_diag+procfs" : "sock_diag";
}

TableReadReport SocketTableReader::read(bool include_udp, std::vector<SocketEntry>& out) {
    TableReadReport report;
    out.clear();
    for (Transport t : {Transport::Tcp, Transport::Udp}) {
        if (t == Transport::Udp && !include_udp) continue;
        for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
            const size_t before = out.size();
            bool ok = false;
            if (mode_ != SourceMode::Procfs && !netlink_unavailable_) {
                ok = read_sock_diag(family, t, out, report);
                if (!ok) out.resize(before);  // a half dump is worse than the fallback's view
            }
            if (!ok && mode_ != SourceMode::SockDiag) {
                ok = read_procfs(family, t, out, report);
                report.used_procfs = report.used_procfs || ok;
            }
            if (!ok) ++report.tables_failed;
        }
    }
    last_used_procfs_ = report.used_procfs;
    return report;
}

bool SocketTableReader::read_sock_diag(uint8_t family, Transport transport,
                                       std::vector<SocketEntry>& out, TableReadReport& report) {
    auto note = [&report, family, transport](const std::string& why) {
        if (report.first_error.empty())
            report.first_error =
                std::string("sock_diag ") + table_name(family, transport) + ": " + why;
    };
    if (netlink_fd_ < 0) {
        netlink_fd_ = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (netlink_fd_ < 0) {
            // No netlink here (sandbox, old kernel): stop trying, procfs from now on.
            netlink_unavailable_ = true;
            note(std::string("socket: ") + std::strerror(errno));
            return false;
        }
        const int rcvbuf = 1 << 20;
        (void)::setsockopt(netlink_fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        timeval tv{2, 0};  // a dump that stalls must not hang the scan thread
        (void)::setsockopt(netlink_fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    const uint32_t seq = ++seq_;
    const auto req = build_inet_diag_request(family, transport, ~0u, seq);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(netlink_fd_, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0) {
        note(std::string("send: ") + std::strerror(errno));
        ::close(netlink_fd_);
        netlink_fd_ = -1;
        return false;
    }
    for (;;) {
        const ssize_t n = ::recv(netlink_fd_, recv_buf_.data(), recv_buf_.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            note(std::string("recv: ") + std::strerror(errno));
            ::close(netlink_fd_);  // drop a socket with a half-read dump in it
            netlink_fd_ = -1;
            return false;
        }
        const auto r =
            decode_inet_diag({recv_buf_.data(), static_cast<size_t>(n)}, transport, seq, out);
        report.malformed += r.malformed;
        if (!r.first_error.empty()) note(r.first_error);
        if (r.error != 0) {
            // ENOENT: the udp_diag/tcp_diag module is not loaded; the fallback covers it.
            note(std::string("kernel: ") + std::strerror(r.error));
            return false;
        }
        if (r.done) return true;
        if (n == 0) return false;
    }
}

bool SocketTableReader::read_procfs(uint8_t family, Transport transport,
                                    std::vector<SocketEntry>& out, TableReadReport& report) {
    std::string text, error;
    if (!read_whole_file(proc_net_dir_ + "/" + table_name(family, transport), text, error)) {
        if (report.first_error.empty()) report.first_error = error;
        return false;
    }
    auto table = parse_proc_net(text, transport);
    report.malformed += table.malformed_lines;
    if (report.first_error.empty() && !table.first_error.empty())
        report.first_error = std::string(table_name(family, transport)) + " " + table.first_error;
    out.insert(out.end(), table.sockets.begin(), table.sockets.end());
    return true;
}

}  // namespace daemoneye::netmond
