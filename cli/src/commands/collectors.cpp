// `daemoneye-cli collectors list|status NAME|start NAME|stop NAME [--force]|restart NAME`.
// Lifecycle requests become an RPC on control.collector.<name> inside the agent.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "agent_client.hpp"
#include "commands.hpp"

namespace daemoneye::cli {

namespace ipcv1 = daemoneye::ipc::v1;

namespace {

std::string duration_text(std::uint64_t ms) {
    if (ms == 0) return "-";
    std::uint64_t s = ms / 1000;
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                      static_cast<unsigned long long>(s % 60));
    else
        std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                      static_cast<unsigned long long>((s % 3600) / 60));
    return buf;
}

void print_row_header() {
    std::printf("%-20s %-10s %-8s %-9s %-8s %s\n", "INSTANCE", "STATE", "PID", "UPTIME", "RESTARTS",
                "LAST EXIT");
}

void print_row(const ipcv1::CollectorInfo& c) {
    std::printf("%-20s %-10s %-8s %-9s %-8u %s\n", c.instance().c_str(), c.state().c_str(),
                c.pid() ? std::to_string(c.pid()).c_str() : "-",
                duration_text(c.uptime_ms()).c_str(), c.restarts(),
                c.last_exit().empty() ? "-" : c.last_exit().c_str());
}

void print_detail(const ipcv1::CollectorInfo& c) {
    std::printf("%s (%s)\n", c.instance().c_str(), c.name().c_str());
    std::printf("  state:            %s\n", c.state().c_str());
    std::printf("  pid:              %s\n", c.pid() ? std::to_string(c.pid()).c_str() : "-");
    std::printf("  uptime:           %s\n", duration_text(c.uptime_ms()).c_str());
    std::printf("  restarts:         %u\n", c.restarts());
    std::printf("  last exit:        %s\n", c.last_exit().empty() ? "-" : c.last_exit().c_str());
    std::printf("  plugin:           %s\n", c.plugin_path().c_str());
    std::string grants;
    for (const auto& g : c.publish_grants()) grants += (grants.empty() ? "" : ", ") + g;
    std::printf("  may publish:      %s\n", grants.empty() ? "-" : grants.c_str());
    std::printf("  heartbeat age:    %s\n",
                c.pid() ? (std::to_string(c.heartbeat_age_ms()) + " ms").c_str() : "-");
    std::printf("  events published: %llu\n",
                static_cast<unsigned long long>(c.events_published()));
    std::printf("  events dropped:   %llu\n", static_cast<unsigned long long>(c.events_dropped()));
    std::printf("  errors:           %llu\n", static_cast<unsigned long long>(c.errors()));
    if (c.sandbox_size() == 0) {
        std::printf("  sandbox:          %s\n", c.pid() ? "(layers not reported)" : "-");
    } else {
        std::printf("  sandbox:\n");
        for (const auto& l : c.sandbox())
            std::printf("    %-13s %-8s %s\n", l.name().c_str(), l.applied() ? "applied" : "NOT",
                        l.detail().c_str());
    }
    for (const auto& [k, v] : c.details())
        std::printf("  %-17s %s\n", (k + ":").c_str(), v.c_str());
}

int run_list(const GlobalOptions& options, const std::string& name) {
    ipcv1::Request req;
    if (name.empty())
        req.mutable_collectors_list();
    else
        req.mutable_collector_status()->set_name(name);
    bool header = false;
    std::string json = "[";
    int rc = run_request(options, req, [&](const ipcv1::Response& r) {
        if (!r.has_collector()) return;
        if (options.json) {
            json += (json.size() > 1 ? "," : "") + to_json(r.collector());
        } else if (name.empty()) {
            if (!header) print_row_header();
            header = true;
            print_row(r.collector());
        } else {
            print_detail(r.collector());
        }
    });
    if (options.json && rc == kExitOk)
        std::cout << json << "]\n";
    else if (rc == kExitOk && name.empty() && !header && !options.json)
        std::cout << "no collectors (no plugin registered)\n";
    return rc;
}

int run_control(const GlobalOptions& options, const CLI::App& root, const std::string& name,
                ipcv1::CollectorControl::Action action, bool force) {
    ipcv1::Request req;
    auto* c = req.mutable_collector_control();
    c->set_name(name);
    c->set_action(action);
    c->set_force(force);
    // A graceful stop may take process_manager.graceful_shutdown_timeout_seconds + SIGTERM grace;
    // unless --timeout was given, wait long enough for the agent's own deadlines to decide.
    auto timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout_seconds * 1000));
    if (root.get_option("--timeout")->count() == 0) timeout = std::chrono::minutes(5);
    std::string json = "[";
    bool any = false;
    int rc = run_request(
        options, req,
        [&](const ipcv1::Response& r) {
            if (!r.has_collector()) return;
            if (options.json) {
                json += (json.size() > 1 ? "," : "") + to_json(r.collector());
            } else {
                if (!any) print_row_header();
                print_row(r.collector());
            }
            any = true;
        },
        timeout);
    if (options.json) std::cout << json << "]\n";
    return rc;
}

}  // namespace

void register_collectors(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("collectors", "List, inspect and control collectors");
    cmd->require_subcommand(1);
    cmd->add_subcommand("list", "Every collector instance: state, pid, uptime, restarts, last exit")
        ->callback([&ctx] { ctx.exit_code = run_list(ctx.options, ""); });

    auto name = std::make_shared<std::string>();
    auto* status =
        cmd->add_subcommand("status", "One collector in detail, incl. events and sandbox layers");
    status->add_option("NAME", *name, "Collector (plugin) name")->required();
    status->callback([name, &ctx] { ctx.exit_code = run_list(ctx.options, *name); });

    auto force = std::make_shared<bool>(false);
    auto* start = cmd->add_subcommand("start", "Start every instance; waits until each said Hello");
    start->add_option("NAME", *name, "Collector (plugin) name")->required();
    start->callback([name, &ctx, &app] {
        ctx.exit_code =
            run_control(ctx.options, app, *name, ipcv1::CollectorControl::ACTION_START, false);
    });
    auto* stop = cmd->add_subcommand(
        "stop", "Stop: RPC stop, then SIGTERM, then SIGKILL after the timeouts");
    stop->add_option("NAME", *name, "Collector (plugin) name")->required();
    stop->add_flag("--force", *force, "SIGKILL at once instead of a graceful stop");
    stop->callback([name, force, &ctx, &app] {
        ctx.exit_code =
            run_control(ctx.options, app, *name, ipcv1::CollectorControl::ACTION_STOP, *force);
    });
    auto* restart =
        cmd->add_subcommand("restart", "Graceful stop, then start (resets the restart counter)");
    restart->add_option("NAME", *name, "Collector (plugin) name")->required();
    restart->callback([name, &ctx, &app] {
        ctx.exit_code =
            run_control(ctx.options, app, *name, ipcv1::CollectorControl::ACTION_RESTART, false);
    });
}

}  // namespace daemoneye::cli
