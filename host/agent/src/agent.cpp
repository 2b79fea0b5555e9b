#include "agent.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fs_util.hpp"
#include "metrics.hpp"

namespace daemoneye::agent {

namespace asio = boost::asio;
namespace ipcv1 = daemoneye::ipc::v1;
namespace rpcv1 = daemoneye::rpc::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

namespace {

constexpr const char* kAgentRpcTopic = "control.agent";

int rank(const std::string& state) {
    if (state == "healthy") return 0;
    if (state == "degraded") return 1;
    return 2;
}

}  // namespace

Agent::Agent(asio::io_context& io, Config config)
    : io_(io), config_(std::move(config)), periodic_timer_(io), started_at_(Clock::now()) {
    bus_ = make_agent_bus(io_, config_);
    pm_ = std::make_unique<ProcessManager>(io_, config_, *bus_);
    registry_ = std::make_unique<PluginRegistry>(io_, config_, *pm_, *bus_);
    ipc_ = std::make_unique<IpcServer>(
        io_, config_.ipc, ::geteuid(),
        [this](ipcv1::Request req, Responder r) { return handle(std::move(req), std::move(r)); });
}

Agent::~Agent() = default;

asio::awaitable<Status> Agent::start() {
    if (auto s = ensure_private_dir(config_.agent.runtime_dir); !s)
        co_return fail("runtime dir: " + s.error().message);
    if (auto s = ensure_dir(config_.agent.state_dir, 0700); !s)
        co_return fail("state dir: " + s.error().message);

    if (auto s = bus_->start(); !s) co_return fail("broker: " + s.error().message);
    if (bus_->available()) {
        // Handlers and awaitables are named before co_await: GCC 12 destroys temporaries of a
        // co_await full-expression twice (see host/eventbus/src/await_callback.hpp).
        RpcHandler handler =
            [this](const rpcv1::RpcRequest& req) -> asio::awaitable<rpcv1::RpcResponse> {
            rpcv1::RpcResponse resp;  // the bus client adds the request's correlation
            resp.set_responder(config_.agent.id);
            if (req.operation() == rpcv1::OPERATION_HEALTH_CHECK) {
                resp.set_status(rpcv1::STATUS_OK);
                auto h = health();
                resp.mutable_health()->set_state(
                    h.overall() == "healthy"    ? rpcv1::HEALTH_STATE_HEALTHY
                    : h.overall() == "degraded" ? rpcv1::HEALTH_STATE_DEGRADED
                                                : rpcv1::HEALTH_STATE_UNHEALTHY);
                resp.mutable_health()->set_message(h.overall());
            } else {
                resp.set_status(rpcv1::STATUS_ERROR);
                resp.mutable_error()->set_code(rpcv1::ERROR_CODE_INVALID_OPERATION);
                resp.mutable_error()->set_message("control.agent serves HealthCheck only");
            }
            co_return resp;
        };
        auto op = bus_->serve(kAgentRpcTopic, std::move(handler));
        auto s = co_await std::move(op);
        if (!s) spdlog::warn("cannot serve {}: {}", kAgentRpcTopic, s.error().message);
    }
    pm_->start();
    if (auto s = ipc_->start(); !s) co_return fail("IPC endpoint: " + s.error().message);

    co_await registry_->scan();
    if (auto s = registry_->watch(); !s) {
        registry_watch_error_ = s.error().message;
        spdlog::error("plugins: drop-in watch not running: {}", registry_watch_error_);
    }
    // The watchdog pings start now: waiting for the collectors may take a while. (The periodic
    // RPC self-check waits for the one below.)
    last_rpc_check_ = Clock::now();
    periodic();
    notify("STATUS=starting collectors");
    auto started = co_await pm_->start_enabled();
    // One self-check now, so the first health report already knows whether RPC answers.
    last_rpc_check_ = Clock::now();
    co_await rpc_self_check();
    if (stopping_) co_return Status{};  // SIGTERM during start: STOPPING=1 was sent instead
    // READY=1 only once every enabled collector said Hello (or failed to): "ready" means
    // monitoring, not just listening.
    std::string status = "STATUS=running: " + std::to_string(started.started) + " of " +
                         std::to_string(started.enabled) + " enabled collector(s) up";
    if (!started.failed.empty()) {
        status += "; failed to start: ";
        for (std::size_t i = 0; i < started.failed.size(); ++i)
            status += (i ? ", " : "") + started.failed[i];
        std::replace(status.begin(), status.end(), '\n', ' ');  // one line: one variable
    }
    notify("READY=1\n" + status);
    co_return Status{};
}

asio::awaitable<void> Agent::shutdown() {
    if (stopping_) co_return;
    stopping_ = true;
    notify("STOPPING=1\nSTATUS=stopping " + std::to_string(pm_->live_children()) +
           " collector process(es)");
    periodic_timer_.cancel();
    registry_->stop();
    spdlog::info("stopping {} collector process(es)", pm_->live_children());
    co_await pm_->shutdown();
    ipc_->stop();
    if (bus_->available()) bus_->unserve(kAgentRpcTopic);
    bus_->stop();
    if (!config_.metrics.textfile_path.empty()) write_textfile();
    spdlog::info("agent stopped");
}

void Agent::notify(const std::string& state) {
    if (std::getenv("NOTIFY_SOCKET") == nullptr) return;  // not run by systemd (Type=notify)
    const int r = sd_notify(0, state.c_str());
    if (r < 0) spdlog::warn("sd_notify: {}", std::strerror(-r));
}

void Agent::periodic() {
    // Watchdog pings, RPC self-check, health publication and the metrics textfile share one
    // timer at the finest interval they need.
    std::uint64_t watchdog_usec = 0;
    const bool watchdog =
        std::getenv("NOTIFY_SOCKET") && sd_watchdog_enabled(0, &watchdog_usec) > 0;
    Clock::duration interval = seconds(1);
    if (watchdog)
        interval =
            std::min<Clock::duration>(interval, std::chrono::microseconds(watchdog_usec / 2));
    periodic_timer_.expires_after(interval);
    periodic_timer_.async_wait([this, watchdog](const boost::system::error_code& ec) {
        if (ec || stopping_) return;
        if (watchdog) notify("WATCHDOG=1");
        const auto now = Clock::now();
        if (now - last_rpc_check_ >= seconds(config_.rpc.health_check_interval_seconds) ||
            last_rpc_check_ == Clock::time_point{}) {
            last_rpc_check_ = now;
            asio::co_spawn(io_, rpc_self_check(), asio::detached);
        }
        if (now - last_textfile_ >= seconds(config_.metrics.interval_seconds)) {
            last_textfile_ = now;
            if (!config_.metrics.textfile_path.empty()) write_textfile();
            if (bus_->available()) (void)publish_payload(*bus_, "control.health.status", health());
        }
        periodic();
    });
}

asio::awaitable<void> Agent::rpc_self_check() {
    if (!bus_->available()) {
        rpc_ok_ = false;
        rpc_message_ = bus_->why_unavailable();
        co_return;
    }
    rpcv1::RpcRequest req;
    req.set_correlation_id("agent-selfcheck-" + std::to_string(++rpc_checks_));
    req.set_client_id(config_.agent.id);
    req.set_target(kAgentRpcTopic);
    req.set_operation(rpcv1::OPERATION_HEALTH_CHECK);
    req.mutable_health_check();
    const auto t0 = Clock::now();
    auto resp = co_await bus_->call(req, seconds(config_.rpc.default_timeout_seconds));
    rpc_latency_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    rpc_selfcheck_latency_.observe(Clock::now() - t0);
    rpc_ok_ = resp.status() == rpcv1::STATUS_OK;
    if (!rpc_ok_) ++rpc_check_failures_;
    rpc_message_ = rpc_ok_ ? "answered in " + std::to_string(rpc_latency_ms_) + " ms"
                           : "self-check failed: " + resp.error().message();
}

void Agent::write_textfile() {
    auto s = write_file_atomic(config_.metrics.textfile_path, prometheus_text(), 0644);
    if (!s) {
        ++textfile_errors_;
        spdlog::warn("metrics: {}", s.error().message);
    }
}

ipcv1::HealthReport Agent::health() const {
    ipcv1::HealthReport r;
    auto add = [&](std::string component, std::string state, std::string message) {
        auto* c = r.add_components();
        c->set_component(std::move(component));
        c->set_state(std::move(state));
        c->set_message(std::move(message));
    };
    const auto up = std::chrono::duration_cast<seconds>(Clock::now() - started_at_).count();
    add("agent", "healthy",
        "pid " + std::to_string(::getpid()) + ", up " + std::to_string(up) + " s");
    if (!bus_->available()) {
        add("broker", "unhealthy", bus_->why_unavailable());
    } else if (!bus_->accepting()) {
        add("broker", "unhealthy", "not accepting connections on " + config_.broker.socket_path);
    } else {
        auto m = bus_->metrics();
        double util = m.count("buffer_utilization_max") ? m.at("buffer_utilization_max") : 0;
        add("broker", util > 0.9 ? "degraded" : "healthy",
            "accepting on " + config_.broker.socket_path + ", max buffer use " +
                std::to_string(static_cast<int>(util * 100)) + "%");
    }
    if (!bus_->available())
        add("rpc", "unhealthy", bus_->why_unavailable());
    else
        add("rpc", rpc_ok_ ? "healthy" : (rpc_checks_ == 0 ? "degraded" : "unhealthy"),
            rpc_message_);
    const auto& is = ipc_->stats();
    add("ipc", "healthy",
        ipc_->path() + ", " + std::to_string(is.active) + " connection(s), " +
            std::to_string(is.malformed) + " malformed request(s)");
    std::size_t accepted = 0, refused = 0;
    for (const auto& p : registry_->list()) (p.accepted() ? accepted : refused)++;
    add("plugins", registry_watch_error_.empty() ? "healthy" : "degraded",
        std::to_string(accepted) + " accepted, " + std::to_string(refused) + " refused" +
            (registry_watch_error_.empty() ? "; watching " + config_.plugins.drop_in_dir
                                           : "; drop-in watch off: " + registry_watch_error_));
    for (const auto& ci : pm_->list()) {
        const std::string& st = ci.state();
        std::string state = "healthy";
        std::string msg = st;
        if (st == "Running") {
            msg += ", pid " + std::to_string(ci.pid()) + ", heartbeat " +
                   std::to_string(ci.heartbeat_age_ms()) + " ms ago";
        } else if (st == "Failed") {
            state = "unhealthy";
            msg += ": " + ci.last_exit();
        } else if (st == "Stopped") {
            msg += config_.collector(ci.name()).enabled ? " (enabled, not running)" : " (disabled)";
            if (config_.collector(ci.name()).enabled) state = "degraded";
        } else {
            state = "degraded";
            if (!ci.last_exit().empty()) msg += "; last exit: " + ci.last_exit();
        }
        add("collector " + ci.instance(), state, msg);
    }
    int worst = 0;
    for (const auto& c : r.components()) worst = std::max(worst, rank(c.state()));
    r.set_overall(worst == 0 ? "healthy" : worst == 1 ? "degraded" : "unhealthy");
    return r;
}

std::map<std::string, double> Agent::metrics() const {
    std::map<std::string, double> m;
    m["agent_uptime_seconds"] = std::chrono::duration<double>(Clock::now() - started_at_).count();
    const auto& is = ipc_->stats();
    m["ipc_connections_accepted_total"] = static_cast<double>(is.accepted);
    m["ipc_connections_active"] = static_cast<double>(is.active);
    m["ipc_connections_refused_total{reason=\"uid\"}"] = static_cast<double>(is.refused_uid);
    m["ipc_connections_refused_total{reason=\"limit\"}"] = static_cast<double>(is.refused_limit);
    m["ipc_requests_total"] = static_cast<double>(is.requests);
    m["ipc_malformed_total"] = static_cast<double>(is.malformed);
    m["ipc_responses_dropped_total"] = static_cast<double>(is.responses_dropped);
    for (const auto& [k, v] : ipc_requests_by_kind_)
        m["ipc_requests_by_kind_total{kind=\"" + k + "\"}"] = static_cast<double>(v);
    for (const auto& [k, v] : ipc_errors_by_kind_)
        m["ipc_errors_total{kind=\"" + k + "\"}"] = static_cast<double>(v);
    const auto& ps = pm_->stats();
    m["collector_spawns_total"] = static_cast<double>(ps.spawned);
    m["collector_crashes_total"] = static_cast<double>(ps.crashes);
    m["collector_restarts_total"] = static_cast<double>(ps.restarts);
    m["collector_failures_total"] = static_cast<double>(ps.failed);
    m["collector_spawn_errors_total"] = static_cast<double>(ps.spawn_errors);
    m["collector_heartbeats_refused_total"] = static_cast<double>(ps.heartbeats_refused);
    for (const auto& ci : pm_->list()) {
        const std::string l = "{instance=\"" + ci.instance() + "\"}";
        m["collector_up" + l] = (ci.state() == "Running" || ci.state() == "Degraded") ? 1 : 0;
        m["collector_restarts" + l] = ci.restarts();
        m["collector_events_published" + l] = static_cast<double>(ci.events_published());
        m["collector_events_dropped" + l] = static_cast<double>(ci.events_dropped());
        m["collector_heartbeat_age_seconds" + l] =
            static_cast<double>(ci.heartbeat_age_ms()) / 1000.0;
    }
    const auto& rs = registry_->stats();
    m["plugins_probed_total"] = static_cast<double>(rs.probed);
    m["plugins_refused_total"] = static_cast<double>(rs.refused);
    m["plugins_changed_total"] = static_cast<double>(rs.changed);
    m["rpc_selfcheck_total"] = static_cast<double>(rpc_checks_);
    m["rpc_selfcheck_failures_total"] = static_cast<double>(rpc_check_failures_);
    m["rpc_selfcheck_last_latency_seconds"] = rpc_latency_ms_ / 1000.0;
    m["metrics_textfile_errors_total"] = static_cast<double>(textfile_errors_);
    for (const auto& [kind, h] : ipc_latency_)
        h.export_to(m, "ipc_request_latency_seconds", "kind=\"" + kind + "\"");
    rpc_selfcheck_latency_.export_to(m, "rpc_selfcheck_latency_seconds", "");
    m["broker_up"] = bus_->available() && bus_->accepting() ? 1 : 0;
    if (config_.broker.enable_metrics)
        for (const auto& [k, v] : bus_->metrics()) m["bus_" + k] = v;
    return m;
}

std::string Agent::prometheus_text() const {
    return render_prometheus(metrics());
}

std::string Agent::summary() const {
    std::string s;
    auto line = [&](const std::string& what, const std::string& text) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "  %-12s ", (what + ":").c_str());
        s += buf + text + "\n";
    };
    line("config", config_.source.empty() ? "(none: built-in defaults)" : config_.source);
    line("IPC", config_.ipc.endpoint_path + "  (daemoneye-cli --endpoint " +
                    config_.ipc.endpoint_path + ")");
    line("broker", bus_->available() ? config_.broker.socket_path
                                     : "NOT AVAILABLE: " + bus_->why_unavailable());
    std::string launcher = config_.process_manager.launcher_path;
    if (::access(launcher.c_str(), X_OK) != 0)
        launcher += "  (MISSING: collectors cannot be probed or started)";
    line("launcher", launcher);
    std::string dirs;
    for (const auto& d : config_.plugins.directories) dirs += (dirs.empty() ? "" : ", ") + d;
    line("plugin dirs", dirs);
    line("drop-in",
         config_.plugins.drop_in_dir + (registry_watch_error_.empty()
                                            ? " (watched)"
                                            : " (NOT watched: " + registry_watch_error_ + ")"));
    std::size_t n = 0;
    for (const auto& p : registry_->list()) {
        ++n;
        line("plugin", p.accepted() ? p.name() + " " + p.version() + " (" + p.path() + ")"
                                    : "REFUSED " + p.path() + ": " + p.reason());
    }
    if (n == 0)
        line("plugins", "none found (build them: make build; or drop a .so into the drop-in dir)");
    for (const auto& [name, c] : config_.collectors) {
        if (c.enabled && !pm_->has_plugin(name))
            line("collector", name + " is configured but no accepted plugin provides it");
    }
    line("metrics", config_.metrics.textfile_path.empty() ? "CLI only (metrics.textfile_path unset)"
                                                          : config_.metrics.textfile_path);
    line("not built", "task router, detection (SQLite), `query` and `alerts` (see docs/agent.md)");
    return s;
}

}  // namespace daemoneye::agent
