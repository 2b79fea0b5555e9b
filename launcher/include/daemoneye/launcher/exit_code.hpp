// The launcher's exit codes (documented in docs/launcher.md). A crash is not an exit code: the
// launcher dies with the signal, so the agent sees WIFSIGNALED.
#pragma once

#include <string>

namespace daemoneye::launcher {

enum class ExitCode : int {
    Ok = 0,                 // clean stop (RPC stop, SIGTERM/SIGINT, --describe/--help done)
    Internal = 1,           // a bug or an unexpected failure inside the launcher itself
    Usage = 2,              // bad command line
    AbiMismatch = 3,        // plugin ABI version refused by the compatibility rule
    LoadFailure = 4,        // not loadable, no entry symbol, bad descriptor
    PermissionRefused = 5,  // the plugin declares a permission the agent did not grant
    SandboxFailure = 6,     // a layer failed in a way that leaves the process unsafe to run
    PluginInitFailure = 7,  // create() or start() failed (or threw)
    BusLost = 8,            // handshake refused, or the broker connection went away
    PluginStopFailure = 9,  // stop() failed (or threw) during a requested stop
};

const char* to_string(ExitCode code);

// A failure that ends the process with `code`; `message` is one line a person can act on.
struct Failure {
    ExitCode code = ExitCode::Internal;
    std::string message;
};

}  // namespace daemoneye::launcher
