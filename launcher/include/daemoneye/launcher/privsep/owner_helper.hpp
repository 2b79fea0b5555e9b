// The socket-owner helper: privilege separation for net.read.
//
// Mapping a socket inode to the process holding it means reading the "socket:[N]" links in every
// process's /proc/<pid>/fd, which for other users' processes needs CAP_DAC_READ_SEARCH (the
// directory is mode 0500) and CAP_SYS_PTRACE (ptrace-mode access; /proc/<pid>/exe too). A
// sandboxed plugin holding CAP_DAC_READ_SEARCH could read any host file through
// /proc/<pid>/root/..., which no mount namespace hides. So the launcher forks this helper before
// it applies the sandbox: the helper keeps exactly those two capabilities, switches to the
// sandbox user, dies with the launcher (PR_SET_PDEATHSIG + getppid check), installs its own
// seccomp allow-list (opens and readlinks only relative to its /proc descriptor, read-only; no
// exec, no sockets, no process creation; anything else kills it), and answers only "who holds
// these socket inodes" over a socketpair (owner_protocol.hpp). No plugin code ever runs in it.
// The plugin reaches it through de_host_api::socket_owners (ABI 1.1); the plugin process itself
// keeps no capability for net.read.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemoneye/launcher/privsep/owner_protocol.hpp"
#include "daemoneye/launcher/sandbox/layer.hpp"
#include "daemoneye/result.hpp"

namespace daemoneye::launcher::privsep {

struct OwnerHelperOptions {
    std::string user = "nobody";  // switched to when root (like the sandbox)
    std::string proc_root = "/proc";
    std::chrono::milliseconds ready_timeout{10000};
};

struct SpawnedHelper {
    int fd = -1;  // the launcher's end (SOCK_SEQPACKET, close-on-exec); -1 when not running
    pid_t pid = -1;
    LayerReport report;  // "owner_helper": applied with what the helper applied, or why not
};

// Forks the helper. Call while single-threaded, before the sandbox. Never fails the launcher:
// when the helper cannot be started or gives up during its own set-up, the report says so
// (applied=false) and fd is -1.
SpawnedHelper spawn_owner_helper(const OwnerHelperOptions& options);

// Walks `proc_root` for processes holding any of `inodes` (0 ignored), at most one owner per
// inode; what the helper runs for each request. Counters of the walk go to `stats`.
std::vector<OwnerRecord> find_socket_owners(int proc_fd, std::span<const std::uint64_t> inodes,
                                            WalkStats* stats = nullptr);

// The helper's request loop on `fd` (returns when the peer closes it, or on a fatal error);
// exposed for tests. `proc_fd` is an open descriptor of the proc root.
void serve_owner_requests(int fd, int proc_fd, pid_t expected_parent);

// What the launcher knows about its helper (OwnerHelperClient::state()).
struct HelperState {
    pid_t pid = -1;
    bool running = false;  // false once it exited or stopped answering
    std::string text;      // "running (pid N)", "exited: killed by signal 9 (SIGKILL)", ...
    WalkStats last_walk;   // the helper's counters for the last answered lookup
    std::uint64_t lookups = 0;
};

// The launcher's end. Thread-safe: one request at a time. Replies for an older request (one that
// timed out) are recognised by their id and skipped. state() and take_exit_notice() never wait
// for a lookup in progress.
class OwnerHelperClient {
  public:
    OwnerHelperClient(int fd, pid_t pid,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));
    ~OwnerHelperClient();
    OwnerHelperClient(const OwnerHelperClient&) = delete;
    OwnerHelperClient& operator=(const OwnerHelperClient&) = delete;

    using Found = std::function<void(const OwnerRecord&)>;
    // At most kMaxInodes per call. Errors: the helper is gone, timed out, or refused the request.
    Status lookup(std::span<const std::uint64_t> inodes, const Found& found);

    pid_t pid() const { return pid_; }
    int fd() const { return fd_; }
    bool broken() const { return broken_.load(); }

    // Reaps the helper when it has exited (waitpid WNOHANG on its pid only: the launcher's
    // seccomp filter allows wait4 for that one pid), so it never lingers as a zombie, and says
    // whether it is still there.
    HelperState state();
    // The exit description, once: the first call after the helper was found gone (reaps too).
    std::optional<std::string> take_exit_notice();

  private:
    void reap();  // exit_mutex_ held

    int fd_;
    pid_t pid_;
    std::chrono::milliseconds timeout_;
    mutable std::mutex mutex_;  // one lookup at a time
    std::uint32_t next_id_ = 1;
    std::atomic<bool> broken_{false};
    std::vector<std::uint8_t> buffer_;
    std::mutex exit_mutex_;  // reaping and the fields below
    std::optional<std::string> exit_;
    bool exit_noticed_ = false;
    WalkStats last_walk_;
    std::uint64_t lookups_ = 0;
};

}  // namespace daemoneye::launcher::privsep
