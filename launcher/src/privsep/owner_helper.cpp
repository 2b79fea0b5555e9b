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

namespace daemoneye::launcher::privsep {
namespace {

// Raw system calls: the launcher executable interposes the libc open family (fs_interpose.cpp),
// and the helper's seccomp filter is written for exactly these.
int sys_openat(int dirfd, const char* path, int flags) {
    return static_cast<int>(::syscall(SYS_openat, dirfd, path, flags | O_CLOEXEC, 0));
}
long sys_getdents64(int fd, void* buf, std::size_t len) {
    return ::syscall(SYS_getdents64, fd, buf, len);
}
long sys_readlinkat(int dirfd, const char* path, char* buf, std::size_t len) {
    return ::syscall(SYS_readlinkat, dirfd, path, buf, len);
}

struct Dirent64 {
    std::uint64_t d_ino;
    std::int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[1];
};

// Calls fn(name) for every entry of the open directory `fd`; stops when fn returns false.
template <class Fn>
void for_each_entry(int fd, Fn&& fn) {
    alignas(8) char buf[8192];
    for (;;) {
        const long n = sys_getdents64(fd, buf, sizeof buf);
        if (n <= 0) return;
        for (long at = 0; at < n;) {
            const auto* d = reinterpret_cast<const Dirent64*>(buf + at);
            if (d->d_reclen == 0) return;
            at += d->d_reclen;
            if (!fn(static_cast<const char*>(d->d_name))) return;
        }
    }
}

bool parse_pid(const char* s, std::uint32_t& pid) {
    if (*s == '\0') return false;
    std::uint64_t v = 0;
    for (; *s != '\0'; ++s) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(*s - '0');
        if (v > 0x7fffffff) return false;
    }
    pid = static_cast<std::uint32_t>(v);
    return pid != 0;
}

// "socket:[12345]" -> 12345
bool parse_socket_link(const char* link, std::size_t len, std::uint64_t& inode) {
    constexpr char kPrefix[] = "socket:[";
    constexpr std::size_t kPrefixLen = sizeof kPrefix - 1;
    if (len <= kPrefixLen + 1 || len > kPrefixLen + 21 ||
        std::memcmp(link, kPrefix, kPrefixLen) != 0 || link[len - 1] != ']') {
        return false;
    }
    std::uint64_t v = 0;
    for (std::size_t i = kPrefixLen; i + 1 < len; ++i) {
        if (link[i] < '0' || link[i] > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(link[i] - '0');
    }
    inode = v;
    return true;
}

void describe(int proc_fd, std::uint32_t pid, OwnerRecord& r) {
    const std::string base = std::to_string(pid);
    const int fd = sys_openat(proc_fd, (base + "/comm").c_str(), O_RDONLY);
    if (fd >= 0) {
        char buf[kMaxCommBytes];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        ::close(fd);
        if (n > 0) {
            r.comm.assign(buf, static_cast<std::size_t>(n));
            while (!r.comm.empty() && r.comm.back() == '\n') r.comm.pop_back();
        }
    }
    char exe[kMaxExeBytes];
    const long n = sys_readlinkat(proc_fd, (base + "/exe").c_str(), exe, sizeof exe);
    if (n > 0) r.exe.assign(exe, static_cast<std::size_t>(n));
}

}  // namespace

std::vector<OwnerRecord> find_socket_owners(int proc_fd, std::span<const std::uint64_t> inodes,
                                            WalkStats* stats) {
    std::vector<OwnerRecord> found;
    std::unordered_set<std::uint64_t> missing;
    for (std::uint64_t inode : inodes) {
        if (inode != 0) missing.insert(inode);
    }
    if (missing.empty() || ::lseek(proc_fd, 0, SEEK_SET) != 0) return found;
    WalkStats local;
    WalkStats& st = stats != nullptr ? *stats : local;
    char link[64];
    for_each_entry(proc_fd, [&](const char* name) {
        std::uint32_t pid;
        if (!parse_pid(name, pid)) return true;
        const std::string fd_dir = std::string(name) + "/fd";
        const int dfd = sys_openat(proc_fd, fd_dir.c_str(), O_RDONLY | O_DIRECTORY);
        if (dfd < 0) {
            if (errno != ENOENT && errno != ESRCH) ++st.pids_unreadable;
            return true;
        }
        std::size_t first = found.size();
        bool described = false;
        for_each_entry(dfd, [&](const char* fd_name) {
            if (fd_name[0] == '.') return true;
            ++st.fds_examined;
            const std::string path = fd_dir + "/" + fd_name;
            const long n = sys_readlinkat(proc_fd, path.c_str(), link, sizeof link);
            std::uint64_t inode;
            if (n <= 0 || !parse_socket_link(link, static_cast<std::size_t>(n), inode)) return true;
            const auto it = missing.find(inode);
            if (it == missing.end()) return true;
            OwnerRecord r;
            r.inode = inode;
            r.pid = pid;
            if (!described) {
                describe(proc_fd, pid, r);
                described = true;
            } else {
                r.comm = found[first].comm;
                r.exe = found[first].exe;
            }
            found.push_back(std::move(r));
            missing.erase(it);
            return !missing.empty();
        });
        ::close(dfd);
        return !missing.empty();
    });
    return found;
}

namespace {

long sys_newfstatat(int dirfd, const char* path, struct ::stat* st, int flags) {
    return ::syscall(SYS_newfstatat, dirfd, path, st, flags);
}

// Reads a link relative to proc_fd: 0 or errno.
int read_link_at(int proc_fd, const std::string& path, std::string& out, std::size_t max) {
    char buf[kMaxPathBytes];
    const long n = sys_readlinkat(proc_fd, path.c_str(), buf, sizeof buf);
    if (n < 0) return errno;
    out.assign(buf, std::min(static_cast<std::size_t>(n), max));
    return 0;
}

std::uint64_t mix(std::uint64_t z) {  // splitmix64's finalizer
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Keyed digest of the image layout fields of /proc/<pid>/stat (startcode, endcode, startstack,
// arg_start, arg_end, env_start: fields 26-28, 48-50), which only a ptrace-capable reader sees;
// 0 when unreadable or all zero. The key never leaves the helper, so the value says nothing about
// addresses; it changes when the process maps a new image.
std::uint64_t image_fingerprint(int proc_fd, const std::string& base, std::uint64_t key) {
    const int fd = sys_openat(proc_fd, (base + "/stat").c_str(), O_RDONLY);
    if (fd < 0) return 0;
    char buf[2048];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    const char* p = std::strrchr(buf, ')');
    if (p == nullptr) return 0;
    // After ") " comes field 3 (state).
    std::uint64_t h = mix(key);
    bool any = false;
    int field = 2;
    for (const char* q = p + 1; *q != '\0' && field < 50;) {
        while (*q == ' ') ++q;
        if (*q == '\0') break;
        ++field;
        const char* start = q;
        while (*q != ' ' && *q != '\0' && *q != '\n') ++q;
        if ((field >= 26 && field <= 28) || (field >= 48 && field <= 50)) {
            std::uint64_t v = 0;
            for (const char* c = start; c < q; ++c) {
                if (*c < '0' || *c > '9') return 0;
                v = v * 10 + static_cast<std::uint64_t>(*c - '0');
            }
            any |= v != 0;
            h = mix(h ^ v ^ key);
        }
        if (*q == '\n') break;
    }
    if (field < 50 || !any) return 0;
    return h == 0 ? 1 : h;
}

}  // namespace

LinksRecord read_process_links(int proc_fd, std::uint32_t pid, std::uint64_t fingerprint_key) {
    LinksRecord r;
    r.pid = pid;
    const std::string base = std::to_string(pid);
    struct ::stat st {};
    if (sys_newfstatat(proc_fd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        r.error = errno == ESRCH ? ENOENT : errno;
        return r;
    }
    r.exe_errno = read_link_at(proc_fd, base + "/exe", r.exe, kMaxPathBytes);
    if (r.exe_errno == 0) {
        if (sys_newfstatat(proc_fd, (base + "/exe").c_str(), &st, 0) == 0) {
            r.exe_dev = st.st_dev;
            r.exe_ino = st.st_ino;
            r.exe_mtime_ns =
                static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
            r.exe_ctime_ns =
                static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000LL + st.st_ctim.tv_nsec;
            r.exe_size = static_cast<std::uint64_t>(st.st_size);
            r.exe_mode = st.st_mode;
            r.exe_uid = st.st_uid;
            r.exe_nlink = st.st_nlink;
        } else {
            r.exe_errno = errno;
            r.exe.clear();
        }
    }
    r.cwd_errno = read_link_at(proc_fd, base + "/cwd", r.cwd, kMaxPathBytes);
    if (r.cwd_errno != 0) r.cwd.clear();
    // A fixed list: /proc/<pid>/ns is mode 0511, not listable by the helper's user.
    for (const char* name : {"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time",
                             "time_for_children", "user", "uts"}) {
        LinksRecord::Namespace ns;
        ns.name = name;
        ns.error = read_link_at(proc_fd, base + "/ns/" + name, ns.link, kMaxNsLinkBytes);
        if (ns.error == ENOENT) continue;  // not on this kernel
        r.namespaces.push_back(std::move(ns));
    }
    r.root_exe_errno = ENOENT;
    if (r.exe_errno == 0 && !r.exe.empty() && r.exe[0] == '/') {
        std::string path = r.exe;
        constexpr std::string_view kDeleted = " (deleted)";
        if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
        // The kernel's canonical path of the running image, resolved in the process's own root
        // (never a path from the request).
        if (sys_newfstatat(proc_fd, (base + "/root" + path).c_str(), &st, AT_SYMLINK_NOFOLLOW) ==
            0) {
            r.root_exe_errno = 0;
            r.root_exe_dev = st.st_dev;
            r.root_exe_ino = st.st_ino;
        } else {
            r.root_exe_errno = errno;
        }
    }
    r.image_fingerprint = image_fingerprint(proc_fd, base, fingerprint_key);
    return r;
}

int open_process_exe(int proc_fd, std::uint32_t pid, int& error) {
    error = 0;
    const std::string path = std::to_string(pid) + "/exe";
    const int fd = sys_openat(proc_fd, path.c_str(), O_RDONLY | O_NOCTTY);
    if (fd < 0) {
        error = errno == ESRCH ? ENOENT : errno;
        return -1;
    }
    struct ::stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        error = EACCES;
        ::close(fd);
        return -1;
    }
    // Lend no privilege to read a file: only what the sandbox's user (our own ids) may read by
    // the mode bits (the helper of a net.read instance holds CAP_DAC_READ_SEARCH).
    const bool readable = st.st_uid == ::geteuid()   ? (st.st_mode & S_IRUSR) != 0
                          : st.st_gid == ::getegid() ? (st.st_mode & S_IRGRP) != 0
                                                     : (st.st_mode & S_IROTH) != 0;
    if (!readable) {
        error = EACCES;
        ::close(fd);
        return -1;
    }
    return fd;
}

namespace {

bool send_message(int fd, const std::vector<std::uint8_t>& m) {
    for (;;) {
        const ssize_t n = ::send(fd, m.data(), m.size(), MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(m.size())) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

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
