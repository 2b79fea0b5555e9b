#include "netmond_config.hpp"

namespace daemoneye::netmond {

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
