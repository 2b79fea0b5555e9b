// libFuzzer target for plugins/netmond/src/inet_diag_decoder.cpp: any bytes as a netlink datagram.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "inet_diag_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<daemoneye::netmond::SocketEntry> out;
    // Sequence 0 and whatever the first header says, so both paths get exercised.
    uint32_t seq = 0;
    if (size >= 12)
        seq = static_cast<uint32_t>(data[8]) | static_cast<uint32_t>(data[9]) << 8 |
              static_cast<uint32_t>(data[10]) << 16 | static_cast<uint32_t>(data[11]) << 24;
    const auto r = daemoneye::netmond::decode_inet_diag(
        {data, size}, daemoneye::netmond::Transport::Tcp, seq, out);
    if (r.decoded != out.size()) __builtin_trap();
    (void)daemoneye::netmond::decode_inet_diag({data, size}, daemoneye::netmond::Transport::Udp, 0,
                                               out);
    return 0;
}
