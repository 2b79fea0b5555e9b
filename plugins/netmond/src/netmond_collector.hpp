// netmond's core: scan thread, diff, events, tasks and health, independent of how it is hosted
// (the plugin glue adapts the SDK to CollectorIo; tests drive it directly).
#pragma once

#include <daemoneye/plugin_api.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemoneye/events/v1/events.pb.h"
#include "netmond_config.hpp"
#include "socket_owner_resolver.hpp"
#include "socket_table_reader.hpp"
#include "socket_tracker.hpp"

namespace daemoneye::netmond {

inline constexpr const char* kConnectionsTopic = "events.network.connections";
inline constexpr const char* kListenersTopic = "events.network.listeners";
inline constexpr const char* kSnapshotTopic = "events.network.snapshot";
inline constexpr const char* kNetworkEventType = "daemoneye.events.v1.NetworkEvent";
inline constexpr const char* kSocketBatchType = "daemoneye.events.v1.SocketBatch";

struct CollectorIo {
    // Same contract as de_host_api::emit (thread-safe, never blocks for long).
    std::function<de_status(const char* topic, const char* type, const std::string& bytes)> emit;
    std::function<void(de_log_level, const std::string&)> log;
    std::function<uint64_t()> now_unix_nanos;
    // The host's socket_owners (ABI 1.1), when offered; empty: walk /proc here.
    HostLookup socket_owners;
};

struct SocketFilter {
    std::optional<uint8_t> state;        // "state": ESTABLISHED, LISTEN, UNCONN, ...
    std::optional<uint16_t> port;        // "port": local or remote port
    std::optional<uint32_t> pid;         // "pid": owning process
    std::optional<Transport> transport;  // "transport": tcp | udp

    // Unknown parameters and bad values are errors naming the parameter.
    static Outcome<SocketFilter> parse(const std::map<std::string, std::string>& params);
    bool matches(const ObservedSocket& s) const;
};

struct CollectorHealth {
    de_health_state state = DE_HEALTH_HEALTHY;
    uint64_t errors = 0;
    std::string detail;  // "key=value" lines
};

events::v1::SocketInfo to_proto(const ObservedSocket& s);

class NetmondCollector {
  public:
    NetmondCollector(CollectorIo io, NetmondConfig config);
    ~NetmondCollector();
    NetmondCollector(const NetmondCollector&) = delete;
    NetmondCollector& operator=(const NetmondCollector&) = delete;

    void start();  // scans at once, then every scan_interval
    void stop();   // idempotent; no emit after it returns

    // One scan: read, resolve owners, diff, emit. The scan thread calls it; tests may too.
    void scan_once();

    // Fresh reads for tasks (not from the last scan, so the answer is current).
    std::vector<ObservedSocket> list_connections(const SocketFilter& filter);
    std::vector<ObservedSocket> list_listeners(const SocketFilter& filter);

    void reconfigure(const NetmondConfig& config);  // takes effect at the next scan
    CollectorHealth health() const;

  private:
    std::vector<ObservedSocket> read_current();  // caller holds scan_mutex_
    void emit(const char* topic, const char* type, const std::string& bytes);
    void emit_event(const char* topic, events::v1::NetworkEventKind kind, const ObservedSocket& s);
    void run();

    CollectorIo io_;
    mutable std::mutex scan_mutex_;  // reader, resolver, tracker, config, last-scan figures
    NetmondConfig config_;
    std::unique_ptr<SocketTableReader> reader_;
    SocketOwnerResolver resolver_;
    SocketTracker tracker_;
    std::vector<SocketEntry> rows_;

    std::mutex run_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;

    std::atomic<uint64_t> scans_{0}, emitted_{0}, dropped_{0}, errors_{0};
    std::atomic<bool> closed_{false};
    // Last scan, under scan_mutex_.
    size_t last_sockets_ = 0, last_tables_failed_ = 0;
    uint64_t last_scan_wall_us_ = 0, last_scan_cpu_us_ = 0;
    std::string last_error_;
};

}  // namespace daemoneye::netmond
