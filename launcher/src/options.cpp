#include "daemoneye/launcher/options.hpp"

#include <CLI/CLI.hpp>

#include "daemoneye/launcher/permissions.hpp"

namespace daemoneye::launcher {

Result<Options, ParseExit> parse_options(int argc, const char* const* argv) {
    Options o;
    std::string describe_path;
    std::string on_violation = "deny";
    std::vector<std::string> sets;

    CLI::App app{
        "daemoneye-launcher: runs one DaemonEye collector plugin in a sandbox and bridges it to "
        "the agent's EventBus.\nExit codes: 0 clean stop, 1 internal, 2 usage, 3 ABI mismatch, "
        "4 load failure, 5 permission refused, 6 sandbox failure, 7 plugin init failure, 8 bus "
        "lost, 9 plugin stop failure; a crash ends the process with the signal.",
        "daemoneye-launcher"};
    app.add_option("--plugin", o.plugin_path, "plugin shared object to run");
    app.add_option("--instance", o.instance_id, "instance id, e.g. procmond-0");
    app.add_option("--broker-fd", o.broker_fd, "pre-connected bus socket inherited from the agent")
        ->check(CLI::Range(3, 1 << 20));
    app.add_option("--broker", o.broker_path, "broker socket path (running by hand)");
    app.add_option("--describe", describe_path,
                   "load the plugin inside the sandbox, print its manifest as JSON, exit");
    app.add_option("--permission", o.permissions,
                   "granted permission (repeatable): proc.read, net.read, proc.events, "
                   "fs.watch:<path>, fs.read:<path>");
    app.add_option("--memory-limit-mb", o.memory_limit_mb, "address-space limit (0: none)");
    app.add_option("--user", o.user, "unprivileged user to run as when started as root")
        ->capture_default_str();
    app.add_option("--on-violation", on_violation,
                   "forbidden syscall: deny (EPERM, reported) or kill the process")
        ->check(CLI::IsMember({"deny", "kill"}))
        ->capture_default_str();
    app.add_flag("--no-sandbox", o.no_sandbox, "DEBUGGING ONLY: run the plugin unconfined");
    app.add_option("--set", sets,
                   "config key=value for the plugin (repeatable; overrides Welcome)");
    app.add_option("--emit-buffer-messages", o.emit_buffer_messages,
                   "bound of the emit buffer in messages")
        ->check(CLI::Range(1u, 10'000'000u))
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        return unexpected(ParseExit{ExitCode::Ok, app.help()});
    } catch (const CLI::ParseError& e) {
        return unexpected(ParseExit{ExitCode::Usage, std::string(e.what())});
    }

    auto usage = [](std::string msg) {
        return unexpected(ParseExit{ExitCode::Usage, std::move(msg)});
    };
    o.on_violation = on_violation == "kill" ? ViolationAction::Kill : ViolationAction::Deny;

    if (!describe_path.empty()) {
        if (!o.plugin_path.empty()) return usage("--describe PATH and --plugin are exclusive");
        if (o.broker_fd || !o.broker_path.empty()) {
            return usage("--describe needs no broker (--broker-fd/--broker given)");
        }
        o.mode = Options::Mode::Describe;
        o.plugin_path = describe_path;
    } else {
        if (o.plugin_path.empty()) return usage("--plugin PATH (or --describe PATH) is required");
        if (o.instance_id.empty()) return usage("--instance ID is required with --plugin");
        if (o.broker_fd.has_value() == !o.broker_path.empty()) {
            return usage("exactly one of --broker-fd N and --broker PATH is required");
        }
    }
    if (!o.instance_id.empty()) {
        if (o.instance_id.size() > 64) return usage("--instance: at most 64 characters");
        for (char c : o.instance_id) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
            if (!ok) {
                return usage("--instance '" + o.instance_id +
                             "': only [A-Za-z0-9_-] (it becomes a topic level)");
            }
        }
    }
    for (const auto& p : o.permissions) {
        if (auto parsed = parse_permission(p, /*allow_bare_path=*/false); !parsed) {
            return usage("--permission: " + parsed.error().message);
        }
    }
    if (o.user.empty()) return usage("--user may not be empty");
    for (const auto& s : sets) {
        auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0)
            return usage("--set '" + s + "': expected key=value");
        o.config_overrides[s.substr(0, eq)] = s.substr(eq + 1);
    }
    return o;
}

}  // namespace daemoneye::launcher
