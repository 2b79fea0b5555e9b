#include "process_manager.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <deque>
#include <list>

#include "child_process.hpp"
#include "logging.hpp"
#include "notifier.hpp"
#include "permission_grant.hpp"

namespace daemoneye::agent {

namespace asio = boost::asio;
namespace rpcv1 = daemoneye::rpc::v1;
namespace ipcv1 = daemoneye::ipc::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

const char* to_string(CollectorState s) {
    switch (s) {
        case CollectorState::Stopped:
            return "Stopped";
        case CollectorState::Starting:
            return "Starting";
        case CollectorState::Running:
            return "Running";
        case CollectorState::Degraded:
            return "Degraded";
        case CollectorState::Stopping:
            return "Stopping";
        case CollectorState::Crashed:
            return "Crashed";
        case CollectorState::Failed:
            return "Failed";
    }
    return "?";
}

namespace {

std::uint64_t now_ms_since(Clock::time_point t) {
    if (t == Clock::time_point{}) return 0;
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<milliseconds>(Clock::now() - t).count());
}

std::string new_correlation_id() {
    static std::uint64_t counter = 0;
    return "pm-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

}  // namespace

struct Instance {
    explicit Instance(asio::io_context& io) : restart_timer(io) {}
    std::string id;
    std::string plugin;
    CollectorState state = CollectorState::Stopped;
    std::unique_ptr<Child> child;
    std::uint64_t generation = 0;  // bumps per spawn; stale callbacks compare and bail out
    Clock::time_point spawned_at{};
    Clock::time_point running_since{};
    Clock::time_point last_heartbeat{};
    std::uint32_t restarts = 0;
    std::deque<Clock::time_point> restart_times;  // within process_manager.restart_window
    std::string last_exit;
    std::string pending_exit_reason;  // why *we* killed it (missed heartbeats, startup timeout)
    std::string session_close_reason;
    std::uint64_t session_id = 0;  // the bus session of the current spawn (Message.source_session)
    std::vector<std::string> publish_grants;  // granted to the current spawn's session
    bool stop_requested = false;              // the next exit is expected (stop, or a kill we did)
    bool operator_stopped = false;            // a stop was asked for: no automatic restart
    bool hello_seen = false;
    daemoneye::bus::v1::Hello hello;
    daemoneye::bus::v1::CollectorHeartbeat heartbeat;
    std::map<std::string, std::string> health_details;
    asio::steady_timer restart_timer;
    Notifier changed;  // state changes, exits and Hellos
};

struct ProcessManager::Impl : std::enable_shared_from_this<ProcessManager::Impl> {
    Impl(asio::io_context& io, const Config& c, BusPort& b)
        : io(io), config(c), bus(b), supervise_timer(io) {}

    asio::io_context& io;
    const Config& config;
    BusPort& bus;
    std::map<std::string, PluginSpec> plugins;
    std::map<std::string, std::vector<std::shared_ptr<Instance>>> instances;  // by plugin
    asio::steady_timer supervise_timer;
    ProcessManagerStats stats;
    std::uint64_t heartbeat_sub = 0;
    bool shutting_down = false;
    Clock::time_point last_health_round = Clock::now();

    const ProcessManagerConfig& pm() const { return config.process_manager; }

    std::vector<std::shared_ptr<Instance>>& ensure_instances(const std::string& name) {
        auto& v = instances[name];
        const std::uint32_t want = config.collector(name).instances;
        while (v.size() < want) {
            auto inst = std::make_shared<Instance>(io);
            inst->plugin = name;
            inst->id = name + "-" + std::to_string(v.size());
            v.push_back(std::move(inst));
        }
        return v;
    }

    std::shared_ptr<Instance> find_instance(const std::string& id) {
        for (auto& [_, v] : instances)
            for (auto& i : v)
                if (i->id == id) return i;
        return nullptr;
    }

    void set_state(Instance& inst, CollectorState s) {
        if (inst.state == s) return;
        spdlog::info("collector {}: {} -> {}", inst.id, to_string(inst.state), to_string(s));
        inst.state = s;
        if (s == CollectorState::Running && inst.running_since == Clock::time_point{}) {
            inst.running_since = Clock::now();
            // Ask for its health at the next supervision tick rather than after a whole
            // health_check_interval, so `collectors status` shows the collector's own details
            // (mode, view, counters) from the start.
            last_health_round = Clock::time_point{};
        }
        inst.changed.notify();
    }

