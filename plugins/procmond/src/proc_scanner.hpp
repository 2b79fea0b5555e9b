// Reads /proc directly (no shelling out) into a ProcessTable. Per process it opens /proc/<pid>
// once and reads relative to that directory. Unreadable entries are normal: a process that exits
// mid-read is counted as vanished, EACCES (another user's exe when unprivileged) as denied, a
// malformed file as a parse error; none of them aborts the scan.
//
// Cost control, per known process and scan: stat of /proc/<pid> (its owner changes with the
// credentials) and a read of /proc/<pid>/stat -- two syscalls' worth of path walks. status (uids)
// is re-read only when the owner changed. The exe link is looked at only when the image
// fingerprint in stat changed (an exec), or when the file at the exe path no longer has the
// identity (dev, inode, mtime, ctime, size) of the running image (one lstat per distinct path
// per scan, shared by all processes running it): modified, deleted or replaced on disk. The rest
// (cmdline, cgroup, namespaces, cwd, exe path) is read for new processes, after an exec (the
// running image's identity changed), when comm changed, and for every process once every
// `refresh_every` scans (spread over scans by pid), otherwise carried over from the previous scan.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemoneye/sdk/host.hpp"
#include "exe_hasher.hpp"
#include "process.hpp"
#include "result.hpp"
#include "user_cache.hpp"

namespace procmond {

// Reads what another user's /proc/<pid> hides from a process without CAP_SYS_PTRACE (exe, cwd,
// ns links, the memory-layout fingerprint in stat) and opens its executable: the launcher's
// privilege-separation helper through de_host_api::process_links / open_process_exe (proc.read,
// ABI 1.2). Absent (nullptr) under --no-sandbox, in the TestHost by default, or from an older
// host: then procmond reads /proc itself, as it always did. Thread-safe.
class PrivilegedProcReader {
  public:
    virtual ~PrivilegedProcReader() = default;
    // DE_OK, DE_ERR_NOT_FOUND (gone), or another status (helper failure).
    virtual de_status links(std::int32_t pid, daemoneye::sdk::ProcessLinks& out) = 0;
    // DE_OK with `fd` (the caller closes it), DE_ERR_NOT_FOUND, DE_ERR_DENIED, ...
    virtual de_status open_exe(std::int32_t pid, int& fd) = 0;
};

struct ScanOptions {
    bool hash_executables = true;
    std::uint64_t max_hash_bytes = 256ULL * 1024 * 1024;
    bool full_read = false;            // read every field of every process (tasks, first scan)
    std::uint32_t refresh_every = 30;  // see the header comment
};

struct ScanStats {
    std::uint64_t listed = 0;        // numeric entries in /proc
    std::uint64_t read = 0;          // processes in the result
    std::uint64_t vanished = 0;      // exited between listing and reading
    std::uint64_t denied = 0;        // some field unreadable (EACCES/EPERM): partial view
    std::uint64_t parse_errors = 0;  // malformed /proc content
    std::uint64_t hash_errors = 0;   // exe not hashed (too large, unreadable, changed)
    std::uint64_t kernel_threads = 0;
    std::string last_error;  // the most recent parse/IO reason, for health
};

class ProcScanner {
  public:
    // Opens `proc_root` and reads the boot time once: start times must stay stable across scans,
    // and btime drifts when the wall clock is adjusted.
    // `privileged` (nullable, must outlive the scanner): asked for what /proc refuses us.
    static Result<std::unique_ptr<ProcScanner>> open(ExeHasher& hasher, UserCache& users,
                                                     std::string proc_root = "/proc",
                                                     PrivilegedProcReader* privileged = nullptr);
    ~ProcScanner();
    ProcScanner(const ProcScanner&) = delete;
    ProcScanner& operator=(const ProcScanner&) = delete;

    // One full scan. `previous` (nullable) is the last scan's table; see the cost comment above.
    ProcessTable scan(const ScanOptions& options, const ProcessTable* previous, ScanStats& stats);

    // One process, every field read. Fails when it does not exist or cannot be read at all.
    Result<Process> read_process(std::int32_t pid, const ScanOptions& options, ScanStats& stats);

    std::uint64_t boot_time_unix_seconds() const { return boot_time_s_; }

  private:
    struct PathState {
        bool exists = false;
        FileIdentity id;
    };
    ProcScanner(ExeHasher& hasher, UserCache& users, int proc_fd, std::uint64_t boot_time_s);

    enum class ReadOutcome { kOk, kVanished, kError };
    // read_attempt, repeated (a few times at most) while the process was caught in execve: its
    // /proc files then come from two images (stat and comm from the old one, exe from the new
    // one, an empty cmdline while the new stack is built), and such a record must not be
    // reported (a STARTED naming the new exe with the old name and no argv; the real exec then
    // looks like a mere metadata change).
    ReadOutcome read_into(std::int32_t pid, const ScanOptions& options, const Process* previous,
                          bool full, Process& out, ScanStats& stats);
    // One read. `examined` is set when it read the process's files (not a fast-path carry-over,
    // kernel thread or zombie): only then can the record be torn.
    ReadOutcome read_attempt(std::int32_t pid, const ScanOptions& options, const Process* previous,
                             bool full, Process& out, ScanStats& stats, bool& examined);
    // After an examined read: did the process exec while it was read (comm or image fingerprint
    // now differ from the record, or no argv yet)?
    bool changed_image_since(std::int32_t pid, const Process& p);
    // Reads `name` under `dirfd` into buf_ (at most `cap` bytes; text() views it); 0 or errno.
    // With `owner`, also fstat()s the open file: every /proc/<pid>/* inode carries the process's
    // effective uid/gid (root when it is not dumpable), so a credential change shows there.
    int read_file(int dirfd, const char* name, std::size_t cap, struct ::stat* owner = nullptr);
    std::string_view text() const { return std::string_view(buf_.data(), len_); }
    int read_link(int dirfd, const char* name, std::string& out);
    void read_exe_details(int dirfd, Process& p, const ScanOptions& options, ScanStats& stats);
    void check_replaced(int dirfd, Process& p,
                        const daemoneye::sdk::ProcessLinks* helper = nullptr);
    // The helper's fingerprint of `pid` when our own stat shows none (another user's process):
    // 0 when not offered or unknown.
    std::uint64_t helper_fingerprint(std::int32_t pid);
    PathState path_state(const std::string& path);
    bool in_own_mount_ns(const Process& p) const;

    PrivilegedProcReader* privileged_ = nullptr;
    ExeHasher& hasher_;
    UserCache& users_;
    int proc_fd_;
    std::uint64_t boot_time_s_;
    long clk_tck_;
    long page_size_;
    std::uint64_t own_mnt_ns_ = 0;
    std::uint64_t scan_no_ = 0;
    std::vector<char> buf_;  // allocated once: no zero-fill or allocation per read
    std::size_t len_ = 0;
    // lstat of exe paths in our own mount namespace, valid for one scan.
    std::unordered_map<std::string, PathState> path_cache_;
};

}  // namespace procmond
