#include "fsmond_config.hpp"

#include <fnmatch.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>

namespace daemoneye::fsmond {
namespace {

// "paths.3" -> index 3 of "paths"; "paths" -> index 0 (a single scalar).
bool list_key(const std::string& key, const std::string& name, size_t& index) {
    if (key == name) {
        index = 0;
        return true;
    }
    if (key.size() <= name.size() + 1 || key.compare(0, name.size(), name) != 0 ||
        key[name.size()] != '.')
        return false;
    index = 0;
    for (size_t i = name.size() + 1; i < key.size(); ++i) {
        if (key[i] < '0' || key[i] > '9' || index > 100000) return false;
        index = index * 10 + static_cast<size_t>(key[i] - '0');
    }
    return true;
}

std::string normalise(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
}

}  // namespace

std::vector<std::string> FsmondConfig::default_paths() {
    std::vector<std::string> p = {"/etc", "/usr/bin", "/usr/sbin", "/usr/lib/systemd"};
    std::string root_home = "/root";
    if (const passwd* pw = ::getpwnam("root"); pw != nullptr && pw->pw_dir != nullptr)
        root_home = pw->pw_dir;
    struct stat st;
    if (::stat((root_home + "/.ssh").c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        p.push_back(root_home + "/.ssh");
    return p;
}

bool FsmondConfig::excluded(const std::string& path) const {
    if (exclude.empty()) return false;
    const size_t slash = path.rfind('/');
    const char* name = slash == std::string::npos ? path.c_str() : path.c_str() + slash + 1;
    for (const auto& glob : exclude)
        if (::fnmatch(glob.c_str(), path.c_str(), 0) == 0 || ::fnmatch(glob.c_str(), name, 0) == 0)
            return true;
    return false;
}

Outcome<FsmondConfig> FsmondConfig::parse(const std::map<std::string, std::string>& flat) {
    FsmondConfig c;
    std::map<size_t, std::string> paths, excludes;
    for (const auto& [key, value] : flat) {
        size_t index = 0;
        if (list_key(key, "paths", index)) {
            if (value.empty() || value[0] != '/')
                return Failure{"config key '" + key + "': expected an absolute path, got '" +
                               value + "'"};
            paths[index] = normalise(value);
        } else if (list_key(key, "exclude", index)) {
            if (value.empty()) return Failure{"config key '" + key + "': empty glob"};
            excludes[index] = value;
        } else if (key == "recursive") {
            auto v = parse_bool(key, value);
            if (!v) return Failure{v.error()};
            c.recursive = v.value();
        } else if (key == "hash_max_bytes") {
            auto v = parse_uint(key, value, 0, uint64_t{1} << 40);
            if (!v) return Failure{v.error()};
            c.hash_max_bytes = v.value();
        } else if (key == "debounce_ms") {
            auto v = parse_uint(key, value, 0, 60000);
            if (!v) return Failure{v.error()};
            c.debounce = std::chrono::milliseconds(v.value());
        } else if (key == "recent_capacity") {
            auto v = parse_uint(key, value, 1, 1000000);
            if (!v) return Failure{v.error()};
            c.recent_capacity = v.value();
        } else if (key == "mode") {
            if (value == "auto")
                c.mode = WatchMode::Auto;
            else if (value == "inotify")
                c.mode = WatchMode::Inotify;
            else if (value == "fanotify")
                c.mode = WatchMode::Fanotify;
            else
                return Failure{"config key 'mode': expected auto, inotify or fanotify, got '" +
                               value + "'"};
        } else {
            return Failure{"config key '" + key +
                           "': unknown (fsmond knows paths, recursive, hash_max_bytes, "
                           "debounce_ms, exclude, mode, recent_capacity)"};
        }
    }
    for (auto& [i, p] : paths) c.paths.push_back(std::move(p));
    for (auto& [i, g] : excludes) c.exclude.push_back(std::move(g));
    if (c.paths.empty()) c.paths = default_paths();
    return c;
}

}  // namespace daemoneye::fsmond