    std::vector<std::string> launcher_argv(const Instance& inst, const PluginSpec& spec,
                                           const Grant& grant) const {
        const CollectorConfig cc = config.collector(spec.name);
        std::vector<std::string> argv = {
            pm().launcher_path, "--plugin", spec.path, "--instance", inst.id, "--broker-fd", "3"};
        for (const auto& p : grant.permissions) {
            argv.push_back("--permission");
            argv.push_back(p);
        }
        const std::uint32_t mem =
            cc.memory_limit_mb ? cc.memory_limit_mb : config.sandbox.memory_limit_mb;
        if (mem) {
            argv.push_back("--memory-limit-mb");
            argv.push_back(std::to_string(mem));
        }
        if (!config.sandbox.enabled) {
            argv.push_back("--no-sandbox");
        } else {
            if (!config.sandbox.user.empty()) {
                argv.push_back("--user");
                argv.push_back(config.sandbox.user);
            }
            argv.push_back("--on-violation");
            argv.push_back(to_string(config.sandbox.on_violation));
        }
        return argv;
    }

    // Spawns one instance and waits until it is Running (Hello) or failed.
    asio::awaitable<Status> start_instance(std::shared_ptr<Instance> inst) {
        auto self = shared_from_this();
        if (inst->child) {
            if (inst->state == CollectorState::Running || inst->state == CollectorState::Degraded)
                co_return Status{};
            co_return co_await wait_started(inst, inst->generation);
        }
        auto spec_it = plugins.find(inst->plugin);
        if (spec_it == plugins.end()) co_return fail("no plugin named " + inst->plugin);
        const PluginSpec spec = spec_it->second;
        const CollectorConfig cc = config.collector(spec.name);

        // Explicit permissions (and publishes) must be covered by what the plugin declares;
        // path-less fs.watch becomes one fs.watch:<path> per configured path.
        auto grant = grant_for(spec.name, spec.permissions, spec.publishes, cc);
        if (!grant) {
            inst->last_exit = grant.error().message;
            set_state(*inst, CollectorState::Failed);
            co_return fail(inst->last_exit);
        }

        inst->restart_timer.cancel();
        inst->stop_requested = false;
        inst->operator_stopped = false;
        inst->hello_seen = false;
        inst->pending_exit_reason.clear();
        inst->session_close_reason.clear();
        inst->running_since = {};
        const std::uint64_t gen = ++inst->generation;
        set_state(*inst, CollectorState::Starting);

        if (!bus.available()) {
            inst->last_exit = "cannot start: " + bus.why_unavailable();
            set_state(*inst, CollectorState::Failed);
            co_return fail(inst->last_exit);
        }

        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            inst->last_exit = "socketpair: " + errno_string();
            set_state(*inst, CollectorState::Failed);
            co_return fail(inst->last_exit);
        }
        asio::local::stream_protocol::socket ours(io);
        ours.assign(asio::local::stream_protocol(), sv[0]);

        CollectorIdentity identity;
        identity.instance_id = inst->id;
        identity.plugin_name = spec.name;
        identity.publish_grants = grant->publishes;
        // The launcher's bridge reports for the plugin: heartbeats and sandbox/diagnostic events.
        identity.publish_grants.push_back("control.health.heartbeat");
        identity.publish_grants.push_back("control.health.diagnostics");
        inst->publish_grants = identity.publish_grants;
        identity.config = grant->config;
        // The launcher serves its instance's target, subscribes to nothing and calls nothing; a
        // plugin writing to the session itself can do no more (no subscribe or call grants;
        // docs/eventbus.md, "What an adopted collector may do").
        identity.rpc_serve_grants = {"control.collector." + inst->plugin + "." + inst->id};
        std::weak_ptr<Instance> weak = inst;
        CollectorSessionEvents events;
        events.on_hello = [weak, gen](const daemoneye::bus::v1::Hello& hello) {
            auto i = weak.lock();
            if (!i || i->generation != gen) return;
            i->hello = hello;
            i->hello_seen = true;
            i->last_heartbeat = Clock::now();
            // Running only once the plugin has started: the bridge's heartbeat says "running".
            i->changed.notify();
        };
        events.on_closed = [weak, gen](const std::string& reason) {
            auto i = weak.lock();
            if (!i || i->generation != gen) return;
            i->session_close_reason = reason;
        };
        auto session = bus.adopt(std::move(ours), identity, std::move(events));
        if (!session) {
            ::close(sv[1]);
            inst->last_exit = "broker refused the session: " + session.error().message;
            set_state(*inst, CollectorState::Failed);
            co_return fail(inst->last_exit);
        }
        inst->session_id = *session;

        SpawnOptions opts;
        opts.argv = launcher_argv(*inst, spec, *grant);
        opts.pass_fd = sv[1];
        opts.pass_fd_as = 3;
        auto child = spawn_child(io, opts);
        ::close(sv[1]);
        if (!child) {
            ++stats.spawn_errors;
            inst->last_exit = child.error().message;
            spdlog::error("collector {}: {}", inst->id, inst->last_exit);
            set_state(*inst, CollectorState::Failed);
            co_return fail(inst->last_exit);
        }
        ++stats.spawned;
        inst->child = std::move(*child);
        inst->spawned_at = Clock::now();
        spdlog::info("collector {}: launcher pid {} for {}", inst->id, inst->child->pid(),
                     spec.path);
        asio::co_spawn(io, watch_exit(inst, gen), asio::detached);
        co_return co_await wait_started(inst, gen);
    }

