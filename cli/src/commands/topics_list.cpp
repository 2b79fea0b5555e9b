// `daemoneye-cli topics list`: every subscription on the agent's broker with its counters.
// Adds to the `topics` command that topics.cpp creates.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "agent_client.hpp"
#include "commands.hpp"

namespace daemoneye::cli {

namespace ipcv1 = daemoneye::ipc::v1;

void register_topics_list(CLI::App& app, Context& ctx) {
    CLI::App* topics = app.get_subcommand("topics");
    auto* list = topics->add_subcommand(
        "list", "Subscriptions on the agent's broker: session, pattern, delivered, dropped");
    list->callback([&ctx] {
        ipcv1::Request req;
        req.mutable_topics_list();
        ctx.exit_code = run_request(ctx.options, req, [&](const ipcv1::Response& r) {
            if (!r.has_topics()) return;
            if (ctx.options.json) {
                std::cout << to_json(r.topics()) << "\n";
                return;
            }
            std::printf("%-8s %-28s %-36s %12s %10s\n", "SESSION", "NAME", "PATTERN", "DELIVERED",
                        "DROPPED");
            for (const auto& s : r.topics().subscriptions())
                std::printf("%-8llu %-28s %-36s %12llu %10llu\n",
                            static_cast<unsigned long long>(s.session_id()),
                            s.session_name().c_str(), s.pattern().c_str(),
                            static_cast<unsigned long long>(s.delivered()),
                            static_cast<unsigned long long>(s.dropped()));
        });
    });
}

}  // namespace daemoneye::cli
