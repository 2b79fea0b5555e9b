// libFuzzer target for plugins/netmond/src/proc_net_parser.cpp: any bytes as /proc/net/tcp text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proc_net_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto table = daemoneye::netmond::parse_proc_net(text, daemoneye::netmond::Transport::Tcp);
    for (const auto& s : table.sockets) {
        // Every row the parser accepts is formattable and has a known family.
        if (s.family != 2 && s.family != 10) __builtin_trap();
        (void)daemoneye::netmond::format_address(s.family, s.local_addr);
        (void)daemoneye::netmond::state_name(s.transport, s.state);
    }
    return 0;
}