    static std::string errno_string() { return std::strerror(errno); }

    asio::awaitable<Status> wait_started(std::shared_ptr<Instance> inst, std::uint64_t gen) {
        const auto deadline = inst->spawned_at + seconds(config.broker.startup_timeout_seconds);
        while (inst->generation == gen && inst->state == CollectorState::Starting &&
               Clock::now() < deadline) {
            co_await inst->changed.wait_until(deadline);
        }
        if (inst->generation != gen) co_return fail(inst->id + " was restarted meanwhile");
        if (inst->state == CollectorState::Running || inst->state == CollectorState::Degraded)
            co_return Status{};
        if (inst->state == CollectorState::Starting) {
            const std::string why = "did not say Hello within broker.startup_timeout_seconds (" +
                                    std::to_string(config.broker.startup_timeout_seconds) + " s)";
            spdlog::error("collector {}: {}; killing it", inst->id, why);
            inst->pending_exit_reason = why;
            inst->stop_requested = true;  // not a crash: start failed, no auto-restart
            if (inst->child) inst->child->signal_group(SIGKILL);
            while (inst->child && inst->generation == gen)
                co_await inst->changed.wait_until(Clock::now() + seconds(5));
            set_state(*inst, CollectorState::Failed);
            inst->last_exit = why;
            co_return fail(inst->id + " " + why);
        }
        if (inst->state == CollectorState::Stopping || inst->state == CollectorState::Stopped)
            co_return fail(inst->id + " start interrupted by a stop");
        co_return fail(inst->id + " failed to start: " + inst->last_exit);
    }

    asio::awaitable<void> watch_exit(std::shared_ptr<Instance> inst, std::uint64_t gen) {
        auto self = shared_from_this();
        ExitStatus st = co_await inst->child->wait();
        if (inst->generation != gen) co_return;
        inst->child.reset();
        std::string reason = st.to_string();
        if (!inst->pending_exit_reason.empty())
            reason = inst->pending_exit_reason + " (" + reason + ")";
        if (!inst->hello_seen && !inst->stop_requested)
            reason += "; before saying Hello" +
                      (inst->session_close_reason.empty() ? "" : ": " + inst->session_close_reason);
        inst->last_exit = reason;
        if (inst->stop_requested || shutting_down) {
            spdlog::info("collector {}: stopped ({})", inst->id, reason);
            if (inst->state != CollectorState::Failed) set_state(*inst, CollectorState::Stopped);
            inst->changed.notify();
            co_return;
        }
        ++stats.crashes;
        const bool was_starting = inst->state == CollectorState::Starting;
        spdlog::warn("collector {}: {} unexpectedly", inst->id, reason);
        // A collector that ran for the stable period earns a clean restart record.
        if (inst->running_since != Clock::time_point{} &&
            Clock::now() - inst->running_since >= seconds(pm().stable_period_seconds)) {
            inst->restart_times.clear();
        }
        set_state(*inst, CollectorState::Crashed);
        publish_diagnostic("warning", inst->id + " " + reason);
        if (!was_starting) schedule_restart(inst);
        inst->changed.notify();
    }

    void schedule_restart(const std::shared_ptr<Instance>& inst) {
        if (!pm().enable_auto_restart || shutting_down) return;
        const auto now = Clock::now();
        while (!inst->restart_times.empty() &&
               now - inst->restart_times.front() > seconds(pm().restart_window_seconds)) {
            inst->restart_times.pop_front();
        }
        if (inst->restart_times.size() >= pm().max_restart_attempts) {
            ++stats.failed;
            inst->last_exit = "gave up after " + std::to_string(inst->restart_times.size()) +
                              " restarts within " + std::to_string(pm().restart_window_seconds) +
                              " s; last exit: " + inst->last_exit;
            spdlog::error("collector {}: {}", inst->id, inst->last_exit);
            set_state(*inst, CollectorState::Failed);
            publish_diagnostic("error", inst->id + " failed: " + inst->last_exit);
            return;
        }
        const std::size_t n = inst->restart_times.size();
        const auto delay = seconds(static_cast<std::uint64_t>(pm().restart_backoff_seconds)
                                   << std::min<std::size_t>(n, 16));
        const auto capped = std::min<seconds>(delay, seconds(3600));
        spdlog::info("collector {}: restart {} of {} in {} s", inst->id, n + 1,
                     pm().max_restart_attempts, capped.count());
        inst->restart_times.push_back(now);
        const std::uint64_t gen = inst->generation;
        inst->restart_timer.expires_after(capped);
        inst->restart_timer.async_wait(
            [this, self = shared_from_this(), inst, gen](const boost::system::error_code& ec) {
                if (ec || inst->generation != gen || inst->state != CollectorState::Crashed ||
                    shutting_down)
                    return;
                ++inst->restarts;
                ++stats.restarts;
                asio::co_spawn(io, restart_after_crash(inst), asio::detached);
            });
    }

