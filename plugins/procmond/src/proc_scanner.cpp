#include "proc_scanner.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>

#include "proc_parsers.hpp"

namespace procmond {
namespace {

constexpr std::uint32_t kPfKthread = 0x00200000;  // include/linux/sched.h
constexpr std::size_t kSmallFileCap = 16 * 1024;
constexpr std::size_t kCmdlineCap = 64 * 1024;  // longer argv is truncated, not an error
constexpr std::array<const char*, 8> kNamespaces = {"cgroup", "ipc",  "mnt",  "net",
                                                    "pid",    "time", "user", "uts"};

bool is_denied(int err) {
    return err == EACCES || err == EPERM;
}
bool is_gone(int err) {
    return err == ENOENT || err == ESRCH;
}

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

}  // namespace

Result<std::unique_ptr<ProcScanner>> ProcScanner::open(ExeHasher& hasher, UserCache& users,
                                                       std::string proc_root,
                                                       PrivilegedProcReader* privileged) {
    const int fd = ::open(proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return failure("cannot open " + proc_root + ": " + std::strerror(errno));
    std::unique_ptr<ProcScanner> s(new ProcScanner(hasher, users, fd, 0));
    s->privileged_ = privileged;
    if (const int err = s->read_file(fd, "stat", 1 << 20); err != 0) {
        return failure("cannot read " + proc_root + "/stat: " + std::strerror(err));
    }
    auto btime = parse_boot_time(s->text());
    if (!btime) return failure(btime.reason());
    s->boot_time_s_ = *btime;
    std::string link;
    if (s->read_link(fd, "self/ns/mnt", link) == 0) {
        if (auto ns = parse_namespace_link(link)) s->own_mnt_ns_ = ns->inode;
    }
    return s;
}

ProcScanner::ProcScanner(ExeHasher& hasher, UserCache& users, int proc_fd,
                         std::uint64_t boot_time_s)
    : hasher_(hasher),
      users_(users),
      proc_fd_(proc_fd),
      boot_time_s_(boot_time_s),
      clk_tck_(::sysconf(_SC_CLK_TCK)),
      page_size_(::sysconf(_SC_PAGESIZE)) {
    if (clk_tck_ <= 0) clk_tck_ = 100;
    if (page_size_ <= 0) page_size_ = 4096;
    buf_.resize(kCmdlineCap);
}

ProcScanner::~ProcScanner() {
    if (proc_fd_ >= 0) ::close(proc_fd_);
}

int ProcScanner::read_file(int dirfd, const char* name, std::size_t cap, struct ::stat* owner) {
    len_ = 0;
    const int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno;
    Fd closer(fd);
    if (owner != nullptr && ::fstat(fd, owner) != 0) return errno;
    cap = std::min(cap, buf_.size());
    while (len_ < cap) {
        const ssize_t n = ::read(fd, buf_.data() + len_, cap - len_);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            len_ = 0;
            return err;
        }
        if (n == 0) break;
        len_ += static_cast<std::size_t>(n);
        // stat, status and cgroup are produced whole by one read and end in '\n'; skip the
        // extra read() that would only return 0. cmdline has no trailing newline: read to EOF.
        if (len_ < cap && buf_[len_ - 1] == '\n') break;
    }
    return 0;
}

int ProcScanner::read_link(int dirfd, const char* name, std::string& out) {
    char target[4096];
    const ssize_t n = ::readlinkat(dirfd, name, target, sizeof target);
    if (n < 0) return errno;
    out.assign(target, static_cast<std::size_t>(n));
    return 0;
}

ProcessTable ProcScanner::scan(const ScanOptions& options, const ProcessTable* previous,
                               ScanStats& stats) {
    ++scan_no_;
    path_cache_.clear();
    ProcessTable table;
    if (previous) table.reserve(previous->size() + 64);

    const int dfd = ::openat(proc_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        stats.last_error = std::string("cannot list /proc: ") + std::strerror(errno);
        return table;
    }
    DIR* dir = ::fdopendir(dfd);
    if (!dir) {
        ::close(dfd);
        stats.last_error = std::string("cannot list /proc: ") + std::strerror(errno);
        return table;
    }
    while (const dirent* e = ::readdir(dir)) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        std::int32_t pid = 0;
        const char* end = e->d_name + std::strlen(e->d_name);
        auto [p, ec] = std::from_chars(e->d_name, end, pid);
        if (ec != std::errc() || p != end || pid <= 0) continue;
        ++stats.listed;
        const Process* prev = nullptr;
        if (previous) {
            auto it = previous->find(pid);
            if (it != previous->end()) prev = &it->second;
        }
        Process proc;
        if (read_into(pid, options, prev, options.full_read, proc, stats) == ReadOutcome::kOk) {
            ++stats.read;
            table.emplace(pid, std::move(proc));
        }
    }
    ::closedir(dir);
    hasher_.end_generation();
    return table;
}

