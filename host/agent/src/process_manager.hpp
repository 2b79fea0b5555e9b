// Supervises one daemoneye-launcher child per collector instance: spawn with a pre-connected
// socketpair (the other end adopted by the broker with the instance's identity), observe exits
// through pidfds on the event loop, graceful stop (RPC -> SIGTERM -> SIGKILL), restart with
// exponential backoff up to max_restart_attempts per window, then Failed. Lifecycle is served on
// control.collector.<name> over the bus. Everything runs on the agent's one io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bus_port.hpp"
#include "daemoneye/agent/config.hpp"
#include "daemoneye/ipc/v1/ipc.pb.h"
#include "daemoneye/result.hpp"

namespace daemoneye::agent {

enum class CollectorState { Stopped, Starting, Running, Degraded, Stopping, Crashed, Failed };
const char* to_string(CollectorState state);

// What the registry knows about an accepted plugin.
struct PluginSpec {
    std::string name;
    std::string path;
    std::string version;
    std::vector<std::string> permissions;  // declared
    std::vector<std::string> publishes;    // declared topic patterns
    std::vector<std::string> capabilities;
};

struct ProcessManagerStats {
    std::uint64_t spawned = 0;
    std::uint64_t crashes = 0;
    std::uint64_t restarts = 0;
    std::uint64_t failed = 0;
    std::uint64_t spawn_errors = 0;
    // Heartbeats naming an instance but published by another session (dropped).
    std::uint64_t heartbeats_refused = 0;
};

class ProcessManager {
  public:
    ProcessManager(boost::asio::io_context& io, const Config& config, BusPort& bus);
    ~ProcessManager();
    ProcessManager(const ProcessManager&) = delete;
    ProcessManager& operator=(const ProcessManager&) = delete;

    // Subscribes to heartbeats and starts the supervision timer. Call once, after the broker.
    void start();

    // Adds or replaces a plugin. A replaced one (changed library) has its running collectors
    // restarted on the new file. Serves control.collector.<name>.
    void add_plugin(PluginSpec spec);
    // Stops its collectors and forgets it.
    boost::asio::awaitable<void> remove_plugin(std::string name);
    bool has_plugin(const std::string& name) const;

    // Starts every instance; succeeds when each said Hello within broker.startup_timeout_seconds.
    boost::asio::awaitable<Status> start(std::string name);
    // Graceful (RPC, SIGTERM, SIGKILL after the timeouts) or forced (SIGKILL now).
    boost::asio::awaitable<Status> stop(std::string name, bool force);
    boost::asio::awaitable<Status> restart(std::string name);
    // Starts every plugin whose collectors.<name>.enabled is true, concurrently; completes when
    // each said Hello or failed (bounded by broker.startup_timeout_seconds per instance), so the
    // agent reports READY=1 to systemd only once its collectors are up.
    struct StartSummary {
        std::size_t enabled = 0;          // plugins
        std::size_t started = 0;          // of those, every instance said Hello
        std::vector<std::string> failed;  // "name: why"
    };
    boost::asio::awaitable<StartSummary> start_enabled();
    // Stops every collector (agent shutdown). Completes when every child is reaped.
    boost::asio::awaitable<void> shutdown();

    std::vector<daemoneye::ipc::v1::CollectorInfo> list() const;
    std::vector<daemoneye::ipc::v1::CollectorInfo> status(const std::string& name) const;
    std::vector<std::string> plugin_names() const;
    // Instances alive (a child process exists).
    std::size_t live_children() const;
    const ProcessManagerStats& stats() const;

    // The lifecycle RPC handler for control.collector.<name> (also used in-process).
    boost::asio::awaitable<daemoneye::rpc::v1::RpcResponse> handle_rpc(
        daemoneye::rpc::v1::RpcRequest request);

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace daemoneye::agent
