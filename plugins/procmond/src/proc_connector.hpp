// The netlink process connector (NETLINK_CONNECTOR / CN_IDX_PROC): fork, exec and exit as they
// happen. Needs CAP_NET_ADMIN in the initial user namespace and a netlink socket that the sandbox
// allows; open() says why when it cannot, and procmond then runs on scans alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "result.hpp"

namespace procmond {

struct ConnectorEvent {
    enum class Kind { kFork, kExec, kExit };
    Kind kind;
    std::int32_t pid = 0;   // the process (thread-group leader)
    std::int32_t ppid = 0;  // fork: the parent process
};

// Appends the fork/exec/exit events of one received netlink datagram (thread events dropped).
// Messages that are malformed, truncated or not from the process connector are skipped.
void decode_connector_datagram(const char* data, std::size_t size,
                               std::vector<ConnectorEvent>& out);

class ProcConnector {
  public:
    // Subscribes and waits (up to ~1 s) for the kernel's acknowledgement.
    static Result<std::unique_ptr<ProcConnector>> open();
    ~ProcConnector();
    ProcConnector(const ProcConnector&) = delete;
    ProcConnector& operator=(const ProcConnector&) = delete;

    int fd() const { return fd_; }

    // Drains what is queued without blocking. Thread events are dropped (only whole processes
    // matter). Returns false when the kernel dropped messages (ENOBUFS): the caller must rescan.
    bool drain(std::vector<ConnectorEvent>& out);

    std::uint64_t overruns() const { return overruns_; }

  private:
    explicit ProcConnector(int fd) : fd_(fd) {}
    int fd_;
    std::uint64_t overruns_ = 0;
};

}  // namespace procmond
