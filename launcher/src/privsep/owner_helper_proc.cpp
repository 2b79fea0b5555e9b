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

// What the helper reads from /proc on a request: socket owners, a process's links, its executable.

namespace daemoneye::launcher::privsep {
namespace {

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

}  // namespace daemoneye::launcher::privsep
