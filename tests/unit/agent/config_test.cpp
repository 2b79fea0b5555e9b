// Tests host/agent/src/config.cpp and config_paths.cpp.
#include "daemoneye/agent/config.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace daemoneye::agent;

namespace {

ConfigEnvironment user_env() {
    ConfigEnvironment env;
    env.uid = 1000;
    env.xdg_runtime_dir = "/run/user/1000";
    env.home = "/home/u";
    env.hostname = "box";
    env.exe_dir = "/opt/de/bin";
    return env;
}

ConfigEnvironment root_env() {
    ConfigEnvironment env = user_env();
    env.uid = 0;
    return env;
}

ConfigErrors errors_of(const std::string& yaml) {
    auto r = parse_config(yaml, "test.yaml", user_env());
    EXPECT_FALSE(r.ok()) << "expected errors for:\n" << yaml;
    return r.ok() ? ConfigErrors{} : r.error();
}

}  // namespace

TEST(Config, EmptyFileGivesSeedDefaults) {
    auto r = parse_config("", "empty.yaml", user_env());
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    const Config& c = *r;
    EXPECT_EQ(c.broker.startup_timeout_seconds, 30u);
    EXPECT_EQ(c.broker.max_subscribers, 100u);
    EXPECT_EQ(c.broker.max_subscriptions_per_collector, 8u);
    EXPECT_EQ(c.broker.message_buffer_size, 10000u);
    EXPECT_TRUE(c.broker.enable_metrics);
    EXPECT_EQ(c.rpc.default_timeout_seconds, 30u);
    EXPECT_EQ(c.rpc.health_check_interval_seconds, 60u);
    EXPECT_TRUE(c.rpc.enable_correlation_tracking);
    EXPECT_EQ(c.rpc.max_pending_requests, 1000u);
    EXPECT_EQ(c.process_manager.graceful_shutdown_timeout_seconds, 60u);
    EXPECT_EQ(c.process_manager.force_shutdown_timeout_seconds, 5u);
    EXPECT_EQ(c.process_manager.health_check_interval_seconds, 120u);
    EXPECT_TRUE(c.process_manager.enable_auto_restart);
    EXPECT_EQ(c.process_manager.max_restart_attempts, 3u);
    EXPECT_EQ(c.process_manager.restart_backoff_seconds, 5u);
    EXPECT_EQ(c.ipc.max_frame_bytes, 1048576u);
    EXPECT_EQ(c.ipc.read_timeout_ms, 30000u);
    EXPECT_EQ(c.ipc.write_timeout_ms, 10000u);
    EXPECT_EQ(c.ipc.max_connections, 16u);
    EXPECT_EQ(c.ipc.crc32_variant, daemoneye::wire::Crc32Variant::Ieee);
    EXPECT_TRUE(c.plugins.autostart);
    EXPECT_TRUE(c.collectors.empty());
    EXPECT_EQ(c.logging.level, "info");
    EXPECT_EQ(c.logging.format, LogFormat::Text);
}

TEST(Config, PathsForAnUnprivilegedUser) {
    Config c = default_config(user_env());
    EXPECT_EQ(c.agent.runtime_dir, "/run/user/1000/daemoneye");
    EXPECT_EQ(c.agent.state_dir, "/home/u/.local/state/daemoneye");
    EXPECT_EQ(c.ipc.endpoint_path, "/run/user/1000/daemoneye/agent.sock");
    EXPECT_EQ(c.broker.socket_path, "/run/user/1000/daemoneye/eventbus.sock");
    EXPECT_EQ(c.plugins.drop_in_dir, "/home/u/.local/state/daemoneye/plugins.d");
    EXPECT_EQ(c.process_manager.launcher_path, "/opt/de/bin/daemoneye-launcher");
    ASSERT_EQ(c.plugins.directories.size(), 2u);
    EXPECT_EQ(c.plugins.directories[0], "/opt/de/plugins");
    EXPECT_EQ(c.plugins.directories[1], "/opt/de/lib/daemoneye/plugins");
    EXPECT_EQ(c.sandbox.user, "");
    EXPECT_EQ(c.agent.id, "daemoneye-agent@box");
}

TEST(Config, PathsWithoutXdgRuntimeDir) {
    ConfigEnvironment env = user_env();
    env.xdg_runtime_dir.clear();
    env.home.clear();
    Config c = default_config(env);
    EXPECT_EQ(c.agent.runtime_dir, "/tmp/daemoneye-1000");
    EXPECT_EQ(c.agent.state_dir, "/tmp/daemoneye-1000/state");
}

