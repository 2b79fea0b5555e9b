// The seccomp-bpf allow-list. The base set is what the launcher itself (Asio event loop, framed
// protobuf over the inherited socket, spdlog) and a threaded C++ plugin need; found by running
// the launcher and the test plugins under strace and under this filter (docs/launcher.md).
// Everything not allowed is trapped: EPERM + counted (deny) or the process is killed (kill).
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "daemoneye/launcher/sandbox/layers.hpp"
#include "daemoneye/launcher/sandbox/violations.hpp"

namespace daemoneye::launcher::sandbox {
namespace {

#ifndef PR_SET_VMA
constexpr int PR_SET_VMA = 0x53564d41;
#endif

// Unconditionally allowed.
constexpr const char* kBase[] = {
    // I/O on descriptors the process already holds
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "preadv2",
    "close",
    "close_range",
    "lseek",
    "fcntl",
    "dup",
    "dup2",
    "dup3",
    "pipe",
    "pipe2",
    "fadvise64",
    // read-only filesystem queries (Landlock decides what is reachable)
    "fstat",
    "newfstatat",
    "stat",
    "lstat",
    "statx",
    "fstatfs",
    "statfs",
    "getdents64",
    "readlink",
    "readlinkat",
    "access",
    "faccessat",
    "faccessat2",
    "getcwd",
    // memory
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "brk",
    "membarrier",
    "mincore",
    // threads and synchronisation
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "set_tid_address",
    "sched_yield",
    "sched_getaffinity",
    "sched_getparam",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "getpriority",
    "exit",
    "exit_group",
    "restart_syscall",
    // signals (rt_sigaction is conditional, below)
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "rt_sigtimedwait",
    "rt_sigpending",
    "rt_sigsuspend",
    // time
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "times",
    "getrusage",
    // identity
    "getpid",
    "gettid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "getpgrp",
    "getpgid",
    "getsid",
    "capget",
    "uname",
    "sysinfo",
    "getrandom",
    // event loop
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    // messaging on sockets already held (the bus fd); creating sockets is conditional
    "sendmsg",
    "recvmsg",
    "sendto",
    "recvfrom",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
};

constexpr unsigned long kIoctls[] = {FIONBIO, FIONREAD, FIOCLEX, FIONCLEX, TCGETS, TIOCGWINSZ};
constexpr int kPrctls[] = {PR_SET_NAME,     PR_GET_NAME,    PR_GET_DUMPABLE, PR_GET_NO_NEW_PRIVS,
                           PR_CAPBSET_READ, PR_GET_SECCOMP, PR_SET_VMA,      PR_GET_KEEPCAPS};
constexpr scmp_datum_t kWriteFlags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;

struct CtxFree {
    void operator()(scmp_filter_ctx c) const { seccomp_release(c); }
};

class Filter {
  public:
    explicit Filter(std::uint32_t default_action) : ctx_(seccomp_init(default_action)) {}
    bool valid() const { return ctx_ != nullptr; }
    scmp_filter_ctx get() const { return ctx_.get(); }

    // Adds a rule; names this kernel/arch does not know are skipped (listed for the report).
    Status add(std::uint32_t action, const char* name, std::vector<scmp_arg_cmp> args = {}) {
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) {
            unknown_ += std::string(unknown_.empty() ? "" : ",") + name;
            return {};
        }
        int rc = seccomp_rule_add_array(ctx_.get(), action, nr, static_cast<unsigned>(args.size()),
                                        args.empty() ? nullptr : args.data());
        if (rc != 0)
            return fail(std::string("seccomp rule for ") + name + ": " + std::strerror(-rc));
        ++rules_;
        return {};
    }
    int rules() const { return rules_; }
    const std::string& unknown() const { return unknown_; }

  private:
    std::unique_ptr<void, CtxFree> ctx_;
    int rules_ = 0;
    std::string unknown_;
};

#define DE_TRY(expr)                                                 \
    do {                                                             \
        if (auto _st = (expr); !_st) return unexpected(_st.error()); \
    } while (0)

}  // namespace

