// The SDK face of procmond: adapts ProcessCollector to daemoneye::sdk (config, tasks, health,
// the host's emitter). plugin_entry.cpp turns it into the plugin's C exports; tests build the
// descriptor themselves with sdk::make_descriptor and drive it through sdk::testing::TestHost.
#pragma once

#include <memory>

#include "daemoneye/sdk/collector.hpp"
#include "process_collector.hpp"

namespace procmond {

inline constexpr const char* kPluginName = "procmond";
inline constexpr const char* kPluginVersion = "0.1.0";
inline constexpr const char* kPluginDescription =
    "Process collector: /proc scans (+ netlink process connector), lifecycle, integrity, anomalies";

// Task kinds (the plugin's capabilities).
inline constexpr const char* kTaskEnumerate = "enumerate_processes";
inline constexpr const char* kTaskHash = "hash_executable";
inline constexpr const char* kTaskTree = "process_tree";

// Throws sdk::ConfigError naming the key on bad input.
Config config_from(const daemoneye::sdk::Config& config);

class ProcmondPlugin {
  public:
    ProcmondPlugin(daemoneye::sdk::Host& host, const daemoneye::sdk::Config& config);
    ~ProcmondPlugin() noexcept;

    void start();
    void stop();
    void on_task(const daemoneye::sdk::Task& task, daemoneye::sdk::TaskSink& sink);
    void on_config(const daemoneye::sdk::Config& config);
    daemoneye::sdk::Health health();

  private:
    class HostSink final : public EventSink {
      public:
        explicit HostSink(daemoneye::sdk::Host& host) : host_(host) {}
        Status emit(const char* topic, const char* type_name, const std::string& payload) override;
        void log(Level level, const std::string& message) override;
        std::uint64_t now_unix_nanos() override { return host_.now_unix_nanos(); }

      private:
        daemoneye::sdk::Host& host_;
    };

    // proc.read under the launcher (ABI 1.2): other users' exe/cwd/ns links and executables come
    // from the launcher's helper, because procmond's own process keeps no capability.
    class HostReader final : public PrivilegedProcReader {
      public:
        explicit HostReader(daemoneye::sdk::Host& host) : host_(host) {}
        de_status links(std::int32_t pid, daemoneye::sdk::ProcessLinks& out) override {
            return pid > 0 ? host_.process_links(static_cast<std::uint32_t>(pid), out)
                           : DE_ERR_INVALID_ARGUMENT;
        }
        de_status open_exe(std::int32_t pid, int& fd) override {
            return pid > 0 ? host_.open_process_exe(static_cast<std::uint32_t>(pid), fd)
                           : DE_ERR_INVALID_ARGUMENT;
        }

      private:
        daemoneye::sdk::Host& host_;
    };

    daemoneye::sdk::Host& host_;
    Config config_;
    HostSink sink_;
    std::unique_ptr<HostReader> reader_;  // null when the host does not offer both functions
    std::unique_ptr<ProcessCollector> collector_;
};

}  // namespace procmond
