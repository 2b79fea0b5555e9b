// The host side of the plugin ABI: the de_host_api table a plugin gets in create(), its config,
// and the counters the heartbeat and health checks report. Every function behind the table is
// thread-safe and never lets an exception out.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemoneye/launcher/bridge/emit_buffer.hpp"
#include "daemoneye/launcher/privsep/owner_helper.hpp"
#include "daemoneye/launcher/topic_filter.hpp"
#include "daemoneye/plugin_api.h"

namespace daemoneye::launcher {

// A flat config with a stable de_config view over it (the view points into this object).
class ConfigStore {
  public:
    explicit ConfigStore(std::map<std::string, std::string> values);
    ConfigStore(const ConfigStore&) = delete;
    ConfigStore& operator=(const ConfigStore&) = delete;

    const de_config* view() const { return &view_; }
    const std::map<std::string, std::string>& values() const { return values_; }
    const char* get(const std::string& key) const;

  private:
    std::map<std::string, std::string> values_;
    std::vector<de_kv> items_;
    de_config view_{};
};

class HostContext {
  public:
    // `socket_owners`: the net.read helper's client; nullptr leaves de_host_api::socket_owners
    // NULL (not offered). `process_info`: the proc.read helper's client (the same helper when
    // both are granted); nullptr leaves process_links and open_process_exe NULL. Both must
    // outlive this context.
    HostContext(std::string instance_id, std::string plugin_name, TopicFilter publishes,
                EmitBuffer& events, std::size_t max_payload_bytes,
                privsep::OwnerHelperClient* socket_owners = nullptr,
                privsep::OwnerHelperClient* process_info = nullptr);
    HostContext(const HostContext&) = delete;
    HostContext& operator=(const HostContext&) = delete;

    const de_host_api* api() const { return &api_; }

    // Installs `next` as the current config; superseded ones stay alive until this context dies
    // (config_get pointers stay valid until destroy(), as the ABI promises; updates are rare).
    void set_config(std::shared_ptr<const ConfigStore> next);
    std::shared_ptr<const ConfigStore> config() const;

    std::uint64_t emitted() const { return events_.accepted(); }
    std::uint64_t dropped() const { return events_.refused(); }
    std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
    void count_error() { errors_.fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t log_suppressed() const { return log_suppressed_.load(std::memory_order_relaxed); }
    const std::string& instance_id() const { return instance_id_; }
    const std::string& plugin_name() const { return plugin_name_; }

    static std::uint64_t unix_nanos();

  private:
    static de_status emit_fn(void* ctx, const char* topic, const char* type,
                             const std::uint8_t* data, std::size_t len);
    static void log_fn(void* ctx, de_log_level level, const char* msg);
    static std::uint64_t now_fn(void* ctx);
    static const char* config_get_fn(void* ctx, const char* key);
    static de_status socket_owners_fn(void* ctx, const std::uint64_t* inodes, std::size_t count,
                                      de_socket_owner_fn found, void* found_ctx);

    static de_status process_links_fn(void* ctx, std::uint32_t pid, de_process_links_fn found,
                                      void* found_ctx);
    static de_status open_process_exe_fn(void* ctx, std::uint32_t pid, int* fd_out);
    void helper_failure(const char* what, const std::string& message);

    de_status emit(const char* topic, const char* type, const std::uint8_t* data, std::size_t len);
    void log(de_log_level level, const char* msg);

    std::string instance_id_;
    std::string plugin_name_;
    TopicFilter publishes_;
    EmitBuffer& events_;
    std::size_t max_payload_bytes_;
    privsep::OwnerHelperClient* socket_owners_;
    std::atomic<std::uint64_t> socket_owner_failures_{0};
    privsep::OwnerHelperClient* process_info_;
    std::atomic<std::uint64_t> process_info_failures_{0};
    de_host_api api_{};

    mutable std::mutex config_mutex_;
    std::shared_ptr<const ConfigStore> config_;
    std::vector<std::shared_ptr<const ConfigStore>> previous_configs_;

    std::atomic<std::uint64_t> errors_{0};
    // Log rate limit: a plugin cannot flood the agent's log.
    std::mutex log_mutex_;
    std::chrono::steady_clock::time_point log_window_{};
    unsigned log_in_window_ = 0;
    std::atomic<std::uint64_t> log_suppressed_{0};
};

}  // namespace daemoneye::launcher
