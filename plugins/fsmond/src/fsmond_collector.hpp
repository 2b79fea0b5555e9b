// fsmond's core: watcher thread, debounce, enrichment (stat + SHA-256), overflow rescans, the
// recent-changes ring, tasks and health. Independent of how it is hosted (the plugin glue adapts
// the SDK to CollectorIo; tests drive it directly).
#pragma once

#include <daemoneye/plugin_api.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "change_coalescer.hpp"
#include "change_source.hpp"
#include "file_inspector.hpp"
#include "fsmond_config.hpp"

namespace daemoneye::fsmond {

inline constexpr const char* kFileEventType = "daemoneye.events.v1.FileEvent";
inline constexpr const char* kFileBatchType = "daemoneye.events.v1.FileBatch";

// "events.filesystem.created", ... ; "events.filesystem.overflow" for FILE_EVENT_KIND_OVERFLOW.
std::string topic_for(Kind kind);

struct CollectorIo {
    // Same contract as de_host_api::emit (thread-safe, never blocks for long).
    std::function<de_status(const char* topic, const char* type, const std::string& bytes)> emit;
    std::function<void(de_log_level, const std::string&)> log;
    std::function<uint64_t()> now_unix_nanos;
};

struct CollectorHealth {
    de_health_state state = DE_HEALTH_HEALTHY;
    uint64_t errors = 0;
    std::string detail;  // "key=value" lines
};

class FsmondCollector {
  public:
    FsmondCollector(CollectorIo io, FsmondConfig config);
    ~FsmondCollector();
    FsmondCollector(const FsmondCollector&) = delete;
    FsmondCollector& operator=(const FsmondCollector&) = delete;

    // Opens the kernel interface (fanotify when allowed and wanted, else inotify) and starts the
    // watcher thread, which walks the paths first. Fails with a message when neither works.
    Outcome<bool> start();
    void stop();  // idempotent; no emit after it returns
    // True once the initial walk placed every watch (tests wait for it before touching files).
    bool wait_ready(std::chrono::milliseconds timeout);

    // Tasks. stat_path: params "path" (required). recent_changes: "path" (prefix, optional),
    // "limit" (optional, default 100).
    Outcome<events::v1::FileInfo> stat_path(const std::map<std::string, std::string>& params) const;
    Outcome<std::vector<events::v1::FileEvent>> recent_changes(
        const std::map<std::string, std::string>& params) const;

    CollectorHealth health() const;
    std::string mode_name() const;

  private:
    struct Known {  // what the last walk or event said about a path; drives overflow rescans
        uint64_t inode = 0, size = 0, mtime = 0;
        uint32_t mode = 0, uid = 0, gid = 0;
    };
    void run();
    void initial_walk();
    void walk_new_dir(const std::string& dir, std::vector<Change>& out);
    void rescan();
    void publish(ReadyChange& rc);
    void emit(const std::string& topic, const std::string& bytes);
    static Known known_from(const struct stat& st);

    CollectorIo io_;
    FsmondConfig config_;
    std::unique_ptr<ChangeSource> source_;
    ChangeCoalescer coalescer_;
    std::map<std::string, Known> known_;  // watcher thread only; ordered, so a subtree is a range
    int stop_fd_ = -1;
    std::thread thread_;

    mutable std::mutex ready_mutex_;
    std::condition_variable ready_cv_;
    bool ready_ = false;

    mutable std::mutex ring_mutex_;
    std::deque<events::v1::FileEvent> ring_;

    mutable std::mutex stats_mutex_;
    SourceStats source_stats_;  // copied from the watcher thread after each round
    std::string mode_;

    std::atomic<uint64_t> emitted_{0}, dropped_{0}, errors_{0}, raw_changes_{0}, unreadable_{0},
        rescans_{0}, hashed_{0};
    std::atomic<bool> closed_{false};
};

}  // namespace daemoneye::fsmond
