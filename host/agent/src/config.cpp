// YAML -> Config. Every key is read through MapReader, which records the keys it knows so the
// rest can be reported as unknown with their line. Nothing here throws past parse_config().
#include "daemoneye/agent/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include "daemoneye/eventbus/topic.hpp"

namespace daemoneye::agent {
namespace {

std::string scalar_preview(const YAML::Node& node) {
    if (node.IsNull()) return "null";
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a mapping";
    std::string s = node.Scalar();
    if (s.size() > 40) s = s.substr(0, 37) + "...";
    return "'" + s + "'";
}

class Errors {
  public:
    explicit Errors(std::string file) : file_(std::move(file)) {}

    void add(const YAML::Mark& mark, std::string key, std::string message) {
        ConfigError e;
        e.file = file_;
        if (!mark.is_null() && mark.line >= 0) {
            e.line = static_cast<std::uint32_t>(mark.line + 1);
            e.column = static_cast<std::uint32_t>(mark.column + 1);
        }
        e.key = std::move(key);
        e.message = std::move(message);
        errors_.push_back(std::move(e));
    }
    void add(const YAML::Node& node, std::string key, std::string message) {
        add(node.Mark(), std::move(key), std::move(message));
    }
    bool empty() const { return errors_.empty(); }
    // In file order, so the first line printed is the first problem in the file.
    std::vector<ConfigError> take() {
        std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
            return std::tie(a.line, a.column) < std::tie(b.line, b.column);
        });
        return std::move(errors_);
    }

  private:
    std::string file_;
    std::vector<ConfigError> errors_;
};

std::string join_key(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
}

// Reads the keys of one YAML mapping; finish() reports every key nobody asked for.
class MapReader {
  public:
    MapReader(const YAML::Node& node, std::string path, Errors& errors)
        : path_(std::move(path)), errors_(errors) {
        if (!node || node.IsNull()) return;  // an empty section: all defaults
        if (!node.IsMap()) {
            errors_.add(node, path_.empty() ? "(top level)" : path_,
                        "expected a mapping, got " + scalar_preview(node));
            return;
        }
        for (auto it = node.begin(); it != node.end(); ++it) {
            // A copy: yaml-cpp's iterator yields a temporary proxy; a reference would dangle.
            const YAML::Node k = it->first;
            if (!k.IsScalar()) {
                errors_.add(k, path_, "keys must be plain names");
                continue;
            }
            const std::string& name = k.Scalar();
            if (!entries_.emplace(name, Entry{k, it->second}).second) {
                errors_.add(k, join_key(path_, name), "duplicate key");
            }
        }
    }

    // The value of `key` (marked as known), or nullptr when absent.
    const YAML::Node* get(const std::string& key) {
        known_.insert(key);
        auto it = entries_.find(key);
        return it == entries_.end() ? nullptr : &it->second.value;
    }
    std::string key(const std::string& k) const { return join_key(path_, k); }