TEST(Config, PathsForRoot) {
    Config c = default_config(root_env());
    EXPECT_EQ(c.agent.runtime_dir, "/run/daemoneye");
    EXPECT_EQ(c.agent.state_dir, "/var/lib/daemoneye");
    EXPECT_EQ(c.ipc.endpoint_path, "/run/daemoneye/agent.sock");
    EXPECT_EQ(c.plugins.drop_in_dir, "/var/lib/daemoneye/plugins.d");
    EXPECT_EQ(c.sandbox.user, "nobody");
}

TEST(Config, RuntimeDirFromFileDrivesDerivedPaths) {
    auto r = parse_config("agent:\n  runtime_dir: /srv/rt\n", "f.yaml", user_env());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->ipc.endpoint_path, "/srv/rt/agent.sock");
    EXPECT_EQ(r->broker.socket_path, "/srv/rt/eventbus.sock");
}

TEST(Config, EverySectionIsRead) {
    const std::string yaml = R"(
agent: {id: a1, runtime_dir: /r, state_dir: /s}
broker: {socket_path: /r/b.sock, startup_timeout_seconds: 7, max_subscribers: 5, max_subscriptions_per_collector: 2,
         message_buffer_size: 9, enable_metrics: false, max_connections: 3}
rpc: {default_timeout_seconds: 2, health_check_interval_seconds: 3,
      enable_correlation_tracking: no, max_pending_requests: 4}
process_manager: {graceful_shutdown_timeout_seconds: 1, force_shutdown_timeout_seconds: 2,
  health_check_interval_seconds: 3, enable_auto_restart: false, max_restart_attempts: 4,
  restart_backoff_seconds: 0, restart_window_seconds: 9, stable_period_seconds: 8,
  heartbeat_timeout_seconds: 7, launcher_path: /x/launcher}
ipc: {endpoint_path: /r/c.sock, max_frame_bytes: 16384, read_timeout_ms: 5, write_timeout_ms: 6,
      max_connections: 2, crc32_variant: castagnoli}
plugins: {directories: [/p1, $ORIGIN/p2], drop_in_dir: /d, autostart: false}
collectors:
  procmond:
    enabled: false
    instances: 2
    config: {scan_interval_ms: 500, hash: {max_bytes: 10}, paths: [/a, /b]}
    permissions: [proc.read]
    publishes: [events.process.lifecycle]
    memory_limit_mb: 64
sandbox: {enabled: false, user: daemon, memory_limit_mb: 128, on_violation: kill}
metrics: {textfile_path: /m/de.prom, interval_seconds: 4}
logging: {level: debug, format: json, file: /l/agent.log}
)";
    auto r = parse_config(yaml, "full.yaml", user_env());
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    const Config& c = *r;
    EXPECT_EQ(c.agent.id, "a1");
    EXPECT_EQ(c.broker.socket_path, "/r/b.sock");
    EXPECT_EQ(c.broker.startup_timeout_seconds, 7u);
    EXPECT_FALSE(c.broker.enable_metrics);
    EXPECT_EQ(c.broker.max_connections, 3u);
    EXPECT_EQ(c.broker.max_subscriptions_per_collector, 2u);
    EXPECT_FALSE(c.rpc.enable_correlation_tracking);
    EXPECT_EQ(c.rpc.max_pending_requests, 4u);
    EXPECT_EQ(c.process_manager.restart_backoff_seconds, 0u);
    EXPECT_EQ(c.process_manager.heartbeat_timeout_seconds, 7u);
    EXPECT_EQ(c.process_manager.launcher_path, "/x/launcher");
    EXPECT_EQ(c.ipc.endpoint_path, "/r/c.sock");
    EXPECT_EQ(c.ipc.max_frame_bytes, 16384u);
    EXPECT_EQ(c.ipc.crc32_variant, daemoneye::wire::Crc32Variant::Castagnoli);
    EXPECT_EQ(c.plugins.directories, (std::vector<std::string>{"/p1", "/opt/de/bin/p2"}));
    EXPECT_FALSE(c.plugins.autostart);
    const CollectorConfig& p = c.collectors.at("procmond");
    EXPECT_FALSE(p.enabled);
    EXPECT_EQ(p.instances, 2u);
    EXPECT_EQ(p.config.at("scan_interval_ms"), "500");
    EXPECT_EQ(p.config.at("hash.max_bytes"), "10");
    EXPECT_EQ(p.config.at("paths.0"), "/a");
    EXPECT_EQ(p.config.at("paths.1"), "/b");
    EXPECT_EQ(p.permissions, std::vector<std::string>{"proc.read"});
    EXPECT_EQ(p.publishes, std::vector<std::string>{"events.process.lifecycle"});
    EXPECT_EQ(p.memory_limit_mb, 64u);
    EXPECT_EQ(p.config_line, 15u);
    EXPECT_FALSE(c.sandbox.enabled);
    EXPECT_EQ(c.sandbox.user, "daemon");
    EXPECT_EQ(c.sandbox.on_violation, ViolationAction::Kill);
    EXPECT_EQ(c.metrics.textfile_path, "/m/de.prom");
    EXPECT_EQ(c.logging.format, LogFormat::Json);
    EXPECT_EQ(c.logging.file, "/l/agent.log");
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
    auto e = errors_of("broker:\n  startup_timeout_seconds: 3\n  max_subscriber: 4\n");
    ASSERT_EQ(e.errors.size(), 1u);
    EXPECT_EQ(e.errors[0].file, "test.yaml");
    EXPECT_EQ(e.errors[0].line, 3u);
    EXPECT_EQ(e.errors[0].key, "broker.max_subscriber");
    EXPECT_NE(e.errors[0].to_string().find("test.yaml:3:3: broker.max_subscriber: unknown key"),
              std::string::npos)
        << e.errors[0].to_string();
}

