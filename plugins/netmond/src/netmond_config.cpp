#include "netmond_config.hpp"

#include <algorithm>
#include <cctype>

namespace daemoneye::netmond {

Outcome<bool> parse_bool(const std::string& key, const std::string& value) {
    std::string v = value;
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
    if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "false" || v == "no" || v == "off" || v == "0") return false;
    return Failure{"config key '" + key + "': expected true or false, got '" + value + "'"};
}

Outcome<uint64_t> parse_uint(const std::string& key, const std::string& value, uint64_t min,
                             uint64_t max) {
    uint64_t v = 0;
    bool ok = !value.empty() && value.size() <= 19;
    for (char c : value) {
        if (c < '0' || c > '9') {
            ok = false;
            break;
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok || v < min || v > max) {
        return Failure{"config key '" + key + "': expected an integer in [" + std::to_string(min) +
                       ", " + std::to_string(max) + "], got '" + value + "'"};
    }
    return v;
}

Outcome<NetmondConfig> NetmondConfig::parse(const std::map<std::string, std::string>& flat) {
    NetmondConfig c;
    for (const auto& [key, value] : flat) {
        if (key == "scan_interval_ms") {
            auto v = parse_uint(key, value, 100, 3600000);
            if (!v) return Failure{v.error()};
            c.scan_interval = std::chrono::milliseconds(v.value());
        } else if (key == "source") {
            if (value == "auto")
                c.source = SourceMode::Auto;
            else if (value == "sock_diag")
                c.source = SourceMode::SockDiag;
            else if (value == "procfs")
                c.source = SourceMode::Procfs;
            else
                return Failure{"config key 'source': expected auto, sock_diag or procfs, got '" +
                               value + "'"};
        } else if (key == "include_udp" || key == "resolve_owners") {
            auto v = parse_bool(key, value);
            if (!v) return Failure{v.error()};
            (key == "include_udp" ? c.include_udp : c.resolve_owners) = v.value();
        } else {
            return Failure{"config key '" + key +
                           "': unknown (netmond knows scan_interval_ms, source, include_udp, "
                           "resolve_owners)"};
        }
    }
    return c;
}

}  // namespace daemoneye::netmond