Result<Process> ProcScanner::read_process(std::int32_t pid, const ScanOptions& options,
                                          ScanStats& stats) {
    path_cache_.clear();
    Process proc;
    switch (read_into(pid, options, nullptr, true, proc, stats)) {
        case ReadOutcome::kOk:
            return proc;
        case ReadOutcome::kVanished:
            return failure("no process with pid " + std::to_string(pid));
        case ReadOutcome::kError:
            break;
    }
    return failure("pid " + std::to_string(pid) + ": " + stats.last_error);
}

ProcScanner::ReadOutcome ProcScanner::read_into(std::int32_t pid, const ScanOptions& options,
                                                const Process* previous, bool full, Process& out,
                                                ScanStats& stats) {
    constexpr int kAttempts = 3;
    for (int attempt = 1;; ++attempt) {
        ScanStats local;
        Process p;
        bool examined = false;
        const ReadOutcome r = read_attempt(pid, options, previous, full, p, local, examined);
        const bool settled = r != ReadOutcome::kOk || !examined || attempt == kAttempts ||
                             !changed_image_since(pid, p);
        if (!settled) continue;  // caught mid-exec: read it again, counting only the last read
        stats.vanished += local.vanished;
        stats.denied += local.denied;
        stats.parse_errors += local.parse_errors;
        stats.hash_errors += local.hash_errors;
        stats.kernel_threads += local.kernel_threads;
        if (!local.last_error.empty()) stats.last_error = std::move(local.last_error);
        out = std::move(p);
        return r;
    }
}

bool ProcScanner::changed_image_since(std::int32_t pid, const Process& p) {
    // No argv yet: an exec in progress (or a process that cleared its own argv; a zombie has none).
    if (p.argv.empty() && p.state != 'Z') return true;
    char rel[48];
    std::snprintf(rel, sizeof rel, "%d/stat", pid);
    if (read_file(proc_fd_, rel, kSmallFileCap) != 0 || len_ == 0) return false;  // gone
    auto st = parse_stat(text());
    if (!st) return false;
    std::uint64_t fingerprint = st->image_fingerprint;
    if (st->layout_hidden && (st->flags & kPfKthread) == 0 && privileged_ != nullptr) {
        if (const std::uint64_t h = helper_fingerprint(pid); h != 0) fingerprint = h;
    }
    return st->comm != p.name || fingerprint != p.image_fingerprint;
}

std::uint64_t ProcScanner::helper_fingerprint(std::int32_t pid) {
    if (privileged_ == nullptr) return 0;
    daemoneye::sdk::ProcessLinks l;
    return privileged_->links(pid, l) == DE_OK ? l.image_fingerprint : 0;
}

