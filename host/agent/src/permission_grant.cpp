#include "permission_grant.hpp"

#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>

#include "daemoneye/eventbus/topic.hpp"

namespace daemoneye::agent {

namespace {

bool is_pathless_fs(const std::string& p) {
    return p == "fs.watch" || p == "fs.read";
}

// "fs.watch:/etc" is covered by a declared "fs.watch".
bool declared_covers(const std::vector<std::string>& declared, const std::string& p) {
    if (std::find(declared.begin(), declared.end(), p) != declared.end()) return true;
    const auto colon = p.find(':');
    if (colon == std::string::npos) return false;
    const std::string base = p.substr(0, colon);
    return is_pathless_fs(base) &&
           std::find(declared.begin(), declared.end(), base) != declared.end();
}

std::vector<std::string> configured_paths(const std::map<std::string, std::string>& config) {
    std::vector<std::string> paths;
    for (std::size_t i = 0;; ++i) {
        auto it = config.find("paths." + std::to_string(i));
        if (it == config.end()) break;
        paths.push_back(it->second);
    }
    return paths;
}

}  // namespace

std::vector<std::string> default_watch_paths() {
    std::vector<std::string> p = {"/etc", "/usr/bin", "/usr/sbin", "/usr/lib/systemd"};
    std::string root_home = "/root";
    if (const passwd* pw = ::getpwnam("root"); pw != nullptr && pw->pw_dir != nullptr)
        root_home = pw->pw_dir;
    struct stat st {};
    if (::stat((root_home + "/.ssh").c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        p.push_back(root_home + "/.ssh");
    return p;
}

Result<Grant> grant_for(const std::string& collector, const std::vector<std::string>& declared,
                        const std::vector<std::string>& declared_publishes,
                        const CollectorConfig& cc) {
    const std::string where = "collectors." + collector;
    for (const auto& p : cc.publishes) {
        const bool covered =
            std::any_of(declared_publishes.begin(), declared_publishes.end(),
                        [&](const std::string& d) { return eventbus::pattern_covers(d, p); });
        if (!covered) {
            std::string list;
            for (const auto& d : declared_publishes) list += (list.empty() ? "" : ", ") + d;
            return fail("topic pattern '" + p + "' in " + where +
                        ".publishes is not within what the plugin declares (" +
                        (list.empty() ? "nothing" : list) + ")");
        }
    }
    for (const auto& p : cc.permissions) {
        if (!declared_covers(declared, p)) {
            return fail("permission '" + p + "' in " + where +
                        ".permissions is not declared by the plugin");
        }
    }
    Grant g;
    g.config = cc.config;
    g.publishes = cc.publishes.empty() ? declared_publishes : cc.publishes;
    const auto& requested = cc.permissions.empty() ? declared : cc.permissions;
    std::vector<std::string> paths;  // filled on first use
    for (const auto& p : requested) {
        if (!is_pathless_fs(p)) {
            g.permissions.push_back(p);
            continue;
        }
        if (paths.empty()) {
            paths = configured_paths(g.config);
            if (paths.empty()) {
                paths = default_watch_paths();
                for (std::size_t i = 0; i < paths.size(); ++i)
                    g.config["paths." + std::to_string(i)] = paths[i];
            }
            for (std::size_t i = 0; i < paths.size(); ++i) {
                if (paths[i].empty() || paths[i][0] != '/') {
                    return fail(where + ".config.paths." + std::to_string(i) + ": '" + paths[i] +
                                "' is not an absolute path");
                }
            }
        }
        for (const auto& path : paths) g.permissions.push_back(p + ":" + path);
    }
    return g;
}

}  // namespace daemoneye::agent
