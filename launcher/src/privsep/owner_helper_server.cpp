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

// The helper process: spawned before the sandbox, confined by its own seccomp filter, serving
// requests until the launcher closes its socket.

namespace daemoneye::launcher::privsep {

namespace {

bool send_with_fd(int fd, const std::vector<std::uint8_t>& m, int passed) {
    iovec iov{const_cast<std::uint8_t*>(m.data()), m.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passed, sizeof passed);
    for (;;) {
        const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(m.size())) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

const char* kind_name(RequestKind k) {
    switch (k) {
        case RequestKind::Lookup:
            return "socket-owner lookup (net.read)";
        case RequestKind::Links:
            return "process links (proc.read)";
        case RequestKind::OpenExe:
            return "open_exe (proc.read)";
    }
    return "?";
}

}  // namespace

void serve_owner_requests(int fd, int proc_fd, pid_t expected_parent, std::uint32_t kinds,
                          std::uint64_t fingerprint_key) {
    std::vector<std::uint8_t> buf(kMaxRequestBytes + 1);
    std::uint64_t rejected = 0;
    for (;;) {
        pollfd p{fd, POLLIN | POLLRDHUP, 0};
        const int r = ::poll(&p, 1, 1000);
        if (r < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (expected_parent > 0 && ::getppid() != expected_parent) return;  // orphaned
        if (r == 0) continue;
        // MSG_TRUNC: the return value is the message's real length, even past the buffer.
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return;
        }
        if (n == 0 && (p.revents & (POLLHUP | POLLRDHUP)) != 0) return;  // the launcher is gone
        const auto len = static_cast<std::size_t>(n);
        std::string why;
        std::uint32_t id = 0;
        if (len > buf.size() - 1) {
            id = peek_request_id(std::span(buf.data(), buf.size()));
            why = "request: " + std::to_string(len) + " bytes, over the limit of " +
                  std::to_string(kMaxRequestBytes);
        } else {
            const std::span<const std::uint8_t> bytes(buf.data(), len);
            auto request = decode_request(bytes);
            if (request && (kinds & kind_bit(request->kind)) == 0) {
                request = fail(std::string("request: ") + kind_name(request->kind) +
                               " is not granted to this instance");
            }
            if (request && request->kind == RequestKind::Links) {
                const auto links = read_process_links(proc_fd, request->pid, fingerprint_key);
                if (!send_message(fd, encode_links_response(request->request_id, links))) return;
                continue;
            }
            if (request && request->kind == RequestKind::OpenExe) {
                int error = 0;
                const int exe = open_process_exe(proc_fd, request->pid, error);
                const auto reply = encode_exe_response(request->request_id, error);
                const bool sent = exe >= 0 ? send_with_fd(fd, reply, exe) : send_message(fd, reply);
                if (exe >= 0) ::close(exe);
                if (!sent) return;
                continue;
            }
            if (request) {
                WalkStats stats;
                const auto owners = find_socket_owners(proc_fd, request->inodes, &stats);
                for (const auto& m : encode_owner_responses(request->request_id, owners, stats)) {
                    if (!send_message(fd, m)) return;
                }
                continue;
            }
            id = peek_request_id(bytes);
            why = request.error().message;
        }
        ++rejected;
        why += " (rejected requests so far: " + std::to_string(rejected) + ")";
        if (!send_message(fd, encode_text_response(ReplyStatus::BadRequest, id, why))) return;
    }
}

namespace {

constexpr int kHelperFd = 3;

// The helper's own allow-list; anything else kills it. Opens and readlinks only relative to the
// /proc descriptor and read-only; memory never executable; no exec, fork, sockets, ptrace,
// mount, setuid.
Result<int> install_helper_seccomp(int proc_fd) {
    std::unique_ptr<void, void (*)(void*)> ctx(seccomp_init(SCMP_ACT_KILL_PROCESS),
                                               [](void* c) { seccomp_release(c); });
    if (!ctx) return fail("seccomp_init failed");
    seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    int rules = 0;
    std::string error;
    auto add = [&](const char* name, std::vector<scmp_arg_cmp> args = {}) {
        const int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) return;  // not on this architecture
        const int rc = seccomp_rule_add_array(ctx.get(), SCMP_ACT_ALLOW, nr,
                                              static_cast<unsigned>(args.size()),
                                              args.empty() ? nullptr : args.data());
        if (rc != 0 && error.empty()) error = std::string(name) + ": " + std::strerror(-rc);
        ++rules;
    };
    for (const char* name : {"read",        "write",         "close",           "lseek",
                             "getdents64",  "recvfrom",      "sendto",          "recvmsg",
                             "sendmsg",     "poll",          "ppoll",           "brk",
                             "munmap",      "mremap",        "madvise",         "futex",
                             "exit",        "exit_group",    "rt_sigreturn",    "rt_sigprocmask",
                             "getpid",      "gettid",        "getppid",         "geteuid",
                             "getegid",     "clock_gettime", "restart_syscall", "fstat",
                             "sched_yield", "getrandom"}) {
        add(name);
    }
    const auto dir = static_cast<scmp_datum_t>(proc_fd);
    constexpr scmp_datum_t kWriteFlags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_PATH;
    add("openat", {SCMP_A0(SCMP_CMP_EQ, dir), SCMP_A2(SCMP_CMP_MASKED_EQ, kWriteFlags, 0)});
    add("readlinkat", {SCMP_A0(SCMP_CMP_EQ, dir)});
    add("newfstatat", {SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)});
    add("newfstatat", {SCMP_A0(SCMP_CMP_EQ, dir)});  // stat of /proc/<pid>/exe, root/<exe>
    add("mmap", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)});
    add("mprotect", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)});
    add("tgkill", {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid()))});
    if (!error.empty()) return fail("seccomp rule for " + error);
    if (const int rc = seccomp_load(ctx.get()); rc != 0) {
        return fail(std::string("seccomp_load: ") + std::strerror(-rc));
    }
    return rules;
}

