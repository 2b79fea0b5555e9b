#include "daemoneye/launcher/bridge/bridge.hpp"

#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <thread>
#include <variant>

#include "daemoneye/eventbus/topic.hpp"
#include "daemoneye/launcher/bridge/emit_buffer.hpp"
#include "daemoneye/launcher/bridge/host_context.hpp"
#include "daemoneye/launcher/bridge/plugin_instance.hpp"
#include "daemoneye/launcher/bridge/rpc_dispatch.hpp"
#include "daemoneye/launcher/sandbox/violations.hpp"
#include "daemoneye/launcher/topic_filter.hpp"
#include "daemoneye/sdk/topic.hpp"

namespace daemoneye::launcher {
namespace {

constexpr std::uint32_t kProtocolVersion = 1;
constexpr const char* kHeartbeatTopic = "control.health.heartbeat";
constexpr const char* kDiagnosticsTopic = "control.health.diagnostics";
constexpr std::chrono::milliseconds kDefaultHeartbeat{5000};
constexpr std::chrono::milliseconds kMonitorTick{200};

struct StopEvent {
    std::string reason;
};
struct BusClosedEvent {
    std::string reason;
};
using ControlEvent = std::variant<rpc::v1::RpcRequest, StopEvent, BusClosedEvent>;

// What the plugin may emit: its session's publish grants (the agent may have narrowed what the
// plugin declares: collectors.<name>.publishes) that lie within what it declares. Checked here,
// so an emit the broker would refuse fails at once with DE_ERR_DENIED instead of going out to
// be denied, counted and logged by the broker for every message. The control.* grants are the
// bridge's own (heartbeats, diagnostics), never the plugin's.
TopicFilter emit_filter(const std::vector<std::string>& declared, const bus::v1::Welcome& w) {
    std::vector<std::string> allowed;
    for (const auto& g : w.publish_grants()) {
        if (!sdk::topic::declarable(g)) continue;
        for (const auto& d : declared) {
            if (eventbus::pattern_covers(d, g)) {
                allowed.push_back(g);
                break;
            }
        }
    }
    if (allowed != declared) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        spdlog::info("publishing narrowed by the agent to: {}", list.empty() ? "nothing" : list);
    }
    return TopicFilter(std::move(allowed));
}

class ControlQueue {
  public:
    void push(ControlEvent e) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(e));
        }
        cv_.notify_one();
    }
    ControlEvent pop() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        ControlEvent e = std::move(queue_.front());
        queue_.pop_front();
        return e;
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<ControlEvent> queue_;
};

template <class M>
bus::v1::Message make_message(const std::string& topic, const M& payload) {
    bus::v1::Message m;
    m.set_topic(topic);
    m.set_payload_type(M::descriptor()->full_name());
    payload.SerializeToString(m.mutable_payload());
    m.mutable_timestamp()->set_unix_nanos(HostContext::unix_nanos());
    return m;
}

class Session {
  public:
    Session(BusLink& link, const PluginLibrary& plugin, const SandboxReport& sandbox,
            const BridgeConfig& config)
        : link_(link), plugin_(plugin), sandbox_(sandbox), config_(config) {}

    ExitCode run();

  private:
    void monitor_loop();
    void report_violations();
    void report_owner_helper();
    void publish_heartbeat();
    void publish_diagnostic(const std::string& severity, const std::string& message,
                            const std::string& phase);
    ExitCode fail_init(const std::string& message);
    ExitCode shutdown(ExitCode code, const std::string& reason);

    const std::string& name() const { return plugin_.manifest().name; }

