// fsmond's configuration (collectors.fsmond.config), parsed from the flattened key/value list.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "outcome.hpp"

namespace daemoneye::fsmond {

enum class WatchMode { Auto, Inotify, Fanotify };

struct FsmondConfig {
    std::vector<std::string> paths;           // paths.N; default_paths() when none given
    bool recursive = true;                    // recursive
    uint64_t hash_max_bytes = 16u << 20;      // hash_max_bytes: 0 disables hashing
    std::chrono::milliseconds debounce{200};  // debounce_ms, 0 .. 60000
    std::vector<std::string> exclude;         // exclude.N: fnmatch globs on the path or its name
    WatchMode mode = WatchMode::Auto;         // mode: auto | inotify | fanotify
    size_t recent_capacity = 4096;            // recent_capacity: ring for "recent_changes"

    // Unknown keys and bad values are errors naming the key. Relative paths are refused.
    static Outcome<FsmondConfig> parse(const std::map<std::string, std::string>& flat);

    // /etc, /usr/bin, /usr/sbin, /usr/lib/systemd, and root's ~/.ssh when it exists.
    static std::vector<std::string> default_paths();

    // True when `path` or its last component matches an exclude glob.
    bool excluded(const std::string& path) const;
};

}  // namespace daemoneye::fsmond