    template <class T>
    void uint(const std::string& k, T& out, std::uint64_t min, std::uint64_t max) {
        const YAML::Node* n = get(k);
        if (!n) return;
        if (!n->IsScalar()) {
            errors_.add(*n, key(k), "expected an integer, got " + scalar_preview(*n));
            return;
        }
        const std::string& s = n->Scalar();
        std::uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc::result_out_of_range) {
            errors_.add(*n, key(k),
                        "out of range: " + s + " (allowed " + std::to_string(min) + ".." +
                            std::to_string(max) + ")");
            return;
        }
        if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) {
            errors_.add(*n, key(k), "expected a non-negative integer, got '" + s + "'");
            return;
        }
        if (v < min || v > max) {
            errors_.add(*n, key(k),
                        "out of range: " + s + " (allowed " + std::to_string(min) + ".." +
                            std::to_string(max) + ")");
            return;
        }
        out = static_cast<T>(v);
    }

    void boolean(const std::string& k, bool& out) {
        const YAML::Node* n = get(k);
        if (!n) return;
        if (n->IsScalar()) {
            const std::string& s = n->Scalar();
            if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "on") {
                out = true;
                return;
            }
            if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "off") {
                out = false;
                return;
            }
        }
        errors_.add(*n, key(k), "expected true or false, got " + scalar_preview(*n));
    }

    // `absolute`: the value must be an absolute path (an empty string keeps the default).
    void string(const std::string& k, std::string& out, bool absolute = false) {
        const YAML::Node* n = get(k);
        if (!n) return;
        if (n->IsNull()) return;  // `key:` with no value keeps the default
        if (!n->IsScalar()) {
            errors_.add(*n, key(k), "expected a string, got " + scalar_preview(*n));
            return;
        }
        if (absolute && !n->Scalar().empty() && n->Scalar().front() != '/') {
            errors_.add(*n, key(k), "must be an absolute path, got '" + n->Scalar() + "'");
            return;
        }
        out = n->Scalar();
    }

    // One of `choices`; returns the index or -1 (absent or bad).
    int choice(const std::string& k, std::initializer_list<const char*> choices) {
        const YAML::Node* n = get(k);
        if (!n) return -1;
        if (n->IsScalar()) {
            int i = 0;
            for (const char* c : choices) {
                if (n->Scalar() == c) return i;
                ++i;
            }
        }
        std::string list;
        for (const char* c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
        errors_.add(*n, key(k), "expected one of " + list + ", got " + scalar_preview(*n));
        return -1;
    }

    void string_list(const std::string& k, std::vector<std::string>& out) {
        const YAML::Node* n = get(k);
        if (!n) return;
        if (n->IsNull()) {
            out.clear();
            return;
        }
        if (!n->IsSequence()) {
            errors_.add(*n, key(k), "expected a list of strings, got " + scalar_preview(*n));
            return;
        }
        std::vector<std::string> values;
        std::size_t i = 0;
        for (const auto& item : *n) {
            if (!item.IsScalar()) {
                errors_.add(item, key(k) + "." + std::to_string(i),
                            "expected a string, got " + scalar_preview(item));
                return;
            }
            values.push_back(item.Scalar());
            ++i;
        }
        out = std::move(values);
    }

    void finish() {
        for (const auto& [name, entry] : entries_) {
            if (!known_.count(name)) {
                std::string known;
                for (const auto& k : known_) known += (known.empty() ? "" : ", ") + k;
                errors_.add(entry.key, key(name), "unknown key (known here: " + known + ")");
            }
        }
    }

    // Entries in file order, for sections whose keys are names (collectors).
    std::vector<std::pair<YAML::Node, YAML::Node>> all() const {
        std::vector<std::pair<YAML::Node, YAML::Node>> out;
        for (const auto& [name, e] : entries_) out.emplace_back(e.key, e.value);
        return out;
    }

  private:
    struct Entry {
        YAML::Node key;
        YAML::Node value;
    };
    std::string path_;
    Errors& errors_;
    std::map<std::string, Entry> entries_;
    std::set<std::string> known_;
};

void flatten(const YAML::Node& node, const std::string& prefix,
             std::map<std::string, std::string>& out, Errors& errors, const std::string& path) {
    if (node.IsMap()) {
        for (auto it = node.begin(); it != node.end(); ++it) {
            if (!it->first.IsScalar() || it->first.Scalar().empty() ||
                it->first.Scalar().find('.') != std::string::npos) {
                errors.add(it->first, path, "config keys must be plain names without '.'");
                continue;
            }
            flatten(it->second, join_key(prefix, it->first.Scalar()), out, errors,
                    join_key(path, it->first.Scalar()));
        }
    } else if (node.IsSequence()) {
        std::size_t i = 0;
        for (const auto& item : node) {
            flatten(item, join_key(prefix, std::to_string(i)), out, errors,
                    join_key(path, std::to_string(i)));
            ++i;
        }
    } else if (node.IsScalar()) {
        out[prefix] = node.Scalar();
    } else {
        out[prefix] = "";
    }
}

void parse_collector(const std::string& name, const YAML::Node& key, const YAML::Node& value,
                     Config& config, Errors& errors) {
    const std::string path = "collectors." + name;
    if (!valid_plugin_name(name)) {
        errors.add(key, path, "collector names are [a-z0-9_-]{1,64}");
        return;
    }
    CollectorConfig c;
    c.config_line = key.Mark().is_null() ? 0 : static_cast<std::uint32_t>(key.Mark().line + 1);
    MapReader r(value, path, errors);
    r.boolean("enabled", c.enabled);
    r.uint("instances", c.instances, 1, 64);
    r.uint("memory_limit_mb", c.memory_limit_mb, 0, 1u << 20);
    r.string_list("permissions", c.permissions);
    r.string_list("publishes", c.publishes);
    if (const YAML::Node* n = r.get("publishes"); n && n->IsSequence()) {
        std::size_t i = 0;
        for (const auto& item : *n) {
            if (item.IsScalar()) {
                if (auto v = daemoneye::eventbus::validate_pattern(item.Scalar()); !v) {
                    errors.add(item, path + ".publishes." + std::to_string(i),
                               "'" + item.Scalar() + "': " + v.error().message);
                }
            }
            ++i;
        }
    }
    if (const YAML::Node* n = r.get("config")) {
        if (!n->IsNull() && !n->IsMap()) {
            errors.add(*n, path + ".config", "expected a mapping, got " + scalar_preview(*n));
        } else if (n->IsMap()) {
            flatten(*n, "", c.config, errors, path + ".config");
        }
    }
    r.finish();
    config.collectors[name] = std::move(c);
}