[[noreturn]] void helper_main(int fd, pid_t launcher, const OwnerHelperOptions& options) {
    auto give_up = [&](const std::string& why) {
        send_message(fd, encode_text_response(ReplyStatus::SetupFailed, 0, why));
        ::_exit(70);
    };
    ::prctl(PR_SET_NAME, "de-owner-helper", 0, 0, 0);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) give_up("PR_SET_PDEATHSIG failed");
    if (::getppid() != launcher) ::_exit(71);  // the launcher died before the signal was armed
    if (fd != kHelperFd) {
        if (::dup2(fd, kHelperFd) < 0) give_up(std::string("dup2: ") + std::strerror(errno));
        fd = kHelperFd;
    }
    // Nothing of the launcher's (the bus socket above all) stays open in here.
    if (::syscall(SYS_close_range, kHelperFd + 1, ~0u, 0u) != 0) {
        for (int i = kHelperFd + 1; i < 4096; ++i) ::close(i);
    }
    ::clearenv();
    const rlimit files{16, 16}, core{0, 0};
    ::setrlimit(RLIMIT_NOFILE, &files);
    ::setrlimit(RLIMIT_CORE, &core);
    const int proc_fd = sys_openat(AT_FDCWD, options.proc_root.c_str(), O_RDONLY | O_DIRECTORY);
    if (proc_fd < 0) give_up("open " + options.proc_root + ": " + std::strerror(errno));

    std::uint64_t fingerprint_key = 0;
    if (::getrandom(&fingerprint_key, sizeof fingerprint_key, 0) != sizeof fingerprint_key) {
        give_up(std::string("getrandom: ") + std::strerror(errno));
    }
    auto priv = sandbox::drop_privileges(options.user, options.capabilities);
    if (!priv) give_up("user: " + priv.error().message);
    // A credential change clears the parent-death signal: arm it again, then re-check the race.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) give_up("PR_SET_PDEATHSIG failed");
    if (::getppid() != launcher) ::_exit(71);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // the plugin (same uid) cannot ptrace or read us
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) give_up("PR_SET_NO_NEW_PRIVS failed");
    auto rules = install_helper_seccomp(proc_fd);
    if (!rules) give_up("seccomp: " + rules.error().message);

    std::string detail = "pid " + std::to_string(::getpid()) + ", outside the sandbox: ";
    for (const auto& r : *priv) detail += r.name + " " + r.detail + "; ";
    detail += "no_new_privs; not dumpable; dies with the launcher; seccomp allow-list of " +
              std::to_string(*rules) + " rules (opens/readlinks only under " + options.proc_root +
              ", read-only; no exec, fork, sockets or ptrace; anything else kills it). Answers "
              "only";
    if ((options.kinds & kind_bit(RequestKind::Lookup)) != 0) {
        detail += " socket inode -> owner (de_host_api::socket_owners)";
    }
    if ((options.kinds & kind_bit(RequestKind::Links)) != 0) {
        detail += (options.kinds & kind_bit(RequestKind::Lookup)) != 0 ? "," : "";
        detail +=
            " pid -> exe/cwd/ns links and an open exe (de_host_api::process_links, "
            "open_process_exe)";
    }
    detail += "; the plugin keeps no capability for it";
    if (!send_message(fd, encode_text_response(ReplyStatus::Ready, 0, detail))) ::_exit(72);
    serve_owner_requests(fd, proc_fd, launcher, options.kinds, fingerprint_key);
    ::_exit(0);
}

}  // namespace

SpawnedHelper spawn_owner_helper(const OwnerHelperOptions& options) {
    SpawnedHelper out;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        out.report =
            not_applied("owner_helper", std::string("socketpair: ") + std::strerror(errno));
        return out;
    }
    const pid_t launcher = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int err = errno;
        ::close(sv[0]);
        ::close(sv[1]);
        out.report = not_applied("owner_helper", std::string("fork: ") + std::strerror(err));
        return out;
    }
    if (pid == 0) {
        ::close(sv[0]);
        helper_main(sv[1], launcher, options);
    }
    ::close(sv[1]);
    auto abandon = [&](const std::string& why) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        ::close(sv[0]);
        out.report = not_applied("owner_helper", why +
                                                     "; socket owners are not offered "
                                                     "(de_host_api::socket_owners is NULL)");
        return out;
    };
    pollfd p{sv[0], POLLIN, 0};
    int r;
    do {
        r = ::poll(&p, 1, static_cast<int>(options.ready_timeout.count()));
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return abandon("helper did not report ready in time");
    std::vector<std::uint8_t> buf(kMaxResponseBytes);
    const ssize_t n = ::recv(sv[0], buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) return abandon("helper exited during its set-up");
    auto reply =
        decode_response(std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
    if (!reply) return abandon("helper: " + reply.error().message);
    if (reply->header.status != ReplyStatus::Ready)
        return abandon("helper gave up: " + reply->text);
    out.fd = sv[0];
    out.pid = pid;
    out.report = applied("owner_helper", reply->text);
    return out;
}

}  // namespace daemoneye::launcher::privsep