    BusLink& link_;
    const PluginLibrary& plugin_;
    const SandboxReport& sandbox_;
    const BridgeConfig& config_;
    ControlQueue queue_;
    std::unique_ptr<EmitBuffer> events_;
    std::unique_ptr<HostContext> host_;
    std::unique_ptr<PluginInstance> instance_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::chrono::milliseconds heartbeat_interval_ = kDefaultHeartbeat;
    std::atomic<const char*> state_{"starting"};
    std::map<int, std::uint64_t> reported_violations_;  // monitor thread (and shutdown after join)
    std::map<std::string, std::uint64_t> reported_fs_denials_;  // ditto, by FsDenialCount::what()
    std::mutex monitor_mutex_;
    std::condition_variable monitor_cv_;
    bool monitor_stop_ = false;
    std::thread monitor_;
};

ExitCode Session::run() {
    bus::v1::Hello hello;
    hello.set_protocol_version(kProtocolVersion);
    hello.set_role(bus::v1::ROLE_COLLECTOR);
    hello.set_instance_id(config_.instance_id);
    hello.set_client_name("daemoneye-launcher");
    *hello.mutable_manifest() = to_proto(plugin_.manifest());
    for (const auto& l : sandbox_) {
        auto* layer = hello.add_sandbox();
        layer->set_name(l.name);
        layer->set_applied(l.applied);
        layer->set_detail(l.detail);
    }
    hello.set_pid(static_cast<std::int32_t>(getpid()));

    auto welcome = link_.handshake(hello, config_.handshake_timeout);
    if (!welcome) {
        spdlog::error("bus handshake failed: {}", welcome.error().message);
        return ExitCode::BusLost;
    }
    if (welcome->heartbeat_interval_ms() > 0) {
        heartbeat_interval_ = std::chrono::milliseconds(welcome->heartbeat_interval_ms());
    }
    std::size_t max_frame =
        welcome->max_frame_bytes() >= 64 * 1024 ? welcome->max_frame_bytes() : 1024 * 1024;
    spdlog::info("bus session {} established; reply topic '{}'", welcome->session_id(),
                 welcome->reply_topic());

    std::map<std::string, std::string> values(welcome->config().begin(), welcome->config().end());
    for (const auto& [k, v] : config_.config_overrides) values[k] = v;
    auto config = std::make_shared<const ConfigStore>(std::move(values));

    events_ = std::make_unique<EmitBuffer>(config_.emit_buffer_messages, config_.emit_buffer_bytes);
    host_ = std::make_unique<HostContext>(
        config_.instance_id, name(), emit_filter(plugin_.manifest().publishes, *welcome), *events_,
        max_frame - (std::size_t{8} << 10), config_.socket_owners, config_.process_info);
    host_->set_config(config);

    link_.start(BusCallbacks{
                    [this](rpc::v1::RpcRequest req) { queue_.push(std::move(req)); },
                    [this](std::string reason) { queue_.push(BusClosedEvent{std::move(reason)}); },
                },
                *events_);
    const std::string rpc_topic = "control.collector." + name() + "." + config_.instance_id;
    link_.serve_rpc(rpc_topic);
    monitor_ = std::thread([this] { monitor_loop(); });

    instance_ = std::make_unique<PluginInstance>(plugin_.library(), plugin_.descriptor(), *host_);
    if (auto st = instance_->create(*config); !st) return fail_init(st.error().message);
    if (auto st = instance_->start(); !st) return fail_init(st.error().message);
    state_ = "running";
    spdlog::info("plugin {} {} running as {}; serving RPCs on {}", name(),
                 plugin_.manifest().version, config_.instance_id, rpc_topic);

    RpcContext rpc_ctx{
        *instance_,
        *host_,
        plugin_.manifest(),
        sandbox_,
        max_frame / 2,
        [this] {
            return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now() - started_)
                                                  .count());
        },
        [this] { return events_->size(); },
        config_.socket_owners != nullptr ? config_.socket_owners : config_.process_info,
        [this] { return link_.stats(); }};
    for (;;) {
        auto event = queue_.pop();
        if (auto* req = std::get_if<rpc::v1::RpcRequest>(&event)) {
            auto outcome = handle_rpc(*req, rpc_ctx);
            link_.respond(std::move(outcome.response));
            if (outcome.stop_requested) return shutdown(ExitCode::Ok, "stop requested over RPC");
        } else if (auto* stop = std::get_if<StopEvent>(&event)) {
            return shutdown(ExitCode::Ok, stop->reason);
        } else if (auto* closed = std::get_if<BusClosedEvent>(&event)) {
            spdlog::error("bus lost: {}", closed->reason);
            return shutdown(ExitCode::BusLost, closed->reason);
        }
    }
}