void parse_document(const YAML::Node& root, Config& config, Errors& errors) {
    MapReader top(root, "", errors);

    if (const YAML::Node* n = top.get("agent")) {
        MapReader r(*n, "agent", errors);
        r.string("id", config.agent.id);
        r.string("runtime_dir", config.agent.runtime_dir, true);
        r.string("state_dir", config.agent.state_dir, true);
        r.finish();
    }
    if (const YAML::Node* n = top.get("broker")) {
        MapReader r(*n, "broker", errors);
        auto& b = config.broker;
        r.string("socket_path", b.socket_path, true);
        r.uint("startup_timeout_seconds", b.startup_timeout_seconds, 1, 3600);
        r.uint("max_subscribers", b.max_subscribers, 1, 1'000'000);
        r.uint("message_buffer_size", b.message_buffer_size, 1, 10'000'000);
        r.boolean("enable_metrics", b.enable_metrics);
        r.uint("max_connections", b.max_connections, 1, 65536);
        r.uint("max_subscriptions_per_collector", b.max_subscriptions_per_collector, 1, 1'000'000);
        r.finish();
    }
    if (const YAML::Node* n = top.get("rpc")) {
        MapReader r(*n, "rpc", errors);
        auto& c = config.rpc;
        r.uint("default_timeout_seconds", c.default_timeout_seconds, 1, 3600);
        r.uint("health_check_interval_seconds", c.health_check_interval_seconds, 1, 86400);
        r.boolean("enable_correlation_tracking", c.enable_correlation_tracking);
        r.uint("max_pending_requests", c.max_pending_requests, 1, 1'000'000);
        r.finish();
    }
    if (const YAML::Node* n = top.get("process_manager")) {
        MapReader r(*n, "process_manager", errors);
        auto& p = config.process_manager;
        r.uint("graceful_shutdown_timeout_seconds", p.graceful_shutdown_timeout_seconds, 0, 3600);
        r.uint("force_shutdown_timeout_seconds", p.force_shutdown_timeout_seconds, 1, 600);
        r.uint("health_check_interval_seconds", p.health_check_interval_seconds, 1, 86400);
        r.boolean("enable_auto_restart", p.enable_auto_restart);
        r.uint("max_restart_attempts", p.max_restart_attempts, 0, 1000);
        r.uint("restart_backoff_seconds", p.restart_backoff_seconds, 0, 3600);
        r.uint("restart_window_seconds", p.restart_window_seconds, 1, std::uint64_t{86400} * 7);
        r.uint("stable_period_seconds", p.stable_period_seconds, 1, std::uint64_t{86400} * 7);
        r.uint("heartbeat_timeout_seconds", p.heartbeat_timeout_seconds, 1, 3600);
        r.string("launcher_path", p.launcher_path, true);
        r.finish();
    }
    if (const YAML::Node* n = top.get("ipc")) {
        MapReader r(*n, "ipc", errors);
        auto& i = config.ipc;
        r.string("endpoint_path", i.endpoint_path, true);
        // At least 16 KiB: it is also the bus's frame limit (Broker::create refuses less).
        r.uint("max_frame_bytes", i.max_frame_bytes, 16u << 10, 64u << 20);
        r.uint("read_timeout_ms", i.read_timeout_ms, 1, 3'600'000);
        r.uint("write_timeout_ms", i.write_timeout_ms, 1, 3'600'000);
        r.uint("max_connections", i.max_connections, 1, 4096);
        int v = r.choice("crc32_variant", {"ieee", "castagnoli"});
        if (v >= 0)
            i.crc32_variant = v == 0 ? wire::Crc32Variant::Ieee : wire::Crc32Variant::Castagnoli;
        r.finish();
    }
    if (const YAML::Node* n = top.get("plugins")) {
        MapReader r(*n, "plugins", errors);
        r.string_list("directories", config.plugins.directories);
        for (std::size_t i = 0; i < config.plugins.directories.size(); ++i) {
            const auto& d = config.plugins.directories[i];
            if (d.empty() || (d.front() != '/' && d.rfind("$ORIGIN", 0) != 0)) {
                const YAML::Node* dn = r.get("directories");
                errors.add((*dn)[i], "plugins.directories." + std::to_string(i),
                           "must be an absolute path or start with $ORIGIN, got '" + d + "'");
            }
        }
        r.string("drop_in_dir", config.plugins.drop_in_dir, true);
        r.boolean("autostart", config.plugins.autostart);
        r.finish();
    }
    if (const YAML::Node* n = top.get("collectors")) {
        MapReader r(*n, "collectors", errors);
        for (const auto& [k, v] : r.all()) {
            r.get(k.Scalar());
            parse_collector(k.Scalar(), k, v, config, errors);
        }
        r.finish();
    }
    if (const YAML::Node* n = top.get("sandbox")) {
        MapReader r(*n, "sandbox", errors);
        r.boolean("enabled", config.sandbox.enabled);
        r.string("user", config.sandbox.user);
        r.uint("memory_limit_mb", config.sandbox.memory_limit_mb, 0, 1u << 20);
        int v = r.choice("on_violation", {"deny", "kill"});
        if (v >= 0)
            config.sandbox.on_violation = v == 0 ? ViolationAction::Deny : ViolationAction::Kill;
        r.finish();
    }
    if (const YAML::Node* n = top.get("metrics")) {
        MapReader r(*n, "metrics", errors);
        r.string("textfile_path", config.metrics.textfile_path, true);
        r.uint("interval_seconds", config.metrics.interval_seconds, 1, 86400);
        r.finish();
    }
    if (const YAML::Node* n = top.get("logging")) {
        MapReader r(*n, "logging", errors);
        static constexpr std::initializer_list<const char*> kLevels = {
            "trace", "debug", "info", "warn", "error", "critical", "off"};
        int v = r.choice("level", kLevels);
        if (v >= 0) config.logging.level = *(kLevels.begin() + v);
        int f = r.choice("format", {"text", "json"});
        if (f >= 0) config.logging.format = f == 0 ? LogFormat::Text : LogFormat::Json;
        r.string("file", config.logging.file, true);
        r.finish();
    }
    top.finish();
}

}  // namespace