TEST(Config, UnknownSection) {
    auto e = errors_of("# comment\n\nbrokr:\n  x: 1\n");
    ASSERT_EQ(e.errors.size(), 1u);
    EXPECT_EQ(e.errors[0].line, 3u);
    EXPECT_EQ(e.errors[0].key, "brokr");
}

TEST(Config, WrongTypes) {
    auto e = errors_of(
        "rpc:\n"
        "  default_timeout_seconds: soon\n"       // line 2
        "  enable_correlation_tracking: maybe\n"  // line 3
        "plugins:\n"
        "  directories: /one/dir\n"  // line 5
        "logging:\n"
        "  format: xml\n");  // line 7
    ASSERT_EQ(e.errors.size(), 4u) << e.to_string();
    EXPECT_EQ(e.errors[0].line, 2u);
    EXPECT_EQ(e.errors[0].key, "rpc.default_timeout_seconds");
    EXPECT_NE(e.errors[0].message.find("integer"), std::string::npos);
    EXPECT_EQ(e.errors[1].line, 3u);
    EXPECT_EQ(e.errors[1].key, "rpc.enable_correlation_tracking");
    EXPECT_EQ(e.errors[2].line, 5u);
    EXPECT_EQ(e.errors[2].key, "plugins.directories");
    EXPECT_EQ(e.errors[3].line, 7u);
    EXPECT_NE(e.errors[3].message.find("text, json"), std::string::npos);
}

TEST(Config, OutOfRange) {
    auto e = errors_of("ipc:\n  max_connections: 0\n  max_frame_bytes: 99999999999999999999999\n");
    ASSERT_EQ(e.errors.size(), 2u) << e.to_string();
    EXPECT_EQ(e.errors[0].key, "ipc.max_connections");
    EXPECT_EQ(e.errors[0].line, 2u);
    EXPECT_NE(e.errors[0].message.find("out of range"), std::string::npos);
    EXPECT_EQ(e.errors[1].line, 3u);
    EXPECT_NE(e.errors[1].message.find("out of range"), std::string::npos);
}

TEST(Config, NegativeNumbersAreRefused) {
    auto e = errors_of("process_manager:\n  max_restart_attempts: -1\n");
    ASSERT_EQ(e.errors.size(), 1u);
    EXPECT_EQ(e.errors[0].key, "process_manager.max_restart_attempts");
}

// collectors.<name>.publishes: each entry must be a valid topic pattern (named with its line);
// whether it lies within what the plugin declares is checked when the collector starts.
TEST(Config, APublishesPatternMustBeValid) {
    auto e =
        errors_of("collectors:\n  procmond:\n    publishes: [events.process.#, events.pro+c]\n");
    ASSERT_EQ(e.errors.size(), 1u) << e.to_string();
    EXPECT_EQ(e.errors[0].key, "collectors.procmond.publishes.1");
    EXPECT_EQ(e.errors[0].line, 3u);
    EXPECT_NE(e.errors[0].message.find("mixes a wildcard with text"), std::string::npos)
        << e.to_string();
}

