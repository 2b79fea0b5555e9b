// The agent's configuration: every section and key of the seed (docs/agent.md has the reference,
// config/daemoneye.yaml the commented default). Every key has a default, so the agent runs with no
// file at all. Loading never throws: bad input becomes a list of errors naming file, line and key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemoneye/result.hpp"
#include "daemoneye/wire/ipc_config.hpp"

namespace daemoneye::agent {

struct AgentSection {
    std::string id;           // default: "daemoneye-agent@<hostname>"
    std::string runtime_dir;  // sockets; default /run/daemoneye (root) or per-user (see below)
    std::string state_dir;    // drop-in dir, state; default /var/lib/daemoneye (root) or per-user
};

struct BrokerConfig {
    std::string socket_path;  // default <runtime_dir>/eventbus.sock
    std::uint32_t startup_timeout_seconds = 30;
    std::uint32_t max_subscribers = 100;
    std::uint32_t message_buffer_size = 10000;
    bool enable_metrics = true;
    std::uint32_t max_connections = 64;
    std::uint32_t max_subscriptions_per_collector = 8;
};

struct RpcConfig {
    std::uint32_t default_timeout_seconds = 30;
    std::uint32_t health_check_interval_seconds = 60;
    bool enable_correlation_tracking = true;
    std::uint32_t max_pending_requests = 1000;
};

struct ProcessManagerConfig {
    std::uint32_t graceful_shutdown_timeout_seconds = 60;
    std::uint32_t force_shutdown_timeout_seconds = 5;
    std::uint32_t health_check_interval_seconds = 120;
    bool enable_auto_restart = true;
    std::uint32_t max_restart_attempts = 3;
    std::uint32_t restart_backoff_seconds = 5;
    // Not in the seed; needed to make "at most N restarts within a window" and "the counter resets
    // after a stable period" concrete.
    std::uint32_t restart_window_seconds = 600;
    std::uint32_t stable_period_seconds = 300;
    // No heartbeat for this long: Degraded; for twice this long: restarted (a "missed heartbeat").
    std::uint32_t heartbeat_timeout_seconds = 30;
    std::string launcher_path;  // default: daemoneye-launcher next to the agent binary
};

struct PluginsConfig {
    // "$ORIGIN" at the start of an entry is the directory of the agent binary, so a build tree
    // (build/bin + build/plugins) and an install (bin + lib/daemoneye/plugins) both work.
    std::vector<std::string> directories = {"$ORIGIN/../plugins",
                                            "$ORIGIN/../lib/daemoneye/plugins"};
    std::string drop_in_dir;  // default <state_dir>/plugins.d
    bool autostart = true;
};

struct CollectorConfig {
    bool enabled = true;
    std::uint32_t instances = 1;
    std::map<std::string, std::string> config;  // flattened: "paths.0", "hash.max_bytes", ...
    // Empty: the permissions the plugin declares. Otherwise exactly these (each must be declared).
    std::vector<std::string> permissions;
    // Empty: the topic patterns the plugin declares it publishes. Otherwise exactly these, each
    // within a declared one: the operator narrows what the collector's bus session may publish.
    std::vector<std::string> publishes;
    std::uint32_t memory_limit_mb = 0;  // 0: sandbox.memory_limit_mb
    std::uint32_t config_line = 0;      // where it was defined (1-based; 0: not from a file)
};

enum class ViolationAction { Deny, Kill };
enum class LogFormat { Text, Json };

struct SandboxConfig {
    bool enabled = true;
    std::string user;  // default: "nobody" when the agent runs as root, else "" (stay as is)
    std::uint32_t memory_limit_mb = 512;
    ViolationAction on_violation = ViolationAction::Deny;
};

struct MetricsConfig {
    std::string textfile_path;  // empty: no textfile
    std::uint32_t interval_seconds = 15;
};

struct LoggingConfig {
    std::string level = "info";  // trace, debug, info, warn, error, critical, off
    LogFormat format = LogFormat::Text;
    std::string file;  // empty: stderr
};

struct Config {
    AgentSection agent;
    BrokerConfig broker;
    RpcConfig rpc;
    ProcessManagerConfig process_manager;
    wire::IpcConfig ipc;  // endpoint_path default <runtime_dir>/agent.sock
    PluginsConfig plugins;
    std::map<std::string, CollectorConfig> collectors;
    SandboxConfig sandbox;
    MetricsConfig metrics;
    LoggingConfig logging;

    std::string source;  // file it came from, "" for built-in defaults

    // Settings for a collector: its section, or the defaults (enabled = plugins.autostart).
    CollectorConfig collector(const std::string& name) const;
};

struct ConfigError {
    std::string file;
    std::uint32_t line = 0;  // 1-based; 0 when not tied to a line
    std::uint32_t column = 0;
    std::string key;  // dotted path, e.g. "broker.max_subscribers"
    std::string message;

    // "daemoneye.yaml:12:3: broker.max_subscribers: expected an integer, got 'lots'"
    std::string to_string() const;
};

struct ConfigErrors {
    std::vector<ConfigError> errors;
    std::string to_string() const;  // one line per error
};

// Environment the defaults depend on; tests inject their own.
struct ConfigEnvironment {
    std::uint32_t uid = 0;
    std::string xdg_runtime_dir;  // "" when unset
    std::string home;
    std::string xdg_state_home;
    std::string hostname;
    std::filesystem::path exe_dir;  // for "$ORIGIN" and launcher_path

    static ConfigEnvironment current();
};

// Parses YAML text. `file` names it in errors. Defaults are filled in (resolve()d).
Result<Config, ConfigErrors> parse_config(const std::string& text, const std::string& file,
                                          const ConfigEnvironment& env);
// Reads and parses a file (an unreadable file is one error naming it).
Result<Config, ConfigErrors> load_config(const std::filesystem::path& path,
                                         const ConfigEnvironment& env);
// Built-in defaults, as if an empty file was given.
Config default_config(const ConfigEnvironment& env);

// Fills empty paths from agent.runtime_dir/state_dir, expands $ORIGIN.
void resolve_defaults(Config& config, const ConfigEnvironment& env);

// Plugin name rule shared by collector sections and the registry: [a-z0-9_-]{1,64}.
bool valid_plugin_name(const std::string& name);

const char* to_string(ViolationAction action);
const char* to_string(LogFormat format);

}  // namespace daemoneye::agent
