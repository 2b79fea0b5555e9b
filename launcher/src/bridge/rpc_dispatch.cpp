#include "daemoneye/launcher/bridge/rpc_dispatch.hpp"

#include <chrono>
#include <optional>

#include "daemoneye/launcher/sandbox/violations.hpp"

namespace daemoneye::launcher {
namespace {

void set_error(rpc::v1::RpcResponse& r, rpc::v1::ErrorCode code, const std::string& message) {
    r.set_status(rpc::v1::STATUS_ERROR);
    r.mutable_error()->set_code(code);
    r.mutable_error()->set_message(message);
}

rpc::v1::HealthState to_proto(de_health_state s) {
    switch (s) {
        case DE_HEALTH_HEALTHY:
            return rpc::v1::HEALTH_STATE_HEALTHY;
        case DE_HEALTH_DEGRADED:
            return rpc::v1::HEALTH_STATE_DEGRADED;
        case DE_HEALTH_UNHEALTHY:
            return rpc::v1::HEALTH_STATE_UNHEALTHY;
    }
    return rpc::v1::HEALTH_STATE_UNSPECIFIED;
}

void health(rpc::v1::RpcResponse& r, RpcContext& ctx) {
    auto* h = r.mutable_health();
    h->set_events_emitted(ctx.host.emitted());
    h->set_events_dropped(ctx.host.dropped());
    auto& d = *h->mutable_details();
    d["launcher.instance"] = ctx.host.instance_id();
    d["launcher.plugin"] = ctx.manifest.name + " " + ctx.manifest.version;
    d["launcher.uptime_ms"] = std::to_string(ctx.uptime_ms());
    d["launcher.emit_buffer_used"] = std::to_string(ctx.buffer_used());
    d["launcher.emit_errors"] = std::to_string(ctx.host.errors());
    std::string applied, missing;
    for (const auto& l : ctx.sandbox) {
        auto& list = l.applied ? applied : missing;
        list += (list.empty() ? "" : ",") + l.name;
    }
    d["launcher.sandbox_applied"] = applied;
    d["launcher.sandbox_missing"] = missing;
    std::string violations;
    for (const auto& v : sandbox::violation_counts()) {
        violations += (violations.empty() ? "" : ",") + v.syscall + ":" + std::to_string(v.count);
    }
    for (const auto& f : sandbox::fs_denial_counts()) {
        violations += (violations.empty() ? "" : ",") + f.what() + ":" + std::to_string(f.count);
    }
    d["launcher.violations"] = violations;
    if (ctx.bus_stats) {
        if (auto bus = ctx.bus_stats()) {
            d["launcher.bus.published"] = std::to_string(bus->published);
            d["launcher.bus.rpc_served"] = std::to_string(bus->rpc_served);
            d["launcher.bus.rpc_malformed"] = std::to_string(bus->rpc_malformed);
            d["launcher.bus.broker_errors"] = std::to_string(bus->broker_errors);
            d["launcher.bus.outbound_bytes"] = std::to_string(bus->outbound_bytes);
        } else {
            d["launcher.bus"] = "counters unavailable: the bus thread did not answer";
        }
    }

    auto ph = ctx.plugin.health();
    // After the plugin's own health call, which may have just asked the helper.
    std::optional<privsep::HelperState> helper;
    if (ctx.owner_helper != nullptr) {
        helper = ctx.owner_helper->state();
        d["launcher.owner_helper"] = helper->text;
        d["launcher.owner_helper.lookups"] = std::to_string(helper->lookups);
        d["launcher.owner_helper.process_calls"] = std::to_string(helper->process_calls);
        // The helper walks /proc for the plugin; what it could not read is a partial view the
        // plugin cannot see (de_host_api::socket_owners carries no counters).
        d["launcher.owner_helper.unreadable_pids"] =
            std::to_string(helper->last_walk.pids_unreadable);
        d["launcher.owner_helper.fds_examined"] = std::to_string(helper->last_walk.fds_examined);
    }
    if (!ph) {
        h->set_state(rpc::v1::HEALTH_STATE_UNHEALTHY);
        h->set_message(ph.error().message);
        h->set_errors(ctx.host.errors());
        return;
    }
    h->set_state(to_proto(ph->state));
    h->set_errors(ctx.host.errors() + ph->errors);
    for (auto& [k, v] : ph->details) d[k] = v;
    h->set_message(ctx.plugin.running() ? "running" : "stopped");
    if (helper && !helper->running) {
        // The plugin may not notice (it only sees failed lookups): say it plainly here.
        if (h->state() == rpc::v1::HEALTH_STATE_HEALTHY) {
            h->set_state(rpc::v1::HEALTH_STATE_DEGRADED);
        }
        h->set_message(h->message() + "; socket-owner helper " + helper->text);
    }
}

}  // namespace

RpcOutcome handle_rpc(const rpc::v1::RpcRequest& request, RpcContext& ctx) {
    auto started = std::chrono::steady_clock::now();
    RpcOutcome out;
    auto& r = out.response;
    r.set_correlation_id(request.correlation_id());
    *r.mutable_correlation() = request.correlation();
    r.set_responder(ctx.host.instance_id());
    r.set_status(rpc::v1::STATUS_OK);

    using rpc::v1::Operation;
    switch (request.operation()) {
        case rpc::v1::OPERATION_STOP:
        case rpc::v1::OPERATION_GRACEFUL_SHUTDOWN:
        case rpc::v1::OPERATION_FORCE_SHUTDOWN:
            r.mutable_lifecycle()->set_state("stopping");
            r.mutable_lifecycle()->set_message("instance " + ctx.host.instance_id() + " stopping");
            out.stop_requested = true;
            break;
        case rpc::v1::OPERATION_START:
            if (ctx.plugin.running()) {
                r.mutable_lifecycle()->set_state("running");
                r.mutable_lifecycle()->set_message("already running");
            } else {
                set_error(r, rpc::v1::ERROR_CODE_INVALID_OPERATION, "instance is stopping");
            }
            break;
        case rpc::v1::OPERATION_RESTART:
            set_error(r, rpc::v1::ERROR_CODE_INVALID_OPERATION,
                      "restart is served by the agent on control.collector." + ctx.manifest.name);
            break;
        case rpc::v1::OPERATION_HEALTH_CHECK:
            health(r, ctx);
            break;
        case rpc::v1::OPERATION_UPDATE_CONFIG: {
            if (!request.has_config_update()) {
                set_error(r, rpc::v1::ERROR_CODE_INVALID_OPERATION,
                          "UpdateConfig without config_update payload");
                break;
            }
            std::map<std::string, std::string> values(request.config_update().config().begin(),
                                                      request.config_update().config().end());
            auto next = std::make_shared<const ConfigStore>(std::move(values));
            if (auto st = ctx.plugin.configure(*next); !st) {
                set_error(r, rpc::v1::ERROR_CODE_EXECUTION_ERROR, st.error().message);
                break;
            }
            ctx.host.set_config(std::move(next));
            r.mutable_lifecycle()->set_state("running");
            r.mutable_lifecycle()->set_message("config applied");
            break;
        }
        case rpc::v1::OPERATION_EXECUTE_TASK: {
            if (!request.has_task()) {
                set_error(r, rpc::v1::ERROR_CODE_INVALID_OPERATION,
                          "ExecuteTask without task payload");
                break;
            }
            if (!ctx.plugin.supports_tasks()) {
                set_error(r, rpc::v1::ERROR_CODE_INVALID_OPERATION,
                          ctx.manifest.name + " serves no tasks");
                break;
            }
            auto result = ctx.plugin.task(request.task(), ctx.max_result_bytes);
            if (!result) {
                set_error(r, rpc::v1::ERROR_CODE_EXECUTION_ERROR, result.error().message);
                break;
            }
            if (result->partial()) r.set_status(rpc::v1::STATUS_PARTIAL);
            *r.mutable_task_result() = std::move(*result);
            break;
        }
        case rpc::v1::OPERATION_GET_CAPABILITIES: {
            auto* c = r.mutable_capabilities();
            c->set_name(ctx.manifest.name);
            c->set_version(ctx.manifest.version);
            for (const auto& s : ctx.manifest.capabilities) c->add_capabilities(s);
            for (const auto& s : ctx.manifest.permissions) c->add_permissions(s);
            for (const auto& s : ctx.manifest.publishes) c->add_publishes(s);
            break;
        }
        default:
            set_error(r, rpc::v1::ERROR_CODE_INVALID_OPERATION,
                      "unknown operation " + std::to_string(static_cast<int>(request.operation())));
    }
    r.set_execution_time_us(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - started)
                                       .count()));
    return out;
}

}  // namespace daemoneye::launcher
