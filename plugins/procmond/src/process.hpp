// One process as procmond sees it after a scan. Plain data: the diff engine compares these and
// event_encoding turns them into daemoneye.events.v1.ProcessInfo only when something is emitted.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace procmond {

struct FileIdentity {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;  // not settable by users: catches a rewrite that restores mtime
    std::uint64_t size = 0;
    bool operator==(const FileIdentity&) const = default;
};

// Identity of the file behind a stat(): what the hash cache is keyed by.
inline FileIdentity identity_of(const struct ::stat& st) {
    return FileIdentity{
        static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec,
        static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000LL + st.st_ctim.tv_nsec,
        static_cast<std::uint64_t>(st.st_size)};
}

struct Process {
    std::int32_t pid = 0;
    std::int32_t ppid = 0;
    std::string name;  // comm (at most 15 characters)
    std::string exe;   // " (deleted)" stripped; empty for kernel threads or when unreadable
    std::vector<std::string> argv;
    std::uint32_t uid = 0;
    std::uint32_t euid = 0;
    std::uint32_t gid = 0;
    std::string user;
    std::uint64_t start_time_unix_nanos = 0;
    char state = '?';
    std::uint32_t threads = 0;
    std::uint64_t rss_bytes = 0;
    std::uint64_t vsz_bytes = 0;
    std::uint64_t cpu_user_ms = 0;
    std::uint64_t cpu_system_ms = 0;
    std::string cgroup;
    std::string container_id;
    std::map<std::string, std::uint64_t> namespaces;  // "pid" -> inode
    std::string cwd;
    std::string exe_sha256;  // hex; empty when not hashed
    std::string hash_error;  // why exe_sha256 is empty (too big, unreadable, disabled)
    bool exe_deleted = false;
    bool exe_replaced = false;  // the exe path now names another file than the running one
    bool exe_setuid_root = false;
    FileIdentity exe_identity;            // of the running image (stat through /proc/<pid>/exe)
    std::uint64_t image_fingerprint = 0;  // see StatFields::image_fingerprint
    std::uint32_t proc_owner_uid = 0;     // owner of /proc/<pid>: changes with credentials
    std::uint32_t proc_owner_gid = 0;
    bool kernel_thread = false;
    bool exe_readable = false;  // false: exe link unreadable (EACCES when unprivileged)
};

// Identity of a process across scans: pid reuse gives the same pid but a new start time.
inline bool same_process(const Process& a, const Process& b) {
    return a.pid == b.pid && a.start_time_unix_nanos == b.start_time_unix_nanos;
}

using ProcessTable = std::unordered_map<std::int32_t, Process>;

}  // namespace procmond
