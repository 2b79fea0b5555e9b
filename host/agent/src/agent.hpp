// The service: owns the broker, IPC server, process manager, plugin registry, health and metrics,
// all on one io_context. main() builds it, starts it, and awaits shutdown() on SIGTERM/SIGINT.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "bus_port.hpp"
#include "daemoneye/agent/config.hpp"
#include "daemoneye/ipc/v1/ipc.pb.h"
#include "ipc_server.hpp"
#include "metrics.hpp"
#include "plugin_registry.hpp"
#include "process_manager.hpp"

namespace daemoneye::agent {

// Builds the bus the agent runs: the embedded broker (broker_bus.cpp).
std::unique_ptr<BusPort> make_agent_bus(boost::asio::io_context& io, const Config& config);

class Agent {
  public:
    Agent(boost::asio::io_context& io, Config config);
    ~Agent();
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    // Creates the runtime dir, starts the broker, process manager, IPC server, scans plugins,
    // starts enabled collectors and the drop-in watch. Fails only for what makes the agent
    // useless (runtime dir, IPC socket); missing parts are reported, not fatal.
    boost::asio::awaitable<Status> start();
    // Graceful: every collector stopped, sockets removed.
    boost::asio::awaitable<void> shutdown();

    daemoneye::ipc::v1::HealthReport health() const;
    std::map<std::string, double> metrics() const;
    std::string prometheus_text() const;

    // One IPC request (request_router.cpp).
    boost::asio::awaitable<void> handle(daemoneye::ipc::v1::Request request, Responder responder);

    // What runs and what is missing, for the startup banner and `health-check --verbose`.
    std::string summary() const;

  private:
    boost::asio::awaitable<void> handle_collector_control(
        const daemoneye::ipc::v1::CollectorControl& c, Responder& responder);
    boost::asio::awaitable<void> handle_events_tail(const daemoneye::ipc::v1::EventsTail& t,
                                                    Responder& responder);
    boost::asio::awaitable<void> handle_plugin_installed(
        const daemoneye::ipc::v1::PluginInstalled& p, Responder& responder);
    void periodic();
    // sd_notify(state) when run by systemd (NOTIFY_SOCKET set); a no-op otherwise.
    void notify(const std::string& state);
    boost::asio::awaitable<void> rpc_self_check();
    void write_textfile();

    boost::asio::io_context& io_;
    Config config_;
    std::unique_ptr<BusPort> bus_;
    std::unique_ptr<ProcessManager> pm_;
    std::unique_ptr<PluginRegistry> registry_;
    std::unique_ptr<IpcServer> ipc_;
    boost::asio::steady_timer periodic_timer_;
    std::chrono::steady_clock::time_point started_at_;
    std::chrono::steady_clock::time_point last_rpc_check_{};
    std::chrono::steady_clock::time_point last_textfile_{};
    bool rpc_ok_ = false;
    std::string rpc_message_ = "not checked yet";
    double rpc_latency_ms_ = 0;
    std::uint64_t rpc_checks_ = 0;
    std::uint64_t rpc_check_failures_ = 0;
    std::map<std::string, std::uint64_t> ipc_requests_by_kind_;
    std::map<std::string, std::uint64_t> ipc_errors_by_kind_;
    std::uint64_t textfile_errors_ = 0;
    std::map<std::string, LatencyHistogram> ipc_latency_;  // by request kind
    LatencyHistogram rpc_selfcheck_latency_;
    bool stopping_ = false;
    std::string registry_watch_error_;
};

}  // namespace daemoneye::agent
