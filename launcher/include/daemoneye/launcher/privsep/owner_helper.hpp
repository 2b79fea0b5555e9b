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

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
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
// inode; what the helper runs for each request. Counters of the walk go to the out-params.
struct WalkStats {
    std::uint64_t pids_unreadable = 0;
    std::uint64_t fds_examined = 0;
};
std::vector<OwnerRecord> find_socket_owners(int proc_fd, std::span<const std::uint64_t> inodes,
                                            WalkStats* stats = nullptr);

// The helper's request loop on `fd` (returns when the peer closes it, or on a fatal error);
// exposed for tests. `proc_fd` is an open descriptor of the proc root.
void serve_owner_requests(int fd, int proc_fd, pid_t expected_parent);

// The launcher's end. Thread-safe: one request at a time. Replies for an older request (one that
// timed out) are recognised by their id and skipped.
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
    bool broken() const;

  private:
    int fd_;
    pid_t pid_;
    std::chrono::milliseconds timeout_;
    mutable std::mutex mutex_;
    std::uint32_t next_id_ = 1;
    bool broken_ = false;
    std::vector<std::uint8_t> buffer_;
};

}  // namespace daemoneye::launcher::privsep