    asio::awaitable<void> restart_after_crash(std::shared_ptr<Instance> inst) {
        auto self = shared_from_this();
        auto s = co_await start_instance(inst);
        if (!s) {
            spdlog::warn("collector {}: restart failed: {}", inst->id, s.error().message);
            if (inst->state == CollectorState::Failed && inst->child == nullptr &&
                inst->restart_times.size() < pm().max_restart_attempts && !inst->operator_stopped &&
                !shutting_down) {
                // A start that failed (e.g. timed out) counts as another crash.
                set_state(*inst, CollectorState::Crashed);
                schedule_restart(inst);
            } else if (inst->state == CollectorState::Crashed) {
                schedule_restart(inst);
            }
        }
    }

    asio::awaitable<Status> stop_instance(std::shared_ptr<Instance> inst, bool force) {
        auto self = shared_from_this();
        inst->restart_timer.cancel();
        inst->stop_requested = true;
        inst->operator_stopped = true;
        if (!inst->child) {
            if (inst->state != CollectorState::Stopped) set_state(*inst, CollectorState::Stopped);
            co_return Status{};
        }
        const std::uint64_t gen = inst->generation;
        set_state(*inst, CollectorState::Stopping);
        if (force) {
            spdlog::info("collector {}: forced stop (SIGKILL)", inst->id);
            inst->child->signal_group(SIGKILL);
        } else {
            bool rpc_ok = false;
            if (inst->hello_seen && bus.available()) {
                rpcv1::RpcRequest req;
                req.set_correlation_id(new_correlation_id());
                req.set_client_id(config.agent.id);
                req.set_target("control.collector." + inst->plugin + "." + inst->id);
                req.set_operation(rpcv1::OPERATION_GRACEFUL_SHUTDOWN);
                req.mutable_lifecycle()->set_collector(inst->plugin);
                req.mutable_lifecycle()->set_instance(inst->id);
                req.mutable_lifecycle()->set_graceful(true);
                const auto timeout =
                    seconds(std::max<std::uint32_t>(1, pm().graceful_shutdown_timeout_seconds));
                req.set_timeout_ms(static_cast<std::uint64_t>(milliseconds(timeout).count()));
                auto resp = co_await bus.call(req, timeout);
                rpc_ok = resp.status() == rpcv1::STATUS_OK;
                if (!rpc_ok) {
                    spdlog::warn("collector {}: graceful stop RPC failed: {}; SIGTERM instead",
                                 inst->id, resp.error().message());
                }
            }
            // Without an RPC channel (no Hello yet, or the call failed) SIGTERM is the graceful
            // request: the launcher stops the plugin cleanly on it.
            const auto grace =
                rpc_ok ? seconds(pm().graceful_shutdown_timeout_seconds) : seconds(0);
            if (!co_await wait_exit(inst, gen, grace)) {
                if (rpc_ok)
                    spdlog::warn("collector {}: still running after {} s; SIGTERM", inst->id,
                                 pm().graceful_shutdown_timeout_seconds);
                if (inst->child) inst->child->signal_group(SIGTERM);
                if (!co_await wait_exit(inst, gen, seconds(pm().force_shutdown_timeout_seconds))) {
                    spdlog::warn("collector {}: still running after SIGTERM + {} s; SIGKILL",
                                 inst->id, pm().force_shutdown_timeout_seconds);
                    if (inst->child) inst->child->signal_group(SIGKILL);
                }
            }
        }
        // SIGKILL always ends it; wait without a deadline for the reap.
        while (inst->child && inst->generation == gen)
            co_await inst->changed.wait_until(Clock::now() + seconds(60));
        co_return Status{};
    }

    asio::awaitable<bool> wait_exit(std::shared_ptr<Instance> inst, std::uint64_t gen,
                                    Clock::duration timeout) {
        const auto deadline = Clock::now() + timeout;
        while (inst->child && inst->generation == gen && Clock::now() < deadline)
            co_await inst->changed.wait_until(deadline);
        co_return !inst->child || inst->generation != gen;
    }

    void publish_diagnostic(const std::string& severity, const std::string& message) {
        if (!bus.available()) return;
        daemoneye::bus::v1::Diagnostic d;
        d.set_severity(severity);
        d.set_source("process_manager");
        d.set_message(message);
        (void)publish_payload(bus, "control.health.diagnostics", d);
    }