ExitCode Session::fail_init(const std::string& message) {
    spdlog::error("plugin {} failed to start: {}", name(), message);
    state_ = "failed";
    publish_diagnostic("error", "plugin " + name() + " failed to start: " + message, "init");
    instance_->destroy();
    shutdown(ExitCode::PluginInitFailure, "plugin init failure");
    return ExitCode::PluginInitFailure;
}

ExitCode Session::shutdown(ExitCode code, const std::string& reason) {
    spdlog::info("stopping {} ({})", config_.instance_id, reason);
    state_ = "stopping";
    ExitCode result = code;
    if (instance_ && instance_->running()) {
        if (auto st = instance_->stop(); !st) {
            spdlog::error("plugin {}: {}", name(), st.error().message);
            publish_diagnostic("error", "plugin " + name() + ": " + st.error().message, "stop");
            if (result == ExitCode::Ok) result = ExitCode::PluginStopFailure;
        }
    }
    if (instance_) instance_->destroy();
    events_->close();
    {
        std::lock_guard lock(monitor_mutex_);
        monitor_stop_ = true;
    }
    monitor_cv_.notify_all();
    if (monitor_.joinable()) monitor_.join();
    report_violations();
    state_ = code == ExitCode::Ok ? "stopped" : "failed";
    if (code != ExitCode::BusLost) {
        publish_heartbeat();
        link_.close(reason, config_.shutdown_flush_timeout);
    } else {
        link_.close(reason, std::chrono::milliseconds(0));
    }
    return result;
}

void Session::monitor_loop() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    auto next_heartbeat = std::chrono::steady_clock::now();
    std::uint64_t skipped_ticks = 0;
    for (;;) {
        {
            std::lock_guard lock(monitor_mutex_);
            if (monitor_stop_) return;
        }
        timespec tick{0,
                      std::chrono::duration_cast<std::chrono::nanoseconds>(kMonitorTick).count()};
        siginfo_t info{};
        int sig = sigtimedwait(&signals, &info, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            queue_.push(
                StopEvent{std::string("signal ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT")});
        }
        // The plugin shares this process's address-space limit (sandbox.memory_limit_mb): while
        // it holds all of it, building a heartbeat or a report cannot allocate. That tick is
        // skipped, not fatal (an uncaught bad_alloc here would end the launcher); a plugin that
        // keeps the memory stops heartbeating, and the agent acts on that.
        try {
            report_violations();
            report_owner_helper();
            if (std::chrono::steady_clock::now() >= next_heartbeat) {
                publish_heartbeat();
                next_heartbeat = std::chrono::steady_clock::now() + heartbeat_interval_;
            }
        } catch (const std::bad_alloc&) {
            ++skipped_ticks;
            if (skipped_ticks == 1 || (skipped_ticks & (skipped_ticks - 1)) == 0) {
                spdlog::warn(
                    "out of memory in the monitor thread ({} tick(s) skipped so far): "
                    "the plugin holds the address-space limit",
                    skipped_ticks);
            }
        }
    }
}

