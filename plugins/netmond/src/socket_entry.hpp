// One row of the kernel's TCP/UDP socket table, as both sources (sock_diag, /proc/net) report it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace daemoneye::netmond {

enum class Transport : uint8_t { Tcp = 1, Udp = 2 };

// Kernel socket states (include/net/tcp_states.h). UDP reuses them: ESTABLISHED when connected,
// CLOSE when merely bound (what `ss` prints as UNCONN).
enum TcpState : uint8_t {
    kEstablished = 1,
    kSynSent = 2,
    kSynRecv = 3,
    kFinWait1 = 4,
    kFinWait2 = 5,
    kTimeWait = 6,
    kClose = 7,
    kCloseWait = 8,
    kLastAck = 9,
    kListen = 10,
    kClosing = 11,
    kNewSynRecv = 12,
};

struct SocketEntry {
    Transport transport = Transport::Tcp;
    uint8_t family = 0;                    // AF_INET or AF_INET6
    uint8_t state = 0;                     // TcpState
    std::array<uint8_t, 16> local_addr{};  // network byte order; IPv4 uses the first 4 bytes
    std::array<uint8_t, 16> remote_addr{};
    uint16_t local_port = 0;  // host byte order
    uint16_t remote_port = 0;
    uint32_t uid = 0;
    uint64_t inode = 0;  // 0 for sockets no file refers to (TIME_WAIT, request sockets)

    friend bool operator==(const SocketEntry&, const SocketEntry&) = default;
};

// "ESTABLISHED", "LISTEN", ...; UDP's CLOSE is "UNCONN" like ss prints it. Unknown: "UNKNOWN".
std::string_view state_name(Transport transport, uint8_t state);

// Parses a state name back (case-insensitive); returns 0 when unknown.
uint8_t state_from_name(std::string_view name);

// "127.0.0.1", "::1", "::ffff:10.0.0.1" (inet_ntop).
std::string format_address(uint8_t family, const std::array<uint8_t, 16>& addr);

// A socket accepting connections (TCP LISTEN) or datagrams on a port (bound, unconnected UDP).
bool is_listener(const SocketEntry& s);

// A connection worth reporting: TCP between SYN_SENT and the owner closing it (TIME_WAIT and
// CLOSE are gone from the process' point of view), or a connected UDP socket.
bool is_connection(const SocketEntry& s);

}  // namespace daemoneye::netmond
