// Seccomp violations in "deny" mode: the filter traps a forbidden syscall (SECCOMP_RET_TRAP),
// the SIGSYS handler makes it return -EPERM and counts it per syscall number with lock-free
// atomics (async-signal-safe). The bridge reads the counts and reports what grew.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemoneye/result.hpp"

namespace daemoneye::launcher::sandbox {

// Installs the SIGSYS handler. Must run before the seccomp filter is loaded (the filter then
// refuses rt_sigaction on SIGSYS so the plugin cannot replace it).
Status install_violation_handler();

struct ViolationCount {
    int syscall_nr = -1;
    std::string syscall;  // resolved name, "syscall_<nr>" when unknown
    std::uint64_t count = 0;
};

// Every syscall denied at least once, with its cumulative count.
std::vector<ViolationCount> violation_counts();
std::uint64_t total_violations();
std::string syscall_name(int nr);

// Filesystem denials. Landlock (EACCES) and the fsview (ENOENT: the file is not in the view) do
// not tell the process anything, so the launcher executable interposes the libc open entry points
// (fs_interpose.cpp, exported so the plugin's references bind to them) and hands every failed
// open to note_fs_denial(), which counts it only when the active layer caused it: an absolute
// path outside the layer's allowed set, not under /proc (EACCES on other users' /proc/<pid>/...
// is normal for collectors), with the errno that layer produces. Opens by raw syscall are still
// denied but not seen here.
enum class FsLayer { None, Landlock, FsView };
// Called once the layer took effect (never under --no-sandbox). `allowed`: absolute paths the
// layer lets through (a denial under one of them is file permissions, not the sandbox).
void enable_fs_denial_reporting(FsLayer layer, std::vector<std::string> allowed);
// From the interposed open wrappers: `call` is a static string ("open", "openat", "fopen", ...).
// Cheap when reporting is off; preserves errno.
void note_fs_denial(const char* call, const char* path, int err) noexcept;

struct FsDenialCount {
    std::string call;  // "open", "openat", "fopen", ...
    std::string path;  // as the plugin gave it (truncated to 255 bytes)
    int err = 0;       // EACCES, EPERM or ENOENT
    std::uint64_t count = 0;
    // How it is reported: "open(/etc/shadow)" (the SandboxViolation's syscall field and the key
    // in launcher.violations).
    std::string what() const { return call + "(" + path + ")"; }
};
std::vector<FsDenialCount> fs_denial_counts();
const char* fs_layer_name();  // "landlock", "fsview" or "none"

}  // namespace daemoneye::launcher::sandbox
