// `daemoneye-cli health-check [--verbose]`: the agent's health report. Exit 0 healthy,
// 1 degraded (or any component unhealthy), 2 the agent could not be reached.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "agent_client.hpp"
#include "commands.hpp"

namespace daemoneye::cli {

namespace ipcv1 = daemoneye::ipc::v1;

namespace {

int run_health(bool verbose, const GlobalOptions& options) {
    auto endpoint = resolve_endpoint(options);
    if (!endpoint) return report_failure("health-check", endpoint.error().message, 2);
    const auto timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout_seconds * 1000));
    auto client = AgentClient::connect(*endpoint, timeout);
    if (!client) {
        if (options.json)
            std::cout << "{\"overall\":\"unreachable\",\"error\":"
                      << json_string(client.error().message) << "}\n";
        return report_failure("health-check", client.error().message, 2);
    }
    ipcv1::Request req;
    req.mutable_health_check()->set_verbose(verbose);
    std::string summary;
    auto resp = client->call(req, timeout, [&](const ipcv1::Response& r) {
        if (!r.final() && !r.message().empty()) summary = r.message();
    });
    if (!resp) {
        if (options.json)
            std::cout << "{\"overall\":\"unreachable\",\"error\":"
                      << json_string(resp.error().message) << "}\n";
        return report_failure("health-check", resp.error().message, 2);
    }
    if (resp->code() != ipcv1::RESULT_CODE_OK)
        return report_failure("health-check", resp->error(), 2);
    const auto& h = resp->health();
    if (options.json) {
        std::cout << to_json(h) << "\n";
    } else {
        std::cout << "overall: " << h.overall() << "\n";
        for (const auto& c : h.components()) {
            char line[64];
            std::snprintf(line, sizeof line, "  %-24s %-9s ", c.component().c_str(),
                          c.state().c_str());
            std::cout << line << c.message() << "\n";
        }
        if (verbose && !summary.empty()) std::cout << "\nagent:\n" << summary;
        if (verbose) std::cout << "endpoint: " << *endpoint << "\n";
    }
    return h.overall() == "healthy" ? 0 : 1;
}

}  // namespace

void register_health(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand(
        "health-check",
        "Health of the agent, broker, RPC service, IPC, plugins and each collector.\n"
        "Exit 0 healthy, 1 degraded or unhealthy, 2 agent unreachable.");
    auto verbose = std::make_shared<bool>(false);
    cmd->add_flag("-v,--verbose", *verbose, "Also show what runs, paths and what is missing");
    cmd->callback([verbose, &ctx] { ctx.exit_code = run_health(*verbose, ctx.options); });
}

}  // namespace daemoneye::cli
