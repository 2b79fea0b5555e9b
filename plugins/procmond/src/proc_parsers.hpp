// Pure parsers of /proc text. Each takes the bytes of one file (or link target) and returns the
// fields procmond uses, or a reason naming what was malformed and where. No I/O happens here, so
// every parser is unit-tested from captured samples and fuzzed (tests/fuzz/procmond/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "result.hpp"

namespace procmond {

// /proc/<pid>/stat (man 5 proc). comm sits between the first '(' and the LAST ')', because a
// process may put ')' and spaces in its own name.
struct StatFields {
    std::int32_t pid = 0;
    std::string comm;
    char state = '?';
    std::int32_t ppid = 0;
    std::uint32_t flags = 0;  // PF_* (field 9); PF_KTHREAD marks kernel threads
    std::uint64_t utime_ticks = 0;
    std::uint64_t stime_ticks = 0;
    std::int64_t num_threads = 0;
    std::uint64_t starttime_ticks = 0;  // since boot
    std::uint64_t vsize_bytes = 0;
    std::int64_t rss_pages = 0;
    // Where the kernel mapped the running image: fields 26-28 (startcode, endcode, startstack)
    // and 48-50 (arg_start, arg_end, env_start). They change on every exec (ASLR, a new text
    // size, a new argv), so a scan can tell "no exec since last time" without touching the exe
    // link. 0 when absent (old kernels) or hidden (no ptrace access to the process).
    std::uint64_t image_fingerprint = 0;
    // The kernel withheld those fields (no ptrace access: startcode and endcode read 1, the rest
    // 0), so image_fingerprint is the same constant for every such process.
    bool layout_hidden = false;
};
Result<StatFields> parse_stat(std::string_view text);

// /proc/<pid>/status: the Uid and Gid lines (real, effective, saved, filesystem).
struct StatusFields {
    std::uint32_t uid = 0;
    std::uint32_t euid = 0;
    std::uint32_t gid = 0;
    std::uint32_t egid = 0;
};
Result<StatusFields> parse_status(std::string_view text);

// /proc/<pid>/cmdline: NUL-separated argv. Empty for kernel threads and zombies. A process that
// rewrote its argv without NULs ("nginx: worker process") yields one element. Never fails; at
// most `max_args` elements are returned (the rest is dropped).
std::vector<std::string> parse_cmdline(std::string_view text, std::size_t max_args = 1024);

// /proc/<pid>/cgroup: "hierarchy-id:controllers:path" per line. The unified (v2) entry "0::path"
// wins; on a pure v1 host the name=systemd path, else the first line's.
struct CgroupInfo {
    std::string path;
    std::string container_id;  // empty when the path names no container
};
Result<CgroupInfo> parse_cgroup(std::string_view text);

// The container id inside a cgroup path: a run of exactly 64 hex digits in one path component
// (docker-<id>.scope, /docker/<id>, cri-containerd-<id>.scope, crio-<id>, libpod-<id>, ...).
std::string container_id_from_cgroup_path(std::string_view path);

// Target of a /proc/<pid>/ns/<type> link: "pid:[4026531836]".
struct NamespaceLink {
    std::string type;
    std::uint64_t inode = 0;
};
Result<NamespaceLink> parse_namespace_link(std::string_view text);

// Target of /proc/<pid>/exe. The kernel appends " (deleted)" when the file was unlinked.
struct ExeLink {
    std::string path;
    bool deleted = false;
};
Result<ExeLink> parse_exe_link(std::string_view text);

// The "btime" line of /proc/stat: boot time in seconds since the Unix epoch.
Result<std::uint64_t> parse_boot_time(std::string_view proc_stat_text);

}  // namespace procmond