void Session::report_violations() {
    for (const auto& v : sandbox::violation_counts()) {
        auto& seen = reported_violations_[v.syscall_nr];
        if (v.count == seen) continue;
        spdlog::warn("sandbox denied {} for plugin {} ({} time(s) so far)", v.syscall, name(),
                     v.count);
        seen = v.count;
        bus::v1::SandboxViolation violation;
        violation.set_plugin(name());
        violation.set_instance_id(config_.instance_id);
        violation.set_syscall(v.syscall);
        violation.set_count(v.count);
        violation.set_action(config_.on_violation == ViolationAction::Kill ? "killed" : "denied");
        link_.publish(make_message(kDiagnosticsTopic, violation));
    }
    // Filesystem denials (Landlock EACCES, fsview ENOENT) seen by the interposed open wrappers:
    // a SandboxViolation whose syscall names the call and the path, "open(/etc/shadow)", and a
    // Diagnostic with the same as fields (call, path, errno, layer, count).
    for (const auto& f : sandbox::fs_denial_counts()) {
        const std::string what = f.what();
        auto& seen = reported_fs_denials_[what + "#" + std::to_string(f.err)];
        if (f.count == seen) continue;
        seen = f.count;
        spdlog::warn("sandbox ({}) denied {} for plugin {}: {} ({} time(s) so far)",
                     sandbox::fs_layer_name(), what, name(), std::strerror(f.err), f.count);
        bus::v1::SandboxViolation violation;
        violation.set_plugin(name());
        violation.set_instance_id(config_.instance_id);
        violation.set_syscall(what);
        violation.set_count(f.count);
        violation.set_action("denied");
        link_.publish(make_message(kDiagnosticsTopic, violation));
        bus::v1::Diagnostic d;
        d.set_severity("warning");
        d.set_source("launcher/" + config_.instance_id);
        d.set_message("sandbox denied " + what + " for plugin " + name() + ": " +
                      std::strerror(f.err) + " (" + std::to_string(f.count) + " time(s) so far)");
        auto& fields = *d.mutable_fields();
        fields["plugin"] = name();
        fields["instance"] = config_.instance_id;
        fields["kind"] = "filesystem";
        fields["syscall"] = f.call;
        fields["path"] = f.path;
        fields["errno"] = std::to_string(f.err);
        fields["layer"] = sandbox::fs_layer_name();
        fields["count"] = std::to_string(f.count);
        fields["action"] = "denied";
        link_.publish(make_message(kDiagnosticsTopic, d));
    }
}

// net.read/proc.read: reap the privilege-separation helper as soon as it dies (no zombie until the
// launcher exits) and say so once, in the log and on the diagnostics topic; the health check keeps
// reporting it (launcher.owner_helper).
void Session::report_owner_helper() {
    auto* helper = config_.socket_owners != nullptr ? config_.socket_owners : config_.process_info;
    if (helper == nullptr) return;
    auto notice = helper->take_exit_notice();
    if (!notice) return;
    spdlog::error(
        "plugin {}: {}; {} unavailable until the collector restarts", name(), *notice,
        config_.socket_owners != nullptr ? "socket owners are" : "other users' process links are");
    publish_diagnostic("error", "plugin " + name() + ": " + *notice, "owner_helper");
}

void Session::publish_heartbeat() {
    bus::v1::CollectorHeartbeat hb;
    hb.set_instance_id(config_.instance_id);
    hb.set_plugin(name());
    hb.set_events_emitted(host_->emitted());
    hb.set_events_dropped(host_->dropped());
    hb.set_errors(host_->errors());
    hb.set_uptime_ms(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - started_)
                                       .count()));
    hb.set_state(state_.load());
    link_.publish(make_message(kHeartbeatTopic, hb));
}

void Session::publish_diagnostic(const std::string& severity, const std::string& message,
                                 const std::string& phase) {
    bus::v1::Diagnostic d;
    d.set_severity(severity);
    d.set_source("launcher/" + config_.instance_id);
    d.set_message(message);
    (*d.mutable_fields())["plugin"] = name();
    (*d.mutable_fields())["instance"] = config_.instance_id;
    (*d.mutable_fields())["phase"] = phase;
    link_.publish(make_message(kDiagnosticsTopic, d));
}

}  // namespace

ExitCode run_bridge(BusLink& link, const PluginLibrary& plugin, const SandboxReport& sandbox,
                    const BridgeConfig& config) {
    Session session(link, plugin, sandbox, config);
    return session.run();
}

}  // namespace daemoneye::launcher
