// procmond's engine, independent of the plugin ABI: a worker thread scans /proc every
// scan_interval_ms (and, when the netlink process connector is available, reacts to
// fork/exec/exit as they happen), diffs against what it knew, and publishes events through an
// EventSink. Tasks are served from any thread with their own scanner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config.hpp"
#include "diff_engine.hpp"
#include "exe_hasher.hpp"
#include "proc_connector.hpp"
#include "proc_scanner.hpp"
#include "process.hpp"
#include "result.hpp"
#include "task_queries.hpp"
#include "user_cache.hpp"

namespace google::protobuf {
class MessageLite;
}

namespace procmond {

// Where events go: the plugin glue adapts this to the host's emit(); tests collect in memory.
class EventSink {
  public:
    enum class Status { kOk, kBackpressure, kClosed, kRejected };
    enum class Level { kDebug, kInfo, kWarn, kError };
    virtual ~EventSink() = default;
    // Thread-safe. `payload` is a serialized protobuf of `type_name`.
    virtual Status emit(const char* topic, const char* type_name, const std::string& payload) = 0;
    virtual void log(Level level, const std::string& message) = 0;
    virtual std::uint64_t now_unix_nanos() = 0;
};

struct Done {};

struct CollectorHealth {
    enum class State { kHealthy, kDegraded, kUnhealthy };
    State state = State::kHealthy;
    std::uint64_t errors = 0;
    std::vector<std::pair<std::string, std::string>> detail;  // mode, view, counters, ...
};

class ProcessCollector {
  public:
    // `privileged` (nullable, must outlive the collector): the host's answers for what another
    // user's /proc refuses procmond (see PrivilegedProcReader).
    ProcessCollector(Config config, EventSink& sink, std::string proc_root = "/proc",
                     PrivilegedProcReader* privileged = nullptr);
    ~ProcessCollector();
    ProcessCollector(const ProcessCollector&) = delete;
    ProcessCollector& operator=(const ProcessCollector&) = delete;

    // Opens /proc and starts the worker (the first scan publishes a snapshot in batches).
    Result<Done> start();
    // Joins the worker; idempotent. No emit happens after it returns.
    void stop();
    // Applies a new config; the worker picks it up before its next scan.
    void update_config(const Config& config);
    CollectorHealth health() const;

    // Tasks. Each does a fresh read of /proc (what a caller asking "now" expects).
    Result<std::vector<Process>> enumerate(const ProcessFilter& filter);
    Result<Process> hash_executable(std::int32_t pid);
    Result<std::vector<Process>> process_tree(std::int32_t pid);

    // One scan cycle on the caller's thread, without the worker (tests, benchmarks). Not to be
    // mixed with start().
    Result<Done> scan_now();
    // The netlink fast path on the caller's thread (tests): opens it if needed, handles what is
    // queued. Returns false when the connector is unavailable.
    bool poll_connector_now();

    struct Counters {
        std::uint64_t scans = 0;
        std::uint64_t events_emitted = 0;
        std::uint64_t events_dropped = 0;
        std::uint64_t errors = 0;
        std::uint64_t skipped_vanished = 0;
        std::uint64_t skipped_denied = 0;
        std::uint64_t hash_errors = 0;
        std::uint64_t netlink_events = 0;
        std::uint64_t netlink_overruns = 0;
        std::uint64_t processes = 0;
        std::uint64_t last_scan_cpu_us = 0;
        std::uint64_t kthread_renames = 0;
    };
    Counters counters() const;
    std::string mode() const;

  private:
    void worker();
    Result<Done> ensure_scanner();
    void scan_cycle(const Config& cfg);
    void try_open_connector(const Config& cfg);
    void handle_connector_events(const std::vector<ConnectorEvent>& events, const Config& cfg);
    void publish(const std::vector<ProcessChange>& changes);
    void publish_snapshot(const Config& cfg);
    bool emit(const char* topic, const char* type_name, const google::protobuf::MessageLite& msg);
    Config current_config() const;
    ScanOptions scan_options(const Config& cfg, bool full) const;
    void account(const ScanStats& stats);

    EventSink& sink_;
    const std::string proc_root_;
    PrivilegedProcReader* const privileged_;
    ExeHasher hasher_;
    UserCache users_;

    mutable std::mutex config_mu_;
    Config config_;

    // Worker-owned state.
    std::unique_ptr<ProcScanner> scanner_;
    std::unique_ptr<ProcConnector> connector_;
    bool connector_tried_ = false;
    DiffEngine diff_;
    ProcessTable table_;
    bool baseline_done_ = false;
    std::unordered_map<std::int32_t, std::uint64_t>
        exited_;  // (pid, start) seen exiting via netlink

    // Task state.
    std::mutex task_mu_;
    std::unique_ptr<ProcScanner> task_scanner_;

    std::thread thread_;
    int wake_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> running_{false};

    std::atomic<std::uint64_t> scans_{0}, emitted_{0}, dropped_{0}, errors_{0}, vanished_{0},
        denied_{0}, hash_errors_{0}, nl_events_{0}, processes_{0}, last_cpu_us_{0}, last_denied_{0};
    std::atomic<bool> closed_{false};
    mutable std::mutex status_mu_;
    std::string mode_ = "scan";
    std::string mode_reason_ = "not started";
    std::string last_error_;
};

}  // namespace procmond
