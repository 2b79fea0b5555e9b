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
    // What it serves (kind_bit(...)): Lookup for net.read, Links + OpenExe for proc.read.
    std::uint32_t kinds = kind_bit(RequestKind::Lookup);
    // Kept after the user switch: CAP_DAC_READ_SEARCH + CAP_SYS_PTRACE with net.read (other
    // users' /proc/<pid>/fd is mode 0500), CAP_SYS_PTRACE alone for proc.read.
    std::vector<int> capabilities = {2 /* CAP_DAC_READ_SEARCH */, 19 /* CAP_SYS_PTRACE */};
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

// proc.read: the ptrace-protected links of `pid` (exe + stat through it, cwd, ns/*, the exe path
// inside its root, a keyed image fingerprint); what the helper answers to LINKS.
LinksRecord read_process_links(int proc_fd, std::uint32_t pid, std::uint64_t fingerprint_key);
// proc.read: /proc/<pid>/exe opened read-only, or -1 with `error` (ENOENT gone, EACCES not
// readable by our own ids by its mode bits); what the helper answers to OPEN_EXE.
int open_process_exe(int proc_fd, std::uint32_t pid, int& error);

// The helper's request loop on `fd` (returns when the peer closes it, or on a fatal error);
// exposed for tests. `proc_fd` is an open descriptor of the proc root; `kinds` (kind_bit) the
// requests it answers (others: BAD_REQUEST).
void serve_owner_requests(int fd, int proc_fd, pid_t expected_parent,
                          std::uint32_t kinds = kind_bit(RequestKind::Lookup),
                          std::uint64_t fingerprint_key = 0);

// What the launcher knows about its helper (OwnerHelperClient::state()).
struct HelperState {
    pid_t pid = -1;
    bool running = false;  // false once it exited or stopped answering
    std::string text;      // "running (pid N)", "exited: killed by signal 9 (SIGKILL)", ...
    WalkStats last_walk;   // the helper's counters for the last answered lookup
    std::uint64_t lookups = 0;
    std::uint64_t process_calls = 0;  // answered links/open_exe requests (proc.read)
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

    // proc.read: the links of `pid` (record.error ENOENT: no such process). Errors as lookup.
    Result<LinksRecord> links(std::uint32_t pid);
    // proc.read: a read-only descriptor of what `pid` runs (the caller owns it), or the errno
    // the helper got (ENOENT, EACCES) as `error` with fd -1. Errors as lookup.
    struct ExeOpen {
        int fd = -1;
        int error = 0;
    };
    Result<ExeOpen> open_exe(std::uint32_t pid);

    // What becomes unavailable when the helper dies, for the health text ("socket owners").
    void set_service_name(std::string name) { service_ = std::move(name); }

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
    // Sends `request` (id `id`) and hands each reply to it to `on_reply` (with the descriptor
    // that came along, or -1; ownership passes) until it returns true. mutex_ held.
    Status round_trip(const std::vector<std::uint8_t>& request, std::uint32_t id,
                      const std::function<bool(Response&, int)>& on_reply);
    std::uint32_t take_id();

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
    std::uint64_t process_calls_ = 0;
    std::string service_ = "socket owners";
};

}  // namespace daemoneye::launcher::privsep