    void on_heartbeat(const daemoneye::bus::v1::Message& m) {
        daemoneye::bus::v1::CollectorHeartbeat hb;
        if (m.payload_type() != hb.GetTypeName() || !hb.ParseFromString(m.payload())) return;
        auto inst = find_instance(hb.instance_id());
        if (!inst) return;
        // Every collector may publish heartbeats: only the instance's own session speaks for it
        // (the broker stamps source_session; a plugin cannot forge it), or one plugin could keep
        // another, hung one looking alive.
        if (m.source_session() != inst->session_id) {
            const auto n = ++stats.heartbeats_refused;
            if ((n & (n - 1)) == 0) {
                spdlog::warn(
                    "collector {}: heartbeat from bus session {} refused: its session is "
                    "{} ({} refused so far)",
                    inst->id, m.source_session(), inst->session_id, n);
            }
            return;
        }
        inst->heartbeat = hb;
        inst->last_heartbeat = Clock::now();
        if (inst->state == CollectorState::Starting && inst->hello_seen &&
            hb.state() == "running") {
            set_state(*inst, CollectorState::Running);
            return;
        }
        if (inst->state == CollectorState::Degraded && inst->health_details.count("degraded") == 0)
            set_state(*inst, CollectorState::Running);
    }

    // Heartbeat ages and the periodic RPC health check. Ticks at a fraction of the heartbeat
    // timeout; exits are never polled (pidfd).
    void supervise() {
        const auto hb_timeout = seconds(pm().heartbeat_timeout_seconds);
        supervise_timer.expires_after(std::max<Clock::duration>(hb_timeout / 4, milliseconds(250)));
        supervise_timer.async_wait([this, hb_timeout, self = shared_from_this()](
                                       const boost::system::error_code& ec) {
            if (ec || shutting_down) return;
            const auto now = Clock::now();
            for (auto& [_, v] : instances) {
                for (auto& inst : v) {
                    if (!inst->child || !inst->hello_seen) continue;
                    if (inst->state != CollectorState::Running &&
                        inst->state != CollectorState::Degraded)
                        continue;
                    const auto age = now - inst->last_heartbeat;
                    if (age > 2 * hb_timeout) {
                        inst->pending_exit_reason =
                            "missed heartbeats for " +
                            std::to_string(std::chrono::duration_cast<seconds>(age).count()) + " s";
                        spdlog::warn("collector {}: {}; killing it for a restart", inst->id,
                                     inst->pending_exit_reason);
                        inst->child->signal_group(SIGKILL);
                    } else if (age > hb_timeout && inst->state == CollectorState::Running) {
                        spdlog::warn("collector {}: no heartbeat for {} s", inst->id,
                                     std::chrono::duration_cast<seconds>(age).count());
                        set_state(*inst, CollectorState::Degraded);
                    }
                }
            }
            if (now - last_health_round >= seconds(pm().health_check_interval_seconds)) {
                last_health_round = now;
                asio::co_spawn(io, health_round(), asio::detached);
            }
            supervise();
        });
    }

    asio::awaitable<void> health_round() {
        auto self = shared_from_this();
        std::vector<std::shared_ptr<Instance>> all;
        for (auto& [_, v] : instances)
            for (auto& i : v)
                if (i->child && i->hello_seen) all.push_back(i);
        for (auto& inst : all) {
            rpcv1::RpcRequest req;
            req.set_correlation_id(new_correlation_id());
            req.set_client_id(config.agent.id);
            req.set_target("control.collector." + inst->plugin + "." + inst->id);
            req.set_operation(rpcv1::OPERATION_HEALTH_CHECK);
            req.mutable_health_check();
            auto resp = co_await bus.call(req, seconds(config.rpc.default_timeout_seconds));
            if (!inst->child) continue;
            if (resp.status() == rpcv1::STATUS_OK && resp.has_health()) {
                inst->health_details.clear();
                for (const auto& [k, v] : resp.health().details()) inst->health_details[k] = v;
                if (resp.health().state() != rpcv1::HEALTH_STATE_HEALTHY) {
                    inst->health_details["degraded"] = resp.health().message();
                    if (inst->state == CollectorState::Running)
                        set_state(*inst, CollectorState::Degraded);
                } else if (inst->state == CollectorState::Degraded &&
                           Clock::now() - inst->last_heartbeat <
                               seconds(pm().heartbeat_timeout_seconds)) {
                    set_state(*inst, CollectorState::Running);
                }
            } else if (resp.error().code() == rpcv1::ERROR_CODE_NOT_FOUND) {
                // The instance does not serve RPC (yet): heartbeats remain the liveness signal.
                spdlog::debug("collector {}: no health RPC: {}", inst->id, resp.error().message());
            } else {
                spdlog::warn("collector {}: health check failed: {}", inst->id,
                             resp.error().message());
                inst->health_details["degraded"] = "health check failed: " + resp.error().message();
                if (inst->state == CollectorState::Running)
                    set_state(*inst, CollectorState::Degraded);
            }
        }
    }

