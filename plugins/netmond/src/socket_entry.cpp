#include "socket_entry.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>

namespace daemoneye::netmond {
namespace {

constexpr std::array<std::string_view, 13> kStateNames = {
    "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",
    "CLOSE",   "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) ==
                      std::toupper(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::string_view state_name(Transport transport, uint8_t state) {
    if (transport == Transport::Udp && state == kClose) return "UNCONN";
    if (state < kStateNames.size()) return kStateNames[state];
    return "UNKNOWN";
}

uint8_t state_from_name(std::string_view name) {
    if (iequals(name, "UNCONN")) return kClose;
    for (size_t i = 1; i < kStateNames.size(); ++i) {
        if (iequals(name, kStateNames[i])) return static_cast<uint8_t>(i);
    }
    return 0;
}

std::string format_address(uint8_t family, const std::array<uint8_t, 16>& addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    const int af = family == AF_INET6 ? AF_INET6 : AF_INET;
    if (inet_ntop(af, addr.data(), buf, sizeof buf) == nullptr) return "?";
    return buf;
}

bool is_listener(const SocketEntry& s) {
    if (s.transport == Transport::Tcp) return s.state == kListen;
    return s.state == kClose && s.local_port != 0;
}

bool is_connection(const SocketEntry& s) {
    if (s.transport == Transport::Udp) return s.state == kEstablished;
    switch (s.state) {
        case kListen:
        case kTimeWait:
        case kClose:
        case kSynRecv:  // request sockets: no owner yet; the accepted socket follows
        case kNewSynRecv:
            return false;
        default:
            return s.state >= kEstablished && s.state <= kClosing;
    }
}

}  // namespace daemoneye::netmond
