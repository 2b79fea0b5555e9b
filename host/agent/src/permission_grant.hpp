// What the agent grants a collector instance: the launcher's --permission list and the config
// the plugin sees. A plugin declares path-less filesystem permissions (`fs.watch`, `fs.read`);
// the agent turns them into one `fs.watch:<path>` per configured `paths.N`, so the sandbox opens
// exactly the folders the plugin is configured to watch.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "daemoneye/agent/config.hpp"
#include "daemoneye/result.hpp"

namespace daemoneye::agent {

struct Grant {
    std::vector<std::string> permissions;       // for daemoneye-launcher --permission
    std::map<std::string, std::string> config;  // flattened, for Welcome.config
    std::vector<std::string> publishes;         // the bus session's publish grants (topics)
};

// The folders a path-less fs.watch/fs.read permission gets when the collector's config names
// none: /etc, /usr/bin, /usr/sbin, /usr/lib/systemd and root's ~/.ssh when it exists.
std::vector<std::string> default_watch_paths();

// `collector` is the config name (for messages); `declared` the plugin's manifest permissions,
// `declared_publishes` its manifest's publish patterns. A configured `publishes` list must lie
// within those (each pattern covered by a declared one: eventbus::pattern_covers).
Result<Grant> grant_for(const std::string& collector, const std::vector<std::string>& declared,
                        const std::vector<std::string>& declared_publishes,
                        const CollectorConfig& cc);

}  // namespace daemoneye::agent
