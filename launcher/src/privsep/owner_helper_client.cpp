#include "daemoneye/launcher/privsep/owner_helper.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_set>

#include "daemoneye/launcher/sandbox/layers.hpp"
#include "helper_io.hpp"

// The launcher's side: asks the helper, with deadlines, and notices when it is gone.

namespace daemoneye::launcher::privsep {

OwnerHelperClient::OwnerHelperClient(int fd, pid_t pid, std::chrono::milliseconds timeout)
    : fd_(fd), pid_(pid), timeout_(timeout), buffer_(kMaxResponseBytes + 1) {}

OwnerHelperClient::~OwnerHelperClient() {
    if (fd_ >= 0) ::close(fd_);  // the helper sees EOF and exits
}

void OwnerHelperClient::reap() {
    if (exit_ || pid_ <= 0) return;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return;  // still running
    if (r < 0) {
        // ECHILD: reaped by someone else (the plugin shares our seccomp allowance). Anything else
        // (EINTR; EPERM from a filter without the allowance) says nothing about the helper.
        if (errno != ECHILD) return;
        exit_ = "exited (exit status unknown: reaped by another thread)";
    } else if (WIFEXITED(status)) {
        exit_ = "exited with status " + std::to_string(WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char* abbrev = ::sigabbrev_np(sig);
        exit_ = "killed by signal " + std::to_string(sig) +
                (abbrev != nullptr ? std::string(" (SIG") + abbrev + ")" : std::string()) +
                (sig == SIGSYS ? ": its seccomp filter refused a system call" : "");
    } else {
        return;  // stopped/continued: not reported without WUNTRACED/WCONTINUED
    }
    broken_ = true;
}

HelperState OwnerHelperClient::state() {
    std::lock_guard lock(exit_mutex_);
    reap();
    HelperState s;
    s.pid = pid_;
    s.last_walk = last_walk_;
    s.lookups = lookups_;
    s.process_calls = process_calls_;
    if (exit_) {
        s.text = "pid " + std::to_string(pid_) + " " + *exit_ + "; " + service_ +
                 " are unavailable until the collector restarts";
    } else if (broken_) {
        s.text = "pid " + std::to_string(pid_) +
                 " not answering (its socket closed or sent garbage); " + service_ +
                 " are unavailable until the collector restarts";
    } else {
        s.running = true;
        s.text = "running (pid " + std::to_string(pid_) + ")";
    }
    return s;
}

std::optional<std::string> OwnerHelperClient::take_exit_notice() {
    std::lock_guard lock(exit_mutex_);
    reap();
    if (!exit_ || exit_noticed_) return std::nullopt;
    exit_noticed_ = true;
    return "socket-owner helper (pid " + std::to_string(pid_) + ") " + *exit_;
}

std::uint32_t OwnerHelperClient::take_id() {
    const std::uint32_t id = next_id_++;
    if (next_id_ == 0) next_id_ = 1;
    return id;
}

Status OwnerHelperClient::round_trip(const std::vector<std::uint8_t>& request, std::uint32_t id,
                                     const std::function<bool(Response&, int)>& on_reply) {
    if (broken_) return fail("the privilege-separation helper is not running");
    if (!send_message(fd_, request)) {
        broken_ = true;
        return fail(std::string("privilege-separation helper: send failed: ") +
                    std::strerror(errno));
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return fail("privilege-separation helper: no answer within " +
                        std::to_string(timeout_.count()) + " ms");
        }
        pollfd p{fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno != EINTR) {
            broken_ = true;
            return fail(std::string("privilege-separation helper: poll: ") + std::strerror(errno));
        }
        if (r <= 0) continue;
        iovec iov{buffer_.data(), buffer_.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;  // someone else read it
        int passed = -1;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                std::memcpy(&passed, CMSG_DATA(c), sizeof passed);
            }
        }
        struct Closer {
            int& fd;
            ~Closer() {
                if (fd >= 0) ::close(fd);
            }
        } closer{passed};
        if (n <= 0) {
            broken_ = true;
            return fail("privilege-separation helper exited");
        }
        auto reply = decode_response(
            std::span<const std::uint8_t>(buffer_.data(), static_cast<std::size_t>(n)));
        if (!reply) {
            broken_ = true;
            return fail("privilege-separation helper: " + reply.error().message);
        }
        if (reply->header.request_id != id) continue;  // a late answer to a timed-out request
        if (reply->header.status == ReplyStatus::BadRequest) {
            return fail("privilege-separation helper refused the request: " + reply->text);
        }
        if (reply->header.status != ReplyStatus::Ok) continue;
        const int fd = passed;
        passed = -1;  // on_reply owns it now
        if (on_reply(*reply, fd)) return {};
    }
}

Status OwnerHelperClient::lookup(std::span<const std::uint64_t> inodes, const Found& found) {
    std::lock_guard lock(mutex_);
    if (inodes.size() > kMaxInodes) {
        return fail(std::to_string(inodes.size()) + " inodes in one lookup (max " +
                    std::to_string(kMaxInodes) + ")");
    }
    const std::uint32_t id = take_id();
    return round_trip(encode_request(id, inodes), id, [&](Response& reply, int fd) {
        if (fd >= 0) ::close(fd);
        if ((reply.header.flags & (kFlagLinks | kFlagExe)) != 0) return false;
        for (const auto& rec : reply.records) found(rec);
        if ((reply.header.flags & kFlagLast) == 0) return false;
        std::lock_guard exit_lock(exit_mutex_);
        last_walk_ = reply.stats;
        ++lookups_;
        return true;
    });
}

Result<LinksRecord> OwnerHelperClient::links(std::uint32_t pid) {
    std::lock_guard lock(mutex_);
    if (pid == 0 || pid > kMaxPid) return fail("pid " + std::to_string(pid) + " out of range");
    const std::uint32_t id = take_id();
    LinksRecord out;
    auto st = round_trip(encode_pid_request(RequestKind::Links, id, pid), id,
                         [&](Response& reply, int fd) {
                             if (fd >= 0) ::close(fd);
                             if ((reply.header.flags & kFlagLinks) == 0) return false;
                             out = std::move(reply.links);
                             return true;
                         });
    if (!st) return unexpected(st.error());
    if (out.pid != pid) return fail("privilege-separation helper answered for another pid");
    std::lock_guard exit_lock(exit_mutex_);
    ++process_calls_;
    return out;
}

Result<OwnerHelperClient::ExeOpen> OwnerHelperClient::open_exe(std::uint32_t pid) {
    std::lock_guard lock(mutex_);
    if (pid == 0 || pid > kMaxPid) return fail("pid " + std::to_string(pid) + " out of range");
    const std::uint32_t id = take_id();
    ExeOpen out;
    auto st = round_trip(encode_pid_request(RequestKind::OpenExe, id, pid), id,
                         [&](Response& reply, int fd) {
                             if ((reply.header.flags & kFlagExe) == 0) {
                                 if (fd >= 0) ::close(fd);
                                 return false;
                             }
                             out.error = reply.exe_errno;
                             out.fd = fd;
                             return true;
                         });
    if (!st) return unexpected(st.error());
    if (out.error == 0 && out.fd < 0) {
        broken_ = true;
        return fail("privilege-separation helper: open_exe answered without a descriptor");
    }
    if (out.error != 0 && out.fd >= 0) {
        ::close(out.fd);
        out.fd = -1;
    }
    std::lock_guard exit_lock(exit_mutex_);
    ++process_calls_;
    return out;
}

}  // namespace daemoneye::launcher::privsep
