// `daemoneye-cli config validate FILE`: the agent's own config loader, run here, so it reports
// exactly what `daemoneye-agent --check-config FILE` reports (file:line:column: key: problem).
#include <CLI/CLI.hpp>

#include <iostream>

#include "agent_client.hpp"
#include "commands.hpp"
#include "daemoneye/agent/config.hpp"

namespace daemoneye::cli {

void register_config(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("config", "Agent configuration tools");
    cmd->require_subcommand(1);
    auto file = std::make_shared<std::string>();
    auto* validate = cmd->add_subcommand(
        "validate", "Check an agent config file (works offline). Exit 0 valid, 2 invalid.");
    validate->add_option("FILE", *file, "YAML config file")->required();
    validate->callback([file, &ctx] {
        auto r = agent::load_config(*file, agent::ConfigEnvironment::current());
        if (ctx.options.json) {
            std::cout << "{\"file\":" << json_string(*file)
                      << ",\"valid\":" << (r ? "true" : "false") << ",\"errors\":[";
            if (!r)
                for (std::size_t i = 0; i < r.error().errors.size(); ++i)
                    std::cout << (i ? "," : "") << json_string(r.error().errors[i].to_string());
            std::cout << "]}\n";
        }
        if (!r) {
            std::cerr << r.error().to_string() << "\n";
            ctx.exit_code = kExitInvalid;
            return;
        }
        if (!ctx.options.json) std::cout << *file << ": OK\n";
        ctx.exit_code = kExitOk;
    });
}

}  // namespace daemoneye::cli
