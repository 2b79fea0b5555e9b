// The launcher's command line. Parsing never touches the system: it only checks the syntax, so
// it is unit-testable and runs before any sandbox layer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemoneye/launcher/exit_code.hpp"
#include "daemoneye/result.hpp"

namespace daemoneye::launcher {

enum class ViolationAction { Deny, Kill };

struct Options {
    enum class Mode { Run, Describe };
    Mode mode = Mode::Run;
    std::string plugin_path;
    std::string instance_id;
    std::optional<int> broker_fd;  // --broker-fd N (spawned by the agent)
    std::string broker_path;       // --broker PATH (run by hand)
    std::vector<std::string> permissions;
    std::uint64_t memory_limit_mb = 0;  // 0: no address-space limit
    std::string user = "nobody";
    ViolationAction on_violation = ViolationAction::Deny;
    bool no_sandbox = false;
    std::map<std::string, std::string> config_overrides;  // --set key=value
    std::uint32_t emit_buffer_messages = 10000;
    std::uint64_t emit_buffer_bytes = 8u << 20;
};

// A parsed command line, or "exit now" with a code and text (for --help that is code 0 and the
// help text on stdout; for errors the usage code and a message naming the offending argument).
struct ParseExit {
    ExitCode code = ExitCode::Usage;
    std::string text;
};

Result<Options, ParseExit> parse_options(int argc, const char* const* argv);

}  // namespace daemoneye::launcher