    ipcv1::CollectorInfo info(const Instance& inst) const {
        ipcv1::CollectorInfo ci;
        ci.set_name(inst.plugin);
        ci.set_instance(inst.id);
        ci.set_state(to_string(inst.state));
        ci.set_pid(inst.child ? inst.child->pid() : 0);
        if (inst.child &&
            (inst.state == CollectorState::Running || inst.state == CollectorState::Degraded))
            ci.set_uptime_ms(now_ms_since(inst.running_since));
        ci.set_restarts(inst.restarts);
        ci.set_last_exit(inst.last_exit);
        ci.set_events_published(inst.heartbeat.events_emitted());
        ci.set_events_dropped(inst.heartbeat.events_dropped());
        ci.set_errors(inst.heartbeat.errors());
        if (inst.hello_seen) {
            for (const auto& l : inst.hello.sandbox()) {
                auto* s = ci.add_sandbox();
                s->set_name(l.name());
                s->set_applied(l.applied());
                s->set_detail(l.detail());
            }
        }
        auto it = plugins.find(inst.plugin);
        if (it != plugins.end()) ci.set_plugin_path(it->second.path);
        if (inst.child && inst.hello_seen)
            ci.set_heartbeat_age_ms(now_ms_since(inst.last_heartbeat));
        for (const auto& [k, v] : inst.health_details) (*ci.mutable_details())[k] = v;
        for (const auto& g : inst.publish_grants) ci.add_publish_grants(g);
        return ci;
    }

    asio::awaitable<Status> start_plugin(const std::string& name) {
        if (!plugins.count(name)) co_return fail("no plugin named '" + name + "' is registered");
        auto insts = ensure_instances(name);
        std::string errors;
        for (auto& inst : insts) {
            auto s = co_await start_instance(inst);
            if (!s) errors += (errors.empty() ? "" : "; ") + s.error().message;
        }
        if (!errors.empty()) co_return fail(errors);
        co_return Status{};
    }

    asio::awaitable<Status> stop_plugin(const std::string& name, bool force) {
        auto it = instances.find(name);
        if (it == instances.end()) {
            if (!plugins.count(name))
                co_return fail("no plugin named '" + name + "' is registered");
            co_return Status{};
        }
        auto insts = it->second;
        for (auto& inst : insts) (void)co_await stop_instance(inst, force);
        co_return Status{};
    }
};

ProcessManager::ProcessManager(asio::io_context& io, const Config& config, BusPort& bus)
    : impl_(std::make_shared<Impl>(io, config, bus)) {}

ProcessManager::~ProcessManager() {
    impl_->shutting_down = true;
    impl_->supervise_timer.cancel();
    // Children still alive are killed and reaped by ~Child.
}

void ProcessManager::start() {
    if (impl_->bus.available()) {
        asio::co_spawn(
            impl_->io,
            [impl = impl_]() -> asio::awaitable<void> {
                MessageHandler handler = [raw = impl.get()](const daemoneye::bus::v1::Message& m) {
                    raw->on_heartbeat(m);
                };
                auto op = impl->bus.subscribe("control.health.heartbeat", std::move(handler));
                auto sub = co_await std::move(op);
                if (sub)
                    impl->heartbeat_sub = *sub;
                else
                    spdlog::warn("process manager: cannot subscribe to heartbeats: {}",
                                 sub.error().message);
            },
            asio::detached);
    }
    impl_->supervise();
}

void ProcessManager::add_plugin(PluginSpec spec) {
    const std::string name = spec.name;
    const bool replaced = impl_->plugins.count(name) > 0;
    impl_->plugins[name] = std::move(spec);
    impl_->ensure_instances(name);
    if (!replaced && impl_->bus.available()) {
        asio::co_spawn(
            impl_->io,
            [this, impl = impl_, name]() -> asio::awaitable<void> {
                // handle_rpc takes its own copy: it is also called with temporaries.
                RpcHandler handler = [this](const rpcv1::RpcRequest& req) {
                    return handle_rpc(req);
                };
                auto op = impl->bus.serve("control.collector." + name, std::move(handler));
                auto s = co_await std::move(op);
                if (!s)
                    spdlog::warn("process manager: cannot serve control.collector.{}: {}", name,
                                 s.error().message);
            },
            asio::detached);
    }
    if (replaced) {
        bool any_running = false;
        for (auto& i : impl_->instances[name]) any_running |= i->child != nullptr;
        if (any_running) {
            spdlog::info("plugin {}: library changed; restarting its collectors", name);
            asio::co_spawn(impl_->io, restart(name), [name](const std::exception_ptr&, Status s) {
                if (!s)
                    spdlog::error("plugin {}: restart after change failed: {}", name,
                                  s.error().message);
            });
        }
    }
}

