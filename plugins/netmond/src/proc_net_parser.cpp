#include "proc_net_parser.hpp"

#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <optional>

namespace daemoneye::netmond {
namespace {

std::optional<uint64_t> parse_hex(std::string_view s, size_t max_digits) {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        unsigned d;
        if (c >= '0' && c <= '9')
            d = static_cast<unsigned>(c - '0');
        else if (c >= 'A' && c <= 'F')
            d = static_cast<unsigned>(c - 'A' + 10);
        else if (c >= 'a' && c <= 'f')
            d = static_cast<unsigned>(c - 'a' + 10);
        else
            return std::nullopt;
        v = (v << 4) | d;
    }
    return v;
}

std::optional<uint64_t> parse_dec(std::string_view s) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        const uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
        if (next / 10 != v) return std::nullopt;  // overflow
        v = next;
    }
    return v;
}

struct Endpoint {
    uint8_t family = 0;
    std::array<uint8_t, 16> addr{};
    uint16_t port = 0;
};

// "0100007F:0016" or 32 hex digits ":" 4 hex digits.
std::optional<Endpoint> parse_endpoint(std::string_view s) {
    const size_t colon = s.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const std::string_view hex = s.substr(0, colon);
    Endpoint ep;
    if (hex.size() == 8)
        ep.family = AF_INET;
    else if (hex.size() == 32)
        ep.family = AF_INET6;
    else
        return std::nullopt;
    for (size_t w = 0; w < hex.size() / 8; ++w) {
        const auto word = parse_hex(hex.substr(w * 8, 8), 8);
        if (!word) return std::nullopt;
        const auto native = static_cast<uint32_t>(*word);
        std::memcpy(ep.addr.data() + w * 4, &native, 4);
    }
    const auto port = parse_hex(s.substr(colon + 1), 4);
    if (!port) return std::nullopt;
    ep.port = static_cast<uint16_t>(*port);
    return ep;
}

// Splits on spaces/tabs into at most N fields; returns how many it found.
template <size_t N>
size_t split_fields(std::string_view line, std::array<std::string_view, N>& out) {
    size_t n = 0, i = 0;
    while (i < line.size() && n < N) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        if (i >= line.size()) break;
        const size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        out[n++] = line.substr(start, i - start);
    }
    return n;
}

}  // namespace

ProcNetTable parse_proc_net(std::string_view text, Transport transport) {
    ProcNetTable table;
    size_t line_no = 0;
    auto reject = [&](std::string_view why, std::string_view what) {
        ++table.malformed_lines;
        if (table.first_error.empty()) {
            table.first_error = "line " + std::to_string(line_no) + ": " + std::string(why) + " '" +
                                std::string(what.substr(0, 64)) + "'";
        }
    };
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;

        std::array<std::string_view, 10> f;
        const size_t n = split_fields(line, f);
        if (n == 0) continue;                        // blank line
        if (line_no == 1 && f[0] == "sl") continue;  // header
        if (n < 10) {
            reject("truncated line", line);
            continue;
        }
        if (f[0].back() != ':' || !parse_dec(f[0].substr(0, f[0].size() - 1))) {
            reject("bad slot", f[0]);
            continue;
        }
        const auto local = parse_endpoint(f[1]);
        if (!local) {
            reject("bad local address", f[1]);
            continue;
        }
        const auto remote = parse_endpoint(f[2]);
        if (!remote || remote->family != local->family) {
            reject("bad remote address", f[2]);
            continue;
        }
        const auto state = parse_hex(f[3], 2);
        if (!state || *state == 0 || *state > kNewSynRecv) {
            reject("bad state", f[3]);
            continue;
        }
        const auto uid = parse_dec(f[7]);
        if (!uid || *uid > UINT32_MAX) {
            reject("bad uid", f[7]);
            continue;
        }
        const auto inode = parse_dec(f[9]);
        if (!inode) {
            reject("bad inode", f[9]);
            continue;
        }

        SocketEntry s;
        s.transport = transport;
        s.family = local->family;
        s.state = static_cast<uint8_t>(*state);
        s.local_addr = local->addr;
        s.local_port = local->port;
        s.remote_addr = remote->addr;
        s.remote_port = remote->port;
        s.uid = static_cast<uint32_t>(*uid);
        s.inode = *inode;
        table.sockets.push_back(s);
    }
    return table;
}

}  // namespace daemoneye::netmond
