// netmond's configuration (collectors.netmond.config), parsed from the flattened key/value list.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "outcome.hpp"
#include "socket_table_reader.hpp"

namespace daemoneye::netmond {

struct NetmondConfig {
    std::chrono::milliseconds scan_interval{2000};  // scan_interval_ms, 100 .. 3600000
    SourceMode source = SourceMode::Auto;           // source: auto | sock_diag | procfs
    bool include_udp = true;                        // include_udp
    bool resolve_owners = true;                     // resolve_owners: inode -> pid via /proc

    // Unknown keys and bad values are errors naming the key and the value.
    static Outcome<NetmondConfig> parse(const std::map<std::string, std::string>& flat);
};

}  // namespace daemoneye::netmond
