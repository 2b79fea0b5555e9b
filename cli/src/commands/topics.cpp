// `daemoneye-cli topics ...`. `topics match` runs offline, with the same grammar and matcher the
// broker uses, so an operator can check a subscription pattern before deploying it.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "daemoneye/eventbus/topic.hpp"
#include "output.hpp"

namespace daemoneye::cli {
namespace {

struct MatchArgs {
    std::string pattern;
    std::string topic;
};

int run_match(const MatchArgs& args, const GlobalOptions& options) {
    auto result = eventbus::topic_match(args.pattern, args.topic);
    if (!result) {
        const auto& error = result.error();
        std::cerr << "daemoneye-cli: " << error.message << "\n";
        if (options.json) {
            std::cout << "{\"match\":false,\"valid\":false,\"reason\":"
                      << json_string(error.message) << ",\"level\":" << error.level << "}\n";
        }
        return kExitInvalid;
    }
    const bool match = *result;
    const std::string why = match ? "" : eventbus::mismatch_reason(args.pattern, args.topic);
    if (options.json) {
        std::cout << "{\"match\":" << (match ? "true" : "false")
                  << ",\"valid\":true,\"reason\":" << (match ? "null" : json_string(why)) << "}\n";
    } else if (match) {
        std::cout << "match\n";
    } else {
        std::cout << "no match: " << why << "\n";
    }
    return match ? kExitOk : kExitNo;
}

}  // namespace

void register_topics(CLI::App& app, Context& ctx) {
    CLI::App* topics = app.add_subcommand("topics", "Topic and pattern tools");
    topics->require_subcommand(1);

    auto args = std::make_shared<MatchArgs>();
    CLI::App* match = topics->add_subcommand(
        "match",
        "Does PATTERN match TOPIC? Works offline. Exit 0 match, 1 no match, 2 invalid input.\n"
        "Quote patterns in the shell ('events.#'); put -- before a topic that starts with '-'.");
    match->add_option("PATTERN", args->pattern, "Subscription pattern, e.g. 'events.+.lifecycle'")
        ->required();
    match->add_option("TOPIC", args->topic, "Publish topic, e.g. events.process.lifecycle")
        ->required();
    match->callback([args, &ctx] { ctx.exit_code = run_match(*args, ctx.options); });
}

}  // namespace daemoneye::cli
