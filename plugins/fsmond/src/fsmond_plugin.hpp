// The SDK glue: turns FsmondCollector into a plugin (config, tasks, health through the SDK).
#pragma once

#include <daemoneye/sdk/collector.hpp>

#include <memory>

#include "fsmond_collector.hpp"

namespace daemoneye::fsmond {

class FsmondPlugin {
  public:
    FsmondPlugin(sdk::Host& host, const sdk::Config& config);
    void start();
    void stop();
    // "stat_path" (path) -> one FileBatch with files[0]; "recent_changes" (path, limit) ->
    // FileBatch records of at most kTaskBatch events each.
    void on_task(const sdk::Task& task, sdk::TaskSink& sink);
    // New paths/excludes need new watches: the watcher is rebuilt (and restarted if running).
    void on_config(const sdk::Config& config);
    sdk::Health health();

    static constexpr size_t kTaskBatch = 500;

  private:
    std::unique_ptr<FsmondCollector> make(FsmondConfig config);

    sdk::Host& host_;
    std::unique_ptr<FsmondCollector> collector_;
    bool running_ = false;
};

}  // namespace daemoneye::fsmond
