// `daemoneye-cli metrics [--prometheus]`: the agent's counters, gauges and latency histograms.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <map>

#include "agent_client.hpp"
#include "commands.hpp"

namespace daemoneye::cli {

namespace ipcv1 = daemoneye::ipc::v1;

void register_metrics(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("metrics", "Agent, IPC, collector and bus metrics");
    auto prom = std::make_shared<bool>(false);
    cmd->add_flag("--prometheus", *prom, "Prometheus text exposition format");
    cmd->callback([prom, &ctx] {
        ipcv1::Request req;
        req.mutable_metrics()->set_prometheus(*prom);
        ctx.exit_code = run_request(ctx.options, req, [&](const ipcv1::Response& r) {
            if (!r.has_metrics()) return;
            if (*prom) {
                std::cout << r.metrics().prometheus_text();
            } else if (ctx.options.json) {
                std::cout << to_json(r.metrics()) << "\n";
            } else {
                std::map<std::string, double> sorted(r.metrics().values().begin(),
                                                     r.metrics().values().end());
                for (const auto& [k, v] : sorted) std::printf("%-64s %.10g\n", k.c_str(), v);
            }
        });
    });
}

}  // namespace daemoneye::cli
