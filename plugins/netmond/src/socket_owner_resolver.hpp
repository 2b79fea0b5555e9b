// inode -> owning process, through the "socket:[N]" links in /proc/<pid>/fd (what `ss -p` does).
// Walking every fd of every process is the expensive part of a scan, so the map is kept between
// scans: /proc is walked only when a socket appears whose owner is not known yet, the walk stops
// as soon as every such socket is found, and owners that exited are forgotten.
// With a HostLookup (the host's de_host_api::socket_owners, ABI 1.1) the walk is done by the host
// — under the launcher, by a privileged helper outside the sandbox, so netmond itself needs no
// capability to see other users' processes; without one (an older host, --no-sandbox, tests) it
// walks /proc itself and sees what its own privileges allow.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace daemoneye::netmond {

struct ProcessRef {
    uint32_t pid = 0;
    std::string name;  // comm
    std::string exe;   // empty when /proc/<pid>/exe is not readable (other user, kernel thread)
};

struct HostOwner {
    uint64_t inode = 0;
    uint32_t pid = 0;
    std::string comm;
    std::string exe;
};
// Fills `owners` for the `inodes` it can; false when the lookup itself failed.
using HostLookup =
    std::function<bool(const std::vector<uint64_t>& inodes, std::vector<HostOwner>& owners)>;

struct OwnerWalkStats {
    uint64_t walks = 0;            // full or early-stopped /proc walks since start
    uint64_t pids_unreadable = 0;  // fd dirs we were denied in the last walk (partial view)
    uint64_t pids_vanished = 0;    // exited while we looked (normal, not an error)
    uint64_t fds_examined = 0;     // in the last walk
    uint64_t host_lookups = 0;     // walks done by the host (socket_owners)
    uint64_t host_failures = 0;    // host lookups that failed (then /proc was walked here)
};

class SocketOwnerResolver {
  public:
    explicit SocketOwnerResolver(std::string proc_root = "/proc", HostLookup host = {});

    bool uses_host() const { return static_cast<bool>(host_); }

    // Makes owner() answer for `inodes` (the current scan's sockets); forgets everything else.
    void refresh(const std::vector<uint64_t>& inodes);

    // The process holding the socket, or nullptr (no readable process holds it).
    std::shared_ptr<const ProcessRef> owner(uint64_t inode) const;

    const OwnerWalkStats& stats() const { return stats_; }

  private:
    void walk(std::unordered_set<uint64_t>& missing);
    bool ask_host(std::unordered_set<uint64_t>& missing);
    std::shared_ptr<const ProcessRef> describe(uint32_t pid);

    std::string proc_root_;
    HostLookup host_;
    std::unordered_map<uint64_t, std::shared_ptr<const ProcessRef>> owners_;
    // Not found by a walk. Retried once more (an accept() may have been between the table read
    // and the fd install), then only looked at again when a walk happens anyway.
    std::unordered_map<uint64_t, unsigned> unowned_;
    OwnerWalkStats stats_;
};

}  // namespace daemoneye::netmond
