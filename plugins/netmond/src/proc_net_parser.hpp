// Pure parser of /proc/net/{tcp,tcp6,udp,udp6}: text in, socket rows out. No I/O, so the unit
// tests and the fuzz target feed it captured, malformed and truncated samples directly.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "socket_entry.hpp"

namespace daemoneye::netmond {

struct ProcNetTable {
    std::vector<SocketEntry> sockets;
    size_t malformed_lines = 0;  // skipped; the rest of the table is still used
    std::string first_error;     // "line 3: bad local address '0100007G:0016'"
};

// `text` is the whole file including its header line. Addresses are printed by the kernel as
// native-endian 32-bit words, so this parser is only meaningful on the host that produced them
// (which is the only place it runs). The family comes from the address width (8 or 32 hex
// digits); a line whose two addresses disagree is malformed.
ProcNetTable parse_proc_net(std::string_view text, Transport transport);

}  // namespace daemoneye::netmond
