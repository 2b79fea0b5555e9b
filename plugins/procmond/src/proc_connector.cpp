#include "proc_connector.hpp"

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

namespace procmond {
namespace {

constexpr std::size_t kRecvBuf = 64 * 1024;

bool send_op(int fd, proc_cn_mcast_op op) {
    // nlmsghdr | cn_msg | op, laid out by hand (cn_msg ends in a flexible array).
    constexpr std::size_t kLen = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op));
    alignas(nlmsghdr) char buf[NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_cn_mcast_op))] = {};
    auto* nl = reinterpret_cast<nlmsghdr*>(buf);
    nl->nlmsg_len = kLen;
    nl->nlmsg_type = NLMSG_DONE;
    nl->nlmsg_pid = 0;
    auto* cn = static_cast<cn_msg*>(NLMSG_DATA(nl));
    cn->id.idx = CN_IDX_PROC;
    cn->id.val = CN_VAL_PROC;
    cn->len = sizeof(proc_cn_mcast_op);
    std::memcpy(cn->data, &op, sizeof op);
    return ::send(fd, buf, kLen, 0) == static_cast<ssize_t>(kLen);
}

// The proc_event in one netlink message, copied out. In a datagram the event starts 36 bytes in
// (nlmsghdr 16 + cn_msg 20), but proc_event holds a __u64 and needs 8-byte alignment: reading it
// in place is undefined behaviour (UBSan: "misaligned address"), so it is memcpy'd. cn->len is
// the sender's claim; it must fit inside this netlink message.
std::optional<proc_event> proc_event_in(const nlmsghdr* nh) {
    const std::size_t payload = NLMSG_PAYLOAD(nh, 0);
    if (payload < sizeof(cn_msg)) return std::nullopt;
    cn_msg cn;
    std::memcpy(&cn, NLMSG_DATA(nh), sizeof cn);
    if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC) return std::nullopt;
    if (cn.len < sizeof(proc_event) || cn.len > payload - sizeof(cn_msg)) return std::nullopt;
    proc_event ev;
    std::memcpy(&ev, static_cast<const char*>(NLMSG_DATA(nh)) + sizeof(cn_msg), sizeof ev);
    return ev;
}

// NLMSG_OK as a function: the macro compares the header's u32 length with an int, which clang
// reports (-Wsign-compare) where GCC does not.
bool nlmsg_ok(const nlmsghdr* nh, int len) {
    return len >= static_cast<int>(sizeof(nlmsghdr)) && nh->nlmsg_len >= sizeof(nlmsghdr) &&
           nh->nlmsg_len <= static_cast<unsigned>(len);
}

}  // namespace

void decode_connector_datagram(const char* data, std::size_t size,
                               std::vector<ConnectorEvent>& out) {
    int len = static_cast<int>(size);
    for (auto* nh = reinterpret_cast<const nlmsghdr*>(data); nlmsg_ok(nh, len);
         nh = NLMSG_NEXT(nh, len)) {
        if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_NOOP) continue;
        const std::optional<proc_event> ev = proc_event_in(nh);
        if (!ev) continue;
        switch (ev->what) {
            case proc_event::PROC_EVENT_FORK: {
                const auto& f = ev->event_data.fork;
                if (f.child_pid != f.child_tgid) break;  // a new thread
                out.push_back({ConnectorEvent::Kind::kFork, f.child_tgid, f.parent_tgid});
                break;
            }
            case proc_event::PROC_EVENT_EXEC: {
                const auto& e = ev->event_data.exec;
                out.push_back({ConnectorEvent::Kind::kExec, e.process_tgid, 0});
                break;
            }
            case proc_event::PROC_EVENT_EXIT: {
                const auto& e = ev->event_data.exit;
                if (e.process_pid != e.process_tgid) break;  // a thread ended
                out.push_back({ConnectorEvent::Kind::kExit, e.process_tgid, e.parent_tgid});
                break;
            }
            default:
                break;
        }
    }
}

Result<std::unique_ptr<ProcConnector>> ProcConnector::open() {
    const int fd =
        ::socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    if (fd < 0) return failure(std::string("netlink socket: ") + std::strerror(errno));
    std::unique_ptr<ProcConnector> c(new ProcConnector(fd));
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = CN_IDX_PROC;
    sa.nl_pid = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        return failure(std::string("netlink bind to CN_IDX_PROC: ") + std::strerror(errno));
    }
    int rcvbuf = 4 * 1024 * 1024;
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (!send_op(fd, PROC_CN_MCAST_LISTEN)) {
        return failure(std::string("netlink PROC_CN_MCAST_LISTEN: ") + std::strerror(errno));
    }
    // The kernel answers with a PROC_EVENT_NONE carrying ack.err (EPERM without CAP_NET_ADMIN
    // in the initial user namespace). Other events may arrive first; skip them.
    alignas(nlmsghdr) char buf[kRecvBuf];
    for (int attempt = 0; attempt < 20; ++attempt) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 50) <= 0) continue;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return failure(std::string("netlink recv: ") + std::strerror(errno));
        }
        int len = static_cast<int>(n);
        for (auto* nh = reinterpret_cast<const nlmsghdr*>(buf); nlmsg_ok(nh, len);
             nh = NLMSG_NEXT(nh, len)) {
            const std::optional<proc_event> ev = proc_event_in(nh);
            if (!ev) continue;
            if (ev->what == proc_event::PROC_EVENT_NONE) {
                if (ev->event_data.ack.err != 0) {
                    return failure(
                        "netlink process connector refused: " +
                        std::string(std::strerror(static_cast<int>(ev->event_data.ack.err))) +
                        " (needs CAP_NET_ADMIN in the initial user namespace)");
                }
                return c;
            }
        }
    }
    // Some kernels send no ack; events flowing is proof enough, silence is not.
    return failure("netlink process connector: no acknowledgement from the kernel within 1 s");
}

ProcConnector::~ProcConnector() {
    if (fd_ >= 0) {
        (void)send_op(fd_, PROC_CN_MCAST_IGNORE);
        ::close(fd_);
    }
}

bool ProcConnector::drain(std::vector<ConnectorEvent>& out) {
    alignas(nlmsghdr) static thread_local char buf[kRecvBuf];
    bool complete = true;
    for (;;) {
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
                ++overruns_;
                complete = false;
                continue;
            }
            break;  // EAGAIN: drained
        }
        if (n == 0) break;
        decode_connector_datagram(buf, static_cast<std::size_t>(n), out);
    }
    return complete;
}

}  // namespace procmond
