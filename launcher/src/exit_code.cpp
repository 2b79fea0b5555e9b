#include "daemoneye/launcher/exit_code.hpp"

namespace daemoneye::launcher {

const char* to_string(ExitCode code) {
    switch (code) {
        case ExitCode::Ok:
            return "ok";
        case ExitCode::Internal:
            return "internal error";
        case ExitCode::Usage:
            return "usage error";
        case ExitCode::AbiMismatch:
            return "ABI mismatch";
        case ExitCode::LoadFailure:
            return "load failure";
        case ExitCode::PermissionRefused:
            return "permission refused";
        case ExitCode::SandboxFailure:
            return "sandbox failure";
        case ExitCode::PluginInitFailure:
            return "plugin init failure";
        case ExitCode::BusLost:
            return "bus lost";
        case ExitCode::PluginStopFailure:
            return "plugin stop failure";
    }
    return "unknown";
}

}  // namespace daemoneye::launcher
