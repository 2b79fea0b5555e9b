#include "daemoneye/launcher/sandbox/sandbox.hpp"

#include <linux/capability.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "daemoneye/launcher/sandbox/layers.hpp"
#include "daemoneye/launcher/sandbox/violations.hpp"

namespace daemoneye::launcher {
namespace {

void add_unique(std::vector<int>& v, int x) {
    if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

}  // namespace

std::vector<int> capabilities_for(const PermissionSet& permissions) {
    std::vector<int> caps;
    for (const auto& p : permissions.items()) {
        switch (p.kind) {
            case Permission::Kind::ProcRead:
                // Nothing: other users' /proc/<pid>/{exe,cwd,ns/*} (ptrace_may_access) and their
                // executables come from the privilege-separation helper outside the sandbox
                // (de_host_api::process_links, open_process_exe). With CAP_SYS_PTRACE in here the
                // plugin reached every process's root and cwd link (the whole host filesystem
                // as its user sees it, past the fsview) and memory layout (maps).
                break;
            case Permission::Kind::NetRead:
                // Nothing: sock_diag dumps and /proc/net need no capability, and inode -> owner
                // (other users' /proc/<pid>/fd: CAP_DAC_READ_SEARCH + CAP_SYS_PTRACE) is answered
                // by the socket-owner helper outside the sandbox (privsep/owner_helper.hpp,
                // de_host_api::socket_owners). With CAP_DAC_READ_SEARCH in here, the plugin could
                // read any host file through /proc/<pid>/root.
                break;
            case Permission::Kind::ProcEvents:
                add_unique(caps, CAP_NET_ADMIN);
                break;
            case Permission::Kind::FsWatch:
            case Permission::Kind::FsRead:
                add_unique(caps, CAP_DAC_READ_SEARCH);
                break;
        }
    }
    std::sort(caps.begin(), caps.end());
    return caps;
}

std::vector<std::string> library_paths(const std::string& plugin_path) {
    std::vector<std::string> paths = {"/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib"};
    std::error_code ec;
    auto abs = std::filesystem::absolute(plugin_path, ec);
    if (!ec && abs.has_parent_path()) paths.push_back(abs.parent_path().string());
    return paths;
}

namespace {

// The plugin's directory as the loader will name it (absolute, as given: not resolved).
std::vector<std::string> plugin_dirs(const std::string& plugin_path) {
    std::vector<std::string> dirs;
    std::error_code ec;
    auto abs = std::filesystem::absolute(plugin_path, ec);
    if (!ec && abs.has_parent_path()) dirs.push_back(abs.lexically_normal().parent_path().string());
    return dirs;
}

}  // namespace

Result<SandboxReport, Failure> apply_sandbox(const SandboxConfig& config) {
    SandboxReport report;
    auto sandbox_failure = [&](const std::string& layer, const std::string& msg) {
        return unexpected(
            Failure{ExitCode::SandboxFailure, "sandbox layer '" + layer + "': " + msg});
    };
    if (!config.enabled) {
        for (const char* name : {"env", "fds", "pdeathsig", "rlimits", "namespaces", "fsview",
                                 "user", "caps", "no_new_privs", "landlock", "seccomp"}) {
            report.push_back(not_applied(name, "--no-sandbox (debugging only)"));
        }
        return report;
    }

    report.push_back(sandbox::scrub_environment());

    auto fds = sandbox::close_inherited_fds(config.keep_fd, config.helper_fd);
    if (!fds) return sandbox_failure("fds", fds.error().message);
    report.push_back(*fds);

    auto pdeath = sandbox::arm_parent_death_signal(config.expected_parent);
    if (!pdeath) return sandbox_failure("pdeathsig", pdeath.error().message);
    report.push_back(*pdeath);
    const std::size_t pdeath_index = report.size() - 1;

    auto limits = sandbox::apply_rlimits(config.memory_limit_mb);
    if (!limits) return sandbox_failure("rlimits", limits.error().message);
    report.push_back(*limits);

    report.push_back(sandbox::enter_namespaces(config.permissions.needs_host_network()));

    // Any Landlock domain makes every process outside it un-ptrace-able, and the kernel checks
    // ptrace access (PTRACE_MODE_READ) for /proc/<pid>/{exe,fd/*}: under Landlock procmond could
    // never read another process's executable (no exe, no hash, no exec detection) and netmond
    // never map a socket to its owner, whatever capabilities are kept. Those two permissions
    // therefore run without Landlock; their filesystem is confined by a private mount namespace
    // instead (fsview), built while still root, before the user switch (mounting needs
    // CAP_SYS_ADMIN, and getpwnam in the user layer reads the view's /etc/passwd).
    const bool ptrace_reader = config.permissions.has(Permission::Kind::ProcRead) ||
                               config.permissions.has(Permission::Kind::NetRead);
    // What the filesystem layer lets through, for telling its denials from file permissions.
    sandbox::FsLayer fs_layer = sandbox::FsLayer::None;
    std::vector<std::string> fs_allowed;
    if (ptrace_reader) {
        sandbox::FsViewPolicy view;
        view.read_paths = config.permissions.read_paths();
        view.plugin_dirs = plugin_dirs(config.plugin_path);
        auto fsview = sandbox::apply_fsview(view);
        if (!fsview) return sandbox_failure("fsview", fsview.error().message);
        report.push_back(*fsview);
        if (fsview->applied) {
            fs_layer = sandbox::FsLayer::FsView;
            fs_allowed = sandbox::fsview_visible_paths(view);
        }
    }

    auto priv = sandbox::drop_privileges(config.user, capabilities_for(config.permissions));
    if (!priv) return sandbox_failure("user", priv.error().message);
    // A credential change clears the parent-death signal: arm it again (and re-check the race).
    auto rearmed = sandbox::arm_parent_death_signal(config.expected_parent);
    if (!rearmed) return sandbox_failure("pdeathsig", rearmed.error().message);
    report[pdeath_index].detail += "; re-armed after the user switch (which clears it)";
    for (auto& r : *priv) report.push_back(std::move(r));

    auto nnp = sandbox::set_no_new_privs();
    if (!nnp) return sandbox_failure("no_new_privs", nnp.error().message);
    report.push_back(*nnp);

    sandbox::LandlockPolicy landlock;
    landlock.read_paths = config.permissions.read_paths();
    // The launcher's own needs: its /proc entry, the loader cache, time zone, CPU topology.
    landlock.read_paths.push_back("/proc/" + std::to_string(getpid()));
    for (const char* p : {"/etc/ld.so.cache", "/etc/localtime", "/usr/share/zoneinfo",
                          "/sys/devices/system/cpu", "/dev/null", "/dev/urandom"}) {
        landlock.read_paths.emplace_back(p);
    }
    landlock.exec_paths = library_paths(config.plugin_path);
    // proc.read/net.read: no Landlock (see fsview above).
    if (ptrace_reader) {
        report.push_back(
            not_applied("landlock",
                        "skipped: a Landlock domain denies ptrace-mode access to every process "
                        "outside it, which a proc.read/net.read plugin's own /proc/<pid> reads "
                        "need (and its fallback when the privileged helper is absent); the "
                        "filesystem is confined by fsview instead"));
    } else {
        auto ll = sandbox::apply_landlock(landlock);
        if (!ll) return sandbox_failure("landlock", ll.error().message);
        report.push_back(*ll);
        if (ll->applied) {
            fs_layer = sandbox::FsLayer::Landlock;
            fs_allowed = landlock.read_paths;
            fs_allowed.insert(fs_allowed.end(), landlock.exec_paths.begin(),
                              landlock.exec_paths.end());
        }
    }

    sandbox::SeccompPolicy seccomp;
    seccomp.action = config.on_violation;
    seccomp.netlink_sock_diag = config.permissions.has(Permission::Kind::NetRead);
    seccomp.netlink_connector = config.permissions.has(Permission::Kind::ProcEvents);
    seccomp.inotify = config.permissions.has(Permission::Kind::FsWatch);
    seccomp.reap_child = config.helper_pid > 0 ? config.helper_pid : 0;
    auto sc = sandbox::apply_seccomp(seccomp);
    if (!sc) return sandbox_failure("seccomp", sc.error().message);
    report.push_back(*sc);
    if (fs_layer != sandbox::FsLayer::None) {
        sandbox::enable_fs_denial_reporting(fs_layer, std::move(fs_allowed));
    }
    return report;
}

}  // namespace daemoneye::launcher
