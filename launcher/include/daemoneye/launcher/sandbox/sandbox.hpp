// Applies every sandbox layer in order, before the plugin is loaded:
//   env, fds, pdeathsig, rlimits, namespaces, fsview (proc.read/net.read only), user + caps,
//   (pdeathsig re-armed: a uid change clears it), no_new_privs, landlock, seccomp.
// The process must still be single-threaded (Landlock and the uid switch act per thread).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "daemoneye/launcher/exit_code.hpp"
#include "daemoneye/launcher/options.hpp"
#include "daemoneye/launcher/permissions.hpp"
#include "daemoneye/launcher/sandbox/layer.hpp"
#include "daemoneye/result.hpp"

namespace daemoneye::launcher {

struct SandboxConfig {
    bool enabled = true;
    PermissionSet permissions;
    std::uint64_t memory_limit_mb = 0;
    std::string user = "nobody";
    ViolationAction on_violation = ViolationAction::Deny;
    int keep_fd = -1;           // the bus fd
    int helper_fd = -1;         // net.read: the socket-owner helper's socket (privsep/)
    pid_t helper_pid = 0;       // and its pid (the only child the launcher may reap)
    std::string plugin_path;    // readable + executable under Landlock
    pid_t expected_parent = 0;  // getppid() at startup
};

// The CAP_* numbers `permissions` need.
std::vector<int> capabilities_for(const PermissionSet& permissions);

// Directories the dynamic loader and the C++ runtime read from (plus the plugin's own folder).
std::vector<std::string> library_paths(const std::string& plugin_path);

Result<SandboxReport, Failure> apply_sandbox(const SandboxConfig& config);

}  // namespace daemoneye::launcher
