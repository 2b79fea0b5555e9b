// What every daemoneye-cli verb shares: the global options, the exit codes (docs/cli.md), and
// one register_* function per verb family, each in its own src/commands/<verb>.cpp.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace daemoneye::cli {

// Documented in docs/cli.md; scripts depend on them, so only ever add.
enum ExitCode : int {
    kExitOk = 0,           // success; `topics match`: it matches
    kExitNo = 1,           // a well-formed question answered "no"; `topics match`: no match
    kExitInvalid = 2,      // usage error or invalid input (bad option, topic, pattern, file)
    kExitUnavailable = 3,  // the agent could not be reached or did not answer within --timeout
    kExitFailed = 4,       // the agent answered with an error
};

// Options accepted by every verb, before or after it (`daemoneye-cli --json topics match ...`
// and `daemoneye-cli topics match --json ...` are the same).
struct GlobalOptions {
    std::string endpoint;  // --endpoint PATH: the agent's IPC socket
    std::string config;    // --config FILE: read ipc.endpoint_path etc. from the agent config
    bool json = false;     // --json: one JSON document on stdout instead of text
    double timeout_seconds = 10;  // --timeout SECONDS: for one whole request to the agent
};

// Shared by main() and the verbs: options parsed before the verb callback runs, and the exit
// code the callback leaves for main() to return.
struct Context {
    GlobalOptions options;
    int exit_code = kExitOk;
};

// Adds `topics match PATTERN TOPIC` (offline: validates and matches without an agent).
void register_topics(CLI::App& app, Context& ctx);

}  // namespace daemoneye::cli