Result<LayerReport> apply_seccomp(const SeccompPolicy& policy) {
    const bool kill = policy.action == ViolationAction::Kill;
    if (!kill) {
        if (auto st = install_violation_handler(); !st) return unexpected(st.error());
    }
    Filter f(kill ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_TRAP);
    if (!f.valid()) return fail("seccomp_init failed");
    seccomp_attr_set(f.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    seccomp_attr_set(f.get(), SCMP_FLTATR_CTL_TSYNC, 1);

    const auto allow = SCMP_ACT_ALLOW;
    for (const char* name : kBase) DE_TRY(f.add(allow, name));

    // Threads yes, processes no: clone only with CLONE_THREAD. clone3 passes its flags in memory
    // seccomp cannot read, so it reports ENOSYS and glibc falls back to clone.
    DE_TRY(f.add(allow, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)}));
    DE_TRY(f.add(SCMP_ACT_ERRNO(ENOSYS), "clone3"));
    // openat2 hides its flags the same way; glibc's open() never uses it.
    DE_TRY(f.add(SCMP_ACT_ERRNO(ENOSYS), "openat2"));
    // fanotify needs CAP_SYS_ADMIN, which no permission grants: answer what the kernel would
    // answer without it, quietly, so a collector probing for it (fsmond) falls back to inotify
    // without raising a violation on every start.
    DE_TRY(f.add(SCMP_ACT_ERRNO(EPERM), "fanotify_init"));
    // Opening is read-only; any write/create/truncate intent is a violation.
    DE_TRY(f.add(allow, "openat", {SCMP_A2(SCMP_CMP_MASKED_EQ, kWriteFlags, 0)}));
    DE_TRY(f.add(allow, "open", {SCMP_A1(SCMP_CMP_MASKED_EQ, kWriteFlags, 0)}));
    // The SIGSYS handler is ours.
    DE_TRY(f.add(allow, "rt_sigaction", {SCMP_A0(SCMP_CMP_NE, SIGSYS)}));
    // Signals only to this process.
    const auto self = static_cast<scmp_datum_t>(getpid());
    DE_TRY(f.add(allow, "kill", {SCMP_A0(SCMP_CMP_EQ, self)}));
    DE_TRY(f.add(allow, "tgkill", {SCMP_A0(SCMP_CMP_EQ, self)}));
    // Reading limits is fine, changing them is not.
    DE_TRY(f.add(allow, "prlimit64", {SCMP_A2(SCMP_CMP_EQ, 0)}));
    DE_TRY(f.add(allow, "getrlimit"));
    for (auto req : kIoctls) DE_TRY(f.add(allow, "ioctl", {SCMP_A1(SCMP_CMP_EQ, req)}));
    for (int op : kPrctls) {
        DE_TRY(f.add(allow, "prctl", {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(op))}));
    }

    std::string extras;
    auto netlink = [&](int protocol, const char* why) -> Status {
        if (auto st = f.add(allow, "socket",
                            {SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
                             SCMP_A2(SCMP_CMP_EQ, static_cast<scmp_datum_t>(protocol))});
            !st) {
            return st;
        }
        extras += std::string(extras.empty() ? "" : "; ") + "socket(AF_NETLINK, " + why + ")";
        return {};
    };
    if (policy.netlink_sock_diag) DE_TRY(netlink(NETLINK_SOCK_DIAG, "NETLINK_SOCK_DIAG"));
    if (policy.netlink_connector) DE_TRY(netlink(NETLINK_CONNECTOR, "NETLINK_CONNECTOR"));
    if (policy.netlink_sock_diag || policy.netlink_connector) {
        DE_TRY(f.add(allow, "bind"));
        extras += ", bind";
    }
    if (policy.reap_child > 0) {
        // glibc's waitpid is wait4; no other child exists (clone is threads only).
        DE_TRY(f.add(allow, "wait4",
                     {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(policy.reap_child))}));
        extras += std::string(extras.empty() ? "" : "; ") + "wait4(" +
                  std::to_string(policy.reap_child) + ", the socket-owner helper)";
    }
    if (policy.inotify) {
        for (const char* name :
             {"inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch"}) {
            DE_TRY(f.add(allow, name));
        }
        extras += std::string(extras.empty() ? "" : "; ") + "inotify";
    }

    int rc = seccomp_load(f.get());
    if (rc != 0) return fail(std::string("seccomp_load: ") + std::strerror(-rc));

    std::string detail =
        std::string("allow-list of ") + std::to_string(f.rules()) + " rules; forbidden syscalls " +
        (kill ? "kill the process (SECCOMP_RET_KILL_PROCESS)"
              : "fail with EPERM and are reported (SIGSYS trap)") +
        "; no execve, fork (clone without CLONE_THREAD), ptrace, mount, "
        "new sockets, write-opens; clone3/openat2 -> ENOSYS; fanotify_init -> EPERM (unreported)";
    detail += extras.empty() ? "; no permission extras" : "; permission extras: " + extras;
    if (!f.unknown().empty()) detail += "; unknown on this arch: " + f.unknown();
    return applied("seccomp", detail);
}

}  // namespace daemoneye::launcher::sandbox
