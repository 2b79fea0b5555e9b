// procmond's configuration (collectors.procmond.config), parsed from the flattened key/value list
// the host hands over. Unknown keys and bad values are errors naming the key.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "result.hpp"

namespace procmond {

struct Config {
    std::uint32_t scan_interval_ms = 1000;
    bool hash_executables = true;
    std::uint64_t max_hash_bytes = 256ULL * 1024 * 1024;
    bool anomaly_rules = true;
    bool netlink = true;             // try the process connector; scanning stays as fallback
    std::uint32_t batch_size = 256;  // processes per ProcessBatch
    std::uint32_t refresh_every_scans = 30;  // full re-read of slow-changing fields, see scanner
};

using KeyValues = std::vector<std::pair<std::string, std::string>>;

Result<Config> parse_config(const KeyValues& items);

}  // namespace procmond