asio::awaitable<void> ProcessManager::remove_plugin(std::string name) {
    auto impl = impl_;
    (void)co_await impl->stop_plugin(name, false);
    impl->plugins.erase(name);
    impl->instances.erase(name);
    impl->bus.unserve("control.collector." + name);
}

bool ProcessManager::has_plugin(const std::string& name) const {
    return impl_->plugins.count(name) > 0;
}

asio::awaitable<Status> ProcessManager::start(std::string name) {
    auto impl = impl_;
    co_return co_await impl->start_plugin(name);
}

asio::awaitable<Status> ProcessManager::stop(std::string name, bool force) {
    auto impl = impl_;
    co_return co_await impl->stop_plugin(name, force);
}

asio::awaitable<Status> ProcessManager::restart(std::string name) {
    auto impl = impl_;
    if (!impl->plugins.count(name)) co_return fail("no plugin named '" + name + "' is registered");
    (void)co_await impl->stop_plugin(name, false);
    for (auto& i : impl->instances[name]) i->restart_times.clear();
    co_return co_await impl->start_plugin(name);
}

asio::awaitable<ProcessManager::StartSummary> ProcessManager::start_enabled() {
    auto impl = impl_;
    // Shared with the completion handlers, which may outlive this coroutine's frame only if the
    // agent is torn down mid-start.
    struct Progress {
        StartSummary summary;
        std::size_t remaining = 0;
        Notifier done;
    };
    auto progress = std::make_shared<Progress>();
    std::vector<std::string> names;
    for (const auto& [name, _] : impl->plugins) {
        if (!impl->config.collector(name).enabled) {
            spdlog::info("collector {}: not started (collectors.{}.enabled is false)", name, name);
            continue;
        }
        names.push_back(name);
    }
    progress->summary.enabled = names.size();
    progress->remaining = names.size();
    for (const auto& name : names) {
        asio::co_spawn(impl->io, start(name),
                       [name, progress](const std::exception_ptr& ep, Status s) {
                           if (ep || !s) {
                               const std::string why = ep ? "internal error" : s.error().message;
                               spdlog::error("collector {}: start failed: {}", name, why);
                               progress->summary.failed.push_back(name + ": " + why);
                           } else {
                               ++progress->summary.started;
                           }
                           --progress->remaining;
                           progress->done.notify();
                       });
    }
    while (progress->remaining > 0) co_await progress->done.wait_until(Clock::now() + seconds(1));
    co_return progress->summary;
}

asio::awaitable<void> ProcessManager::shutdown() {
    auto impl = impl_;
    impl->shutting_down = true;
    impl->supervise_timer.cancel();
    if (impl->heartbeat_sub) impl->bus.unsubscribe(impl->heartbeat_sub);
    // Stop all collectors concurrently: each gets the full graceful period, not a share.
    std::vector<std::shared_ptr<Instance>> all;
    for (auto& [_, v] : impl->instances)
        for (auto& i : v) all.push_back(i);
    std::size_t remaining = all.size();
    auto done = std::make_shared<Notifier>();
    for (auto& inst : all) {
        asio::co_spawn(impl->io, impl->stop_instance(inst, false),
                       [&remaining, done](const std::exception_ptr&, const Status&) {
                           --remaining;
                           done->notify();
                       });
    }
    while (remaining > 0) co_await done->wait_until(Clock::now() + seconds(1));
}

std::vector<ipcv1::CollectorInfo> ProcessManager::list() const {
    std::vector<ipcv1::CollectorInfo> out;
    for (const auto& [name, v] : impl_->instances)
        for (const auto& i : v) out.push_back(impl_->info(*i));
    return out;
}

std::vector<ipcv1::CollectorInfo> ProcessManager::status(const std::string& name) const {
    std::vector<ipcv1::CollectorInfo> out;
    auto it = impl_->instances.find(name);
    if (it != impl_->instances.end())
        for (const auto& i : it->second) out.push_back(impl_->info(*i));
    return out;
}

std::vector<std::string> ProcessManager::plugin_names() const {
    std::vector<std::string> out;
    for (const auto& [n, _] : impl_->plugins) out.push_back(n);
    return out;
}

std::size_t ProcessManager::live_children() const {
    std::size_t n = 0;
    for (const auto& [_, v] : impl_->instances)
        for (const auto& i : v) n += i->child != nullptr;
    return n;
}

const ProcessManagerStats& ProcessManager::stats() const {
    return impl_->stats;
}

