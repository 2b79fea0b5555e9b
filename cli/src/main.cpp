// daemoneye-cli: drives a running daemoneye-agent over its IPC socket; a few verbs (topics
// match) work offline. Exit codes: src/commands.hpp and docs/cli.md.
#include <CLI/CLI.hpp>

#include <exception>
#include <string>

#include "commands.hpp"

int main(int argc, char** argv) {
    using namespace daemoneye::cli;
    Context ctx;

    CLI::App app{"daemoneye-cli: control and inspect a DaemonEye agent"};
    app.set_help_all_flag("--help-all", "Show help for every command");
    app.require_subcommand(1);
    // Global options may also follow the verb.
    app.fallthrough();
    app.add_option("--endpoint", ctx.options.endpoint, "Agent IPC socket path")->type_name("PATH");
    app.add_option("--config", ctx.options.config, "Agent config file to read the endpoint from")
        ->type_name("FILE");
    app.add_flag("--json", ctx.options.json, "Print one JSON document instead of text");
    app.add_option("--timeout", ctx.options.timeout_seconds,
                   "Seconds to wait for the agent per request")
        ->type_name("SECONDS")
        ->check(CLI::Validator(
            [](std::string& value) -> std::string {
                try {
                    const double seconds = std::stod(value);
                    if (seconds > 0 && seconds <= 86400) return {};
                } catch (const std::exception&) {
                }
                return "must be a number of seconds above 0 and at most 86400, got '" + value + "'";
            },
            "", "seconds"))
        ->capture_default_str();

    register_topics(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --help-all exit 0; every real parse error is a usage error (2).
        const int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitInvalid;
    }
    return ctx.exit_code;
}