// The IPC frame limit is also the bus's, which needs 16 KiB: a smaller one is a config error
// naming the line, not an agent that fails to start.
TEST(Config, AFrameLimitTheBusCannotUseIsAConfigError) {
    auto e = errors_of("ipc:\n  max_frame_bytes: 2048\n");
    ASSERT_EQ(e.errors.size(), 1u) << e.to_string();
    EXPECT_EQ(e.errors[0].key, "ipc.max_frame_bytes");
    EXPECT_EQ(e.errors[0].line, 2u);
    EXPECT_NE(e.errors[0].message.find("out of range"), std::string::npos) << e.to_string();
}

TEST(Config, RelativePathsAreRefused) {
    auto e = errors_of("ipc:\n  endpoint_path: agent.sock\nplugins:\n  directories: [rel]\n");
    ASSERT_EQ(e.errors.size(), 2u) << e.to_string();
    EXPECT_EQ(e.errors[0].key, "ipc.endpoint_path");
    EXPECT_EQ(e.errors[1].key, "plugins.directories.0");
    EXPECT_EQ(e.errors[1].line, 4u);
}

TEST(Config, DuplicateKey) {
    auto e = errors_of("rpc:\n  max_pending_requests: 1\n  max_pending_requests: 2\n");
    ASSERT_GE(e.errors.size(), 1u);
    EXPECT_EQ(e.errors[0].key, "rpc.max_pending_requests");
    EXPECT_NE(e.errors[0].message.find("duplicate"), std::string::npos);
}

TEST(Config, SyntaxErrorHasALine) {
    auto e = errors_of("broker:\n  a: 1\n b: [\n");
    ASSERT_EQ(e.errors.size(), 1u);
    EXPECT_GT(e.errors[0].line, 1u);
    EXPECT_NE(e.errors[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(Config, SectionMustBeAMapping) {
    auto e = errors_of("broker: 5\n");
    ASSERT_EQ(e.errors.size(), 1u);
    EXPECT_EQ(e.errors[0].key, "broker");
    EXPECT_EQ(e.errors[0].line, 1u);
}

TEST(Config, CollectorErrors) {
    auto e = errors_of(
        "collectors:\n"
        "  Bad.Name: {}\n"  // line 2
        "  procmond:\n"
        "    instances: 0\n"      // line 4
        "    colour: red\n"       // line 5
        "    config: [1, 2]\n");  // line 6
    ASSERT_EQ(e.errors.size(), 4u) << e.to_string();
    EXPECT_EQ(e.errors[0].key, "collectors.Bad.Name");
    EXPECT_EQ(e.errors[0].line, 2u);
    // Errors inside a collector come in key order of the reader: instances, config, then unknown.
    std::set<std::uint32_t> lines;
    for (std::size_t i = 1; i < e.errors.size(); ++i) lines.insert(e.errors[i].line);
    EXPECT_EQ(lines, (std::set<std::uint32_t>{4, 5, 6}));
}

TEST(Config, CollectorDefaultsFollowAutostart) {
    auto r = parse_config("plugins: {autostart: false}\n", "f.yaml", user_env());
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->collector("unknown").enabled);
    EXPECT_EQ(r->collector("unknown").instances, 1u);
}

TEST(Config, MissingFileIsOneError) {
    auto r = load_config("/nonexistent/daemoneye.yaml", user_env());
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.error().errors.size(), 1u);
    EXPECT_NE(r.error().to_string().find("/nonexistent/daemoneye.yaml: cannot read"),
              std::string::npos);
}

TEST(Config, ShippedDefaultConfigIsValidAndStartsTheThreeCollectors) {
    auto r = load_config(DAEMONEYE_SOURCE_DIR "/config/daemoneye.yaml", user_env());
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    for (const char* name : {"procmond", "netmond", "fsmond"}) {
        ASSERT_TRUE(r->collectors.count(name)) << name;
        EXPECT_TRUE(r->collectors.at(name).enabled) << name;
    }
    // The shipped file states the seed's defaults: same as no file, apart from collectors.
    Config d = default_config(user_env());
    EXPECT_EQ(r->broker.message_buffer_size, d.broker.message_buffer_size);
    EXPECT_EQ(r->process_manager.graceful_shutdown_timeout_seconds,
              d.process_manager.graceful_shutdown_timeout_seconds);
    EXPECT_EQ(r->plugins.directories, d.plugins.directories);
    EXPECT_EQ(r->ipc.endpoint_path, d.ipc.endpoint_path);
    EXPECT_EQ(r->sandbox.memory_limit_mb, d.sandbox.memory_limit_mb);
}