asio::awaitable<rpcv1::RpcResponse> ProcessManager::handle_rpc(rpcv1::RpcRequest req) {
    auto impl = impl_;
    const auto t0 = Clock::now();
    rpcv1::RpcResponse resp;
    resp.set_correlation_id(req.correlation_id());
    resp.set_responder("process_manager");
    *resp.mutable_correlation() = req.correlation();
    const std::string prefix = "control.collector.";
    std::string name = req.target().rfind(prefix, 0) == 0 ? req.target().substr(prefix.size()) : "";
    if (req.has_lifecycle() && !req.lifecycle().collector().empty())
        name = req.lifecycle().collector();
    auto error = [&](rpcv1::ErrorCode code, std::string message) {
        resp.set_status(rpcv1::STATUS_ERROR);
        resp.mutable_error()->set_code(code);
        resp.mutable_error()->set_message(std::move(message));
    };
    {
        CorrelationScope scope(req.correlation_id());
        spdlog::info("rpc {} on {} from {}", rpcv1::Operation_Name(req.operation()), req.target(),
                     req.client_id());
    }
    if (!impl->plugins.count(name)) {
        error(rpcv1::ERROR_CODE_NOT_FOUND, "no collector named '" + name + "'");
    } else {
        Status s;
        switch (req.operation()) {
            case rpcv1::OPERATION_START:
                s = co_await start(name);
                break;
            case rpcv1::OPERATION_STOP:
            case rpcv1::OPERATION_GRACEFUL_SHUTDOWN:
                s = co_await stop(name, req.has_lifecycle() && !req.lifecycle().graceful() &&
                                            req.operation() == rpcv1::OPERATION_STOP);
                break;
            case rpcv1::OPERATION_FORCE_SHUTDOWN:
                s = co_await stop(name, true);
                break;
            case rpcv1::OPERATION_RESTART:
                s = co_await restart(name);
                break;
            case rpcv1::OPERATION_HEALTH_CHECK: {
                auto* h = resp.mutable_health();
                auto infos = status(name);
                rpcv1::HealthState worst = rpcv1::HEALTH_STATE_HEALTHY;
                for (const auto& ci : infos) {
                    (*h->mutable_details())[ci.instance()] = ci.state();
                    h->set_events_emitted(h->events_emitted() + ci.events_published());
                    h->set_events_dropped(h->events_dropped() + ci.events_dropped());
                    h->set_errors(h->errors() + ci.errors());
                    if (ci.state() == "Running") continue;
                    worst = (ci.state() == "Degraded" || ci.state() == "Starting")
                                ? std::max(worst, rpcv1::HEALTH_STATE_DEGRADED)
                                : rpcv1::HEALTH_STATE_UNHEALTHY;
                }
                h->set_state(worst);
                h->set_message(rpcv1::HealthState_Name(worst));
                break;
            }
            case rpcv1::OPERATION_GET_CAPABILITIES: {
                const auto& spec = impl->plugins.at(name);
                auto* c = resp.mutable_capabilities();
                c->set_name(spec.name);
                c->set_version(spec.version);
                for (const auto& x : spec.capabilities) c->add_capabilities(x);
                for (const auto& x : spec.permissions) c->add_permissions(x);
                for (const auto& x : spec.publishes) c->add_publishes(x);
                break;
            }
            case rpcv1::OPERATION_UPDATE_CONFIG: {
                // Forwarded to each running instance's bridge.
                std::string errs;
                for (const auto& ci : status(name)) {
                    if (ci.pid() == 0) continue;
                    rpcv1::RpcRequest fwd = req;
                    fwd.set_target("control.collector." + name + "." + ci.instance());
                    auto r = co_await impl->bus.call(
                        fwd, seconds(impl->config.rpc.default_timeout_seconds));
                    if (r.status() != rpcv1::STATUS_OK)
                        errs +=
                            (errs.empty() ? "" : "; ") + ci.instance() + ": " + r.error().message();
                }
                if (!errs.empty()) s = fail(errs);
                break;
            }
            default:
                error(rpcv1::ERROR_CODE_INVALID_OPERATION,
                      "operation " + rpcv1::Operation_Name(req.operation()) +
                          " is not served on control.collector.<name>");
        }
        if (!resp.has_error()) {
            if (!s) {
                error(rpcv1::ERROR_CODE_EXECUTION_ERROR, s.error().message);
            } else {
                resp.set_status(rpcv1::STATUS_OK);
            }
        }
        if (req.operation() == rpcv1::OPERATION_START ||
            req.operation() == rpcv1::OPERATION_FORCE_SHUTDOWN ||
            req.operation() == rpcv1::OPERATION_GRACEFUL_SHUTDOWN ||
            req.operation() == rpcv1::OPERATION_STOP ||
            req.operation() == rpcv1::OPERATION_RESTART) {
            auto infos = status(name);
            std::string states;
            for (const auto& ci : infos)
                states += (states.empty() ? "" : ",") + ci.instance() + "=" + ci.state();
            resp.mutable_lifecycle()->set_state(states);
            resp.mutable_lifecycle()->set_message(resp.has_error() ? resp.error().message() : "ok");
        }
    }
    resp.set_execution_time_us(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
    co_return resp;
}

}  // namespace daemoneye::agent