std::string ConfigError::to_string() const {
    std::string out = file.empty() ? "<config>" : file;
    if (line) out += ":" + std::to_string(line) + ":" + std::to_string(column);
    out += ": ";
    if (!key.empty()) out += key + ": ";
    return out + message;
}

std::string ConfigErrors::to_string() const {
    std::string out;
    for (const auto& e : errors) out += (out.empty() ? "" : "\n") + e.to_string();
    return out;
}

CollectorConfig Config::collector(const std::string& name) const {
    auto it = collectors.find(name);
    if (it != collectors.end()) return it->second;
    CollectorConfig c;
    c.enabled = plugins.autostart;
    return c;
}

bool valid_plugin_name(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (char ch : name) {
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

const char* to_string(ViolationAction action) {
    return action == ViolationAction::Kill ? "kill" : "deny";
}
const char* to_string(LogFormat format) {
    return format == LogFormat::Json ? "json" : "text";
}

Result<Config, ConfigErrors> parse_config(const std::string& text, const std::string& file,
                                          const ConfigEnvironment& env) {
    Config config;
    config.source = file;
    Errors errors(file);
    try {
        std::vector<YAML::Node> docs = YAML::LoadAll(text);
        if (docs.size() > 1) {
            errors.add(docs[1].Mark(), "", "more than one YAML document in the file");
        } else if (!docs.empty()) {
            parse_document(docs[0], config, errors);
        }
    } catch (const YAML::Exception& e) {
        errors.add(e.mark, "", "YAML syntax error: " + e.msg);
    }
    if (!errors.empty()) return unexpected(ConfigErrors{errors.take()});
    resolve_defaults(config, env);
    return config;
}

Result<Config, ConfigErrors> load_config(const std::filesystem::path& path,
                                         const ConfigEnvironment& env) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        ConfigError e;
        e.file = path.string();
        e.message = std::string("cannot read the file: ") + std::strerror(errno);
        return unexpected(ConfigErrors{{e}});
    }
    std::stringstream buf;
    buf << in.rdbuf();
    return parse_config(buf.str(), path.string(), env);
}

Config default_config(const ConfigEnvironment& env) {
    Config config;
    resolve_defaults(config, env);
    return config;
}

}  // namespace daemoneye::agent