ProcScanner::ReadOutcome ProcScanner::read_attempt(std::int32_t pid, const ScanOptions& options,
                                                   const Process* previous, bool full, Process& p,
                                                   ScanStats& stats, bool& examined) {
    char name[16];
    std::snprintf(name, sizeof name, "%d", pid);
    const std::string where = "/proc/" + std::string(name) + "/";
    auto gone_or_denied = [&](int err, const char* what) {
        if (is_gone(err)) {
            ++stats.vanished;
            return ReadOutcome::kVanished;
        }
        stats.last_error = where + what + ": " + std::strerror(err);
        ++stats.denied;
        return ReadOutcome::kError;
    };

    // The owner of /proc/<pid>/* follows the process's effective credentials (and dumpability).
    struct stat owner {};
    char rel[48];
    std::snprintf(rel, sizeof rel, "%d/stat", pid);
    if (const int err = read_file(proc_fd_, rel, kSmallFileCap, &owner); err != 0) {
        return gone_or_denied(err, "stat");
    }
    p.proc_owner_uid = owner.st_uid;
    p.proc_owner_gid = owner.st_gid;
    if (len_ == 0) {  // the process was reaped between open and read
        ++stats.vanished;
        return ReadOutcome::kVanished;
    }
    auto st = parse_stat(text());
    if (!st) {
        ++stats.parse_errors;
        stats.last_error = where + st.reason();
        return ReadOutcome::kError;
    }
    p.pid = pid;
    p.ppid = st->ppid;
    p.name = std::move(st->comm);
    p.state = st->state;
    p.threads = st->num_threads > 0 ? static_cast<std::uint32_t>(st->num_threads) : 0;
    p.vsz_bytes = st->vsize_bytes;
    p.rss_bytes = st->rss_pages > 0 ? static_cast<std::uint64_t>(st->rss_pages) *
                                          static_cast<std::uint64_t>(page_size_)
                                    : 0;
    const auto tck = static_cast<std::uint64_t>(clk_tck_);
    p.cpu_user_ms = st->utime_ticks * 1000 / tck;
    p.cpu_system_ms = st->stime_ticks * 1000 / tck;
    p.start_time_unix_nanos = boot_time_s_ * 1000000000ULL +
                              st->starttime_ticks * (1000000000ULL / tck) +
                              (st->starttime_ticks % tck) * (1000000000ULL % tck) / tck;
    p.kernel_thread = (st->flags & kPfKthread) != 0;
    p.image_fingerprint = st->image_fingerprint;
    // Another user's process: without CAP_SYS_PTRACE its stat hides the memory layout, and its
    // exe/cwd/ns links are closed to us. The launcher's helper answers those (proc.read); one
    // round trip per such process and scan, taken here so the fast path below works as before.
    std::optional<daemoneye::sdk::ProcessLinks> helper;
    if (privileged_ != nullptr && st->layout_hidden && (st->flags & kPfKthread) == 0 &&
        p.state != 'Z') {
        daemoneye::sdk::ProcessLinks l;
        const de_status hs = privileged_->links(pid, l);
        if (hs == DE_ERR_NOT_FOUND) {
            ++stats.vanished;
            return ReadOutcome::kVanished;
        }
        if (hs == DE_OK) {
            if (l.image_fingerprint != 0) p.image_fingerprint = l.image_fingerprint;
            helper = std::move(l);
        }
    }

    if (previous && !same_process(*previous, p)) previous = nullptr;  // pid reused

    const bool refresh_turn =
        options.refresh_every > 0 &&
        (static_cast<std::uint64_t>(pid) + scan_no_) % options.refresh_every == 0;
    if (previous && !full && !refresh_turn && previous->proc_owner_uid == p.proc_owner_uid &&
        previous->proc_owner_gid == p.proc_owner_gid) {
        p.uid = previous->uid;
        p.euid = previous->euid;
        p.gid = previous->gid;
        p.user = previous->user;
    } else {
        std::snprintf(rel, sizeof rel, "%d/status", pid);
        if (const int err = read_file(proc_fd_, rel, kSmallFileCap); err != 0) {
            return gone_or_denied(err, "status");
        }
        auto status = parse_status(text());
        if (!status) {
            ++stats.parse_errors;
            stats.last_error = where + status.reason();
            return ReadOutcome::kError;
        }
        p.uid = status->uid;
        p.euid = status->euid;
        p.gid = status->gid;
        p.user = users_.name_of(p.euid);  // like ps's USER: the effective user
    }

    if (p.kernel_thread) {
        ++stats.kernel_threads;
        return ReadOutcome::kOk;
    }
    auto carry_over = [&] {
        p.argv = previous->argv;
        p.exe = previous->exe;
        p.exe_identity = previous->exe_identity;
        p.exe_readable = previous->exe_readable;
        p.exe_sha256 = previous->exe_sha256;
        p.hash_error = previous->hash_error;
        p.exe_deleted = previous->exe_deleted;
        p.exe_replaced = previous->exe_replaced;
        p.exe_setuid_root = previous->exe_setuid_root;
        p.cgroup = previous->cgroup;
        p.container_id = previous->container_id;
        p.namespaces = previous->namespaces;
        p.cwd = previous->cwd;
    };
    if (p.state == 'Z' && previous) {
        // A zombie's exe, cwd and cmdline are gone; keep what we knew while it ran.
        carry_over();
        return ReadOutcome::kOk;
    }
    // The fast path: same image (fingerprint), same name, and the file at the exe path is still
    // the one running. Nothing else to read.
    if (previous && !full && !refresh_turn && p.image_fingerprint != 0 &&
        p.image_fingerprint == previous->image_fingerprint && p.name == previous->name &&
        previous->exe_readable && !previous->exe.empty() &&
        (!options.hash_executables || !previous->exe_sha256.empty() ||
         !previous->hash_error.empty()) &&
        in_own_mount_ns(*previous)) {
        bool unchanged = previous->exe_deleted;  // already reported; nothing more can change
        if (!unchanged) {
            const PathState on_disk = path_state(previous->exe);
            unchanged = on_disk.exists && on_disk.id == previous->exe_identity;
        }
        if (unchanged) {
            carry_over();
            return ReadOutcome::kOk;
        }
    }

    examined = true;
    const int dirfd = ::openat(proc_fd_, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return gone_or_denied(errno, "open");
    Fd dir(dirfd);

    bool denied = false;
    struct stat exe_st {};
    bool have_exe = false;
    if (helper) {
        if (helper->exe_errno == 0) {
            have_exe = true;
            exe_st.st_dev = static_cast<dev_t>(helper->exe_dev);
            exe_st.st_ino = static_cast<ino_t>(helper->exe_ino);
            exe_st.st_mtim.tv_sec = helper->exe_mtime_ns / 1000000000LL;
            exe_st.st_mtim.tv_nsec = helper->exe_mtime_ns % 1000000000LL;
            exe_st.st_ctim.tv_sec = helper->exe_ctime_ns / 1000000000LL;
            exe_st.st_ctim.tv_nsec = helper->exe_ctime_ns % 1000000000LL;
            exe_st.st_size = static_cast<off_t>(helper->exe_size);
            exe_st.st_mode = helper->exe_mode;
            exe_st.st_uid = helper->exe_uid;
            exe_st.st_nlink = static_cast<nlink_t>(helper->exe_nlink);
        } else if (is_denied(helper->exe_errno)) {
            denied = true;
        }
    } else if (::fstatat(dirfd, "exe", &exe_st, 0) == 0) {
        have_exe = true;
    } else if (is_denied(errno)) {
        denied = true;
    }
    if (have_exe) {
        p.exe_readable = true;
        p.exe_identity = identity_of(exe_st);
        p.exe_setuid_root = (exe_st.st_mode & S_ISUID) != 0 && exe_st.st_uid == 0;
    }
    const bool exec_changed = !previous || previous->exe_identity != p.exe_identity ||
                              previous->exe_readable != p.exe_readable ||
                              previous->image_fingerprint != p.image_fingerprint;
    if (!full) full = exec_changed || previous->name != p.name || refresh_turn;

    if (full) {
        if (read_file(dirfd, "cmdline", kCmdlineCap) == 0) p.argv = parse_cmdline(text());
        if (const int err = read_file(dirfd, "cgroup", kSmallFileCap); err == 0) {
            if (auto cg = parse_cgroup(text())) {
                p.cgroup = std::move(cg->path);
                p.container_id = std::move(cg->container_id);
            } else if (len_ != 0) {
                ++stats.parse_errors;
                stats.last_error = where + cg.reason();
            }
        }
        std::string link;
        char ns_path[32];
        // What we would have read ourselves, or the helper's answer for the same link.
        auto link_of = [&](const char* rel, int helper_err, const std::string& helper_link) {
            if (!helper) return read_link(dirfd, rel, link);
            if (helper_err == 0) link = helper_link;
            return helper_err;
        };
        for (const char* ns : kNamespaces) {
            std::snprintf(ns_path, sizeof ns_path, "ns/%s", ns);
            int helper_err = ENOENT;
            std::string helper_link;
            if (helper) {
                for (const auto& n : helper->namespaces) {
                    if (n.name == ns) {
                        helper_err = n.error;
                        helper_link = n.link;
                        break;
                    }
                }
            }
            const int err = link_of(ns_path, helper_err, helper_link);
            if (err == 0) {
                if (auto parsed = parse_namespace_link(link)) {
                    p.namespaces.emplace(ns, parsed->inode);
                } else {
                    ++stats.parse_errors;
                    stats.last_error = where + parsed.reason();
                }
            } else if (is_denied(err)) {
                denied = true;
            }
        }
        if (const int err = link_of("cwd", helper ? helper->cwd_errno : ENOENT,
                                    helper ? helper->cwd : std::string());
            err == 0) {
            p.cwd = std::move(link);
        } else if (is_denied(err)) {
            denied = true;
        }
        if (have_exe) {
            if (const int err = link_of("exe", helper ? helper->exe_errno : ENOENT,
                                        helper ? helper->exe : std::string());
                err == 0) {
                if (auto exe = parse_exe_link(link)) {
                    p.exe = std::move(exe->path);
                    p.exe_deleted = exe->deleted;
                } else {
                    ++stats.parse_errors;
                    stats.last_error = where + exe.reason();
                }
            }
        }
    } else {
        p.argv = previous->argv;
        p.cgroup = previous->cgroup;
        p.container_id = previous->container_id;
        p.namespaces = previous->namespaces;
        p.cwd = previous->cwd;
        p.exe = previous->exe;
        p.exe_deleted = previous->exe_deleted;
    }
    if (have_exe) {
        if (exe_st.st_nlink == 0) p.exe_deleted = true;
        check_replaced(dirfd, p, helper ? &*helper : nullptr);
        if (options.hash_executables) {
            auto hash = [&] {
                if (!helper) {
                    return hasher_.hash_running_image(dirfd, p.exe_identity,
                                                      options.max_hash_bytes);
                }
                // Opened by the helper: the same file through the same magic link.
                return hasher_.hash_running_image(
                    [&](std::string& why) {
                        int fd = -1;
                        const de_status os = privileged_->open_exe(pid, fd);
                        if (os == DE_OK) return fd;
                        const int err = os == DE_ERR_DENIED      ? EACCES
                                        : os == DE_ERR_NOT_FOUND ? ENOENT
                                                                 : 0;
                        why = err != 0 ? std::string("open exe: ") + std::strerror(err)
                                       : std::string("open exe: ") + de_status_name(os) +
                                             " from the launcher's helper";
                        return -1;
                    },
                    p.exe_identity, options.max_hash_bytes);
            };
            if (previous && !exec_changed && !previous->exe_sha256.empty()) {
                p.exe_sha256 = previous->exe_sha256;
            } else if (auto digest = hash()) {
                p.exe_sha256 = std::move(*digest);
            } else {
                p.hash_error = digest.reason();
                ++stats.hash_errors;
            }
        }
    }
    if (denied) ++stats.denied;
    return ReadOutcome::kOk;
}

bool ProcScanner::in_own_mount_ns(const Process& p) const {
    auto mnt = p.namespaces.find("mnt");
    return own_mnt_ns_ == 0 || mnt == p.namespaces.end() || mnt->second == own_mnt_ns_;
}

ProcScanner::PathState ProcScanner::path_state(const std::string& path) {
    auto it = path_cache_.find(path);
    if (it != path_cache_.end()) return it->second;
    PathState state;
    struct stat st {};
    // lstat: the path itself, never what a planted symlink points to (O_NOFOLLOW's rule).
    if (::lstat(path.c_str(), &st) == 0) {
        state.exists = true;
        state.id = identity_of(st);
    }
    path_cache_.emplace(path, state);
    return state;
}

void ProcScanner::check_replaced(int dirfd, Process& p,
                                 const daemoneye::sdk::ProcessLinks* helper) {
    p.exe_replaced = false;
    if (p.exe.empty()) return;
    PathState state;
    if (in_own_mount_ns(p)) {
        state = path_state(p.exe);
    } else if (helper != nullptr) {
        // The helper resolved the same path inside the process's root (its root link is closed
        // to us without CAP_SYS_PTRACE).
        if (helper->root_exe_errno == 0) {
            state.exists = true;
            state.id.dev = helper->root_exe_dev;
            state.id.ino = helper->root_exe_ino;
        }
    } else {
        // Another mount namespace (a container): resolve the path inside the process's root.
        // readlink of exe gives a canonical path, so no intermediate symlink can lead outside.
        const std::string in_root = "root" + p.exe;
        struct stat st {};
        if (::fstatat(dirfd, in_root.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
            state.exists = true;
            state.id = identity_of(st);
        }
    }
    if (state.exists &&
        (state.id.dev != p.exe_identity.dev || state.id.ino != p.exe_identity.ino)) {
        p.exe_replaced = true;
    }
}

}  // namespace procmond
