// Reads the kernel's TCP/UDP socket tables: NETLINK_SOCK_DIAG when it works, /proc/net otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "socket_entry.hpp"

namespace daemoneye::netmond {

enum class SourceMode { Auto, SockDiag, Procfs };

struct TableReadReport {
    size_t malformed = 0;      // rows or messages skipped by the parsers
    size_t tables_failed = 0;  // tables neither source could read
    std::string first_error;
    bool used_procfs = false;  // at least one table came from /proc/net this time
};

class SocketTableReader {
  public:
    // proc_net_dir: where tcp/tcp6/udp/udp6 live ("/proc/net"; tests may point elsewhere).
    explicit SocketTableReader(SourceMode mode, std::string proc_net_dir = "/proc/net");
    ~SocketTableReader();
    SocketTableReader(const SocketTableReader&) = delete;
    SocketTableReader& operator=(const SocketTableReader&) = delete;

    // Replaces `out` with every socket of the four tables (two when include_udp is false).
    // Never throws; a table that cannot be read is reported and the others are still returned.
    TableReadReport read(bool include_udp, std::vector<SocketEntry>& out);

    // "sock_diag", "procfs" or "sock_diag+procfs" (some tables fell back), for health.
    std::string mode_name() const;

  private:
    bool read_sock_diag(uint8_t family, Transport transport, std::vector<SocketEntry>& out,
                        TableReadReport& report);
    bool read_procfs(uint8_t family, Transport transport, std::vector<SocketEntry>& out,
                     TableReadReport& report);

    SourceMode mode_;
    std::string proc_net_dir_;
    int netlink_fd_ = -1;
    bool netlink_unavailable_ = false;
    bool last_used_procfs_ = false;
    uint32_t seq_ = 0;
    std::vector<uint8_t> recv_buf_;
};

}  // namespace daemoneye::netmond
