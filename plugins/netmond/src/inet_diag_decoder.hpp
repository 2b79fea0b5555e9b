// Pure encoder/decoder of NETLINK_SOCK_DIAG inet_diag messages (what `ss` speaks). The reader
// does the socket I/O; this file only turns bytes into rows, so tests and the fuzz target can feed
// it captured, truncated and corrupted datagrams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "socket_entry.hpp"

namespace daemoneye::netmond {

// One dump request (nlmsghdr + inet_diag_req_v2) for every socket of `family`/`transport` whose
// state bit is set in `state_mask` (bit N = TcpState N; ~0u for all).
std::vector<uint8_t> build_inet_diag_request(uint8_t family, Transport transport,
                                             uint32_t state_mask, uint32_t seq);

struct DiagDecodeResult {
    bool done = false;     // NLMSG_DONE seen: the dump is complete
    int error = 0;         // errno from an NLMSG_ERROR reply (positive), 0 if none
    size_t decoded = 0;    // rows appended
    size_t malformed = 0;  // messages skipped (short payload, bad family, bad header)
    std::string first_error;
};

// Decodes one datagram of a dump reply, appending rows to `out` (appending lets the reader reuse
// one vector for a whole scan). Messages with another sequence number are ignored. A header whose
// length runs past the buffer ends decoding of this datagram (there is no way to resync).
DiagDecodeResult decode_inet_diag(std::span<const uint8_t> datagram, Transport transport,
                                  uint32_t expected_seq, std::vector<SocketEntry>& out);

}  // namespace daemoneye::netmond
