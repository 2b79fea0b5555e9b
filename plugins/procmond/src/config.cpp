#include "config.hpp"

#include <charconv>

namespace procmond {
namespace {

Result<bool> parse_bool(const std::string& key, const std::string& v) {
    if (v == "true" || v == "True" || v == "TRUE" || v == "yes" || v == "on" || v == "1")
        return true;
    if (v == "false" || v == "False" || v == "FALSE" || v == "no" || v == "off" || v == "0") {
        return false;
    }
    return failure("config key '" + key + "': expected true or false, got '" + v + "'");
}

Result<std::uint64_t> parse_uint(const std::string& key, const std::string& v, std::uint64_t min,
                                 std::uint64_t max) {
    std::uint64_t out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
        return failure("config key '" + key + "': expected a non-negative integer, got '" + v +
                       "'");
    }
    if (out < min || out > max) {
        return failure("config key '" + key + "': " + v + " is out of range [" +
                       std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return out;
}

}  // namespace

Result<Config> parse_config(const KeyValues& items) {
    Config c;
    for (const auto& [key, value] : items) {
        if (key == "scan_interval_ms") {
            auto v = parse_uint(key, value, 100, 3600 * 1000);
            if (!v) return failure(v.reason());
            c.scan_interval_ms = static_cast<std::uint32_t>(*v);
        } else if (key == "hash_executables") {
            auto v = parse_bool(key, value);
            if (!v) return failure(v.reason());
            c.hash_executables = *v;
        } else if (key == "max_hash_bytes") {
            auto v = parse_uint(key, value, 1, 1ULL << 40);
            if (!v) return failure(v.reason());
            c.max_hash_bytes = *v;
        } else if (key == "anomaly_rules") {
            auto v = parse_bool(key, value);
            if (!v) return failure(v.reason());
            c.anomaly_rules = *v;
        } else if (key == "netlink") {
            auto v = parse_bool(key, value);
            if (!v) return failure(v.reason());
            c.netlink = *v;
        } else if (key == "batch_size") {
            auto v = parse_uint(key, value, 1, 10000);
            if (!v) return failure(v.reason());
            c.batch_size = static_cast<std::uint32_t>(*v);
        } else if (key == "refresh_every_scans") {
            auto v = parse_uint(key, value, 1, 1000000);
            if (!v) return failure(v.reason());
            c.refresh_every_scans = static_cast<std::uint32_t>(*v);
        } else {
            return failure("unknown config key '" + key +
                           "' (known: scan_interval_ms, hash_executables, max_hash_bytes, "
                           "anomaly_rules, netlink, batch_size, refresh_every_scans)");
        }
    }
    return c;
}

}  // namespace procmond
