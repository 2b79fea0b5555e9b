// The SDK glue: turns NetmondCollector into a plugin (config, tasks, health through the SDK).
#pragma once

#include <daemoneye/sdk/collector.hpp>

#include <memory>

#include "netmond_collector.hpp"

namespace daemoneye::netmond {

class NetmondPlugin {
  public:
    NetmondPlugin(sdk::Host& host, const sdk::Config& config);
    void start();
    void stop();
    // "list_connections" (state, port, pid, transport) and "list_listeners" (port, pid,
    // transport): SocketBatch records of at most kTaskBatch sockets each.
    void on_task(const sdk::Task& task, sdk::TaskSink& sink);
    void on_config(const sdk::Config& config);
    sdk::Health health();

    static constexpr size_t kTaskBatch = 500;

  private:
    std::unique_ptr<NetmondCollector> collector_;
};

}  // namespace daemoneye::netmond
