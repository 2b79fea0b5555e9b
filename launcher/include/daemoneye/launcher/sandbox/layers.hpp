// The sandbox layers, one function (and one .cpp) each, in the order sandbox.cpp applies them.
// Each returns its report, or an error string when it failed in a way that is unsafe to ignore.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "daemoneye/launcher/options.hpp"
#include "daemoneye/launcher/sandbox/layer.hpp"
#include "daemoneye/result.hpp"

namespace daemoneye::launcher::sandbox {

// environment.cpp: clears every variable (the plugin gets an empty environment).
LayerReport scrub_environment();

// fds.cpp: closes every descriptor except 0, 1, 2, `keep_fd` (the bus) and `helper_fd` (the
// socket-owner helper's socket); -1: none.
Result<LayerReport> close_inherited_fds(int keep_fd, int helper_fd = -1);

// pdeathsig.cpp: SIGKILL when the parent dies; fails when the parent is already gone
// (getppid() != expected_parent). Re-armed after the user switch, which clears it.
Result<LayerReport> arm_parent_death_signal(pid_t expected_parent);

// rlimits.cpp: RLIMIT_AS (memory_limit_mb, 0: none), NOFILE, CORE 0, FSIZE, MEMLOCK 0.
Result<LayerReport> apply_rlimits(std::uint64_t memory_limit_mb);

// namespaces.cpp: new IPC + UTS namespaces, and NET unless `keep_host_network`.
LayerReport enter_namespaces(bool keep_host_network);

// fsview.cpp: for sandboxes without Landlock (proc.read, net.read). As root, before the user
// switch: a private mount namespace whose root is a read-only tmpfs holding read-only binds of
// the host's /proc, /usr, /lib*, the loader cache, passwd/group/nsswitch, localtime, /dev/null,
// /dev/urandom, /sys/devices/system/cpu, `read_paths` and `plugin_dirs` (each at its own path).
// Not root or unshare refused: reported not applied. A failure after unshare is an error.
struct FsViewPolicy {
    std::vector<std::string> read_paths;
    std::vector<std::string> plugin_dirs;
};
Result<LayerReport> apply_fsview(const FsViewPolicy& policy);
// Every path the view makes visible (whole trees and single files), for the denial report.
std::vector<std::string> fsview_visible_paths(const FsViewPolicy& policy);

// user.cpp: as root, switch to `user` keeping only `keep_caps` (CAP_* numbers); reports "user"
// and "caps". Not root: reports the user switch as not applied and drops any capability held
// beyond `keep_caps`.
Result<std::vector<LayerReport>> drop_privileges(const std::string& user,
                                                 const std::vector<int>& keep_caps);

// no_new_privs.cpp
Result<LayerReport> set_no_new_privs();

// landlock.cpp: read-only `read_paths`, read+execute `exec_paths`, nothing else; writes refused
// everywhere. Missing paths are skipped and named in the detail.
struct LandlockPolicy {
    std::vector<std::string> read_paths;
    std::vector<std::string> exec_paths;
};
Result<LayerReport> apply_landlock(const LandlockPolicy& policy);
int landlock_abi_version();  // 0 when the kernel has no Landlock (or it is disabled)

// seccomp.cpp: allow-list; everything else trapped (EPERM + counted) or the process killed.
struct SeccompPolicy {
    ViolationAction action = ViolationAction::Deny;
    bool netlink_sock_diag = false;  // net.read
    bool netlink_connector = false;  // proc.events
    bool inotify = false;            // fs.watch
    // net.read: the socket-owner helper's pid. wait4 is allowed for exactly this pid, so the
    // launcher can reap it when it dies (0: no child to reap, wait4 stays forbidden).
    pid_t reap_child = 0;
};
Result<LayerReport> apply_seccomp(const SeccompPolicy& policy);

}  // namespace daemoneye::launcher::sandbox
