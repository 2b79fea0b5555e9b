// daemoneye-launcher: sandbox first, then load the plugin, then bridge it to the bus.
#include <execinfo.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "daemoneye/launcher/bridge/bridge.hpp"
#include "daemoneye/launcher/bridge/bus_client_link.hpp"
#include "daemoneye/launcher/describe.hpp"
#include "daemoneye/launcher/exit_code.hpp"
#include "daemoneye/launcher/loader.hpp"
#include "daemoneye/launcher/options.hpp"
#include "daemoneye/launcher/permissions.hpp"
#include "daemoneye/launcher/privsep/owner_helper.hpp"
#include "daemoneye/launcher/sandbox/sandbox.hpp"

namespace dl = daemoneye::launcher;

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer's exit-time check stops the world from a cloned tracer thread (a clone without
// CLONE_THREAD, then ptrace), which the seccomp filter forbids: under ASan the launcher's own
// leak check is off (the unit tests still check leaks in-process). handle_segv=0: a crashing
// plugin must still end the launcher with SIGSEGV, which the agent relies on.
extern "C" const char* __asan_default_options() {
    return "detect_leaks=0:handle_segv=0";
}
#endif

#if defined(DAEMONEYE_SANITIZE_THREAD)
// Under TSan the same: a crashing plugin must end the launcher with SIGSEGV, and the sandbox's
// SIGSYS trap (seccomp violations) is the launcher's own handler, not TSan's.
extern "C" const char* __tsan_default_options() {
    return "handle_segv=0:handle_sigbus=0:handle_sigill=0:handle_sigfpe=0";
}
#endif

namespace {

int exit_with(dl::ExitCode code, const std::string& message) {
    spdlog::error("{} (exit {}: {})", message, static_cast<int>(code), dl::to_string(code));
    spdlog::default_logger()->flush();
    return static_cast<int>(code);
}

void setup_logging(const dl::Options& o) {
    auto logger = spdlog::stderr_logger_mt("launcher");
    std::string who = o.instance_id.empty() ? std::string("describe") : o.instance_id;
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l daemoneye-launcher[%P] " + who + ": %v");
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

// SIGTERM/SIGINT are taken by the bridge's monitor thread with sigtimedwait: block them here,
// before any thread exists, so every thread (the plugin's included) inherits the mask.
void prepare_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

daemoneye::Result<int, dl::Failure> open_bus(const dl::Options& o) {
    if (o.broker_fd) {
        struct stat st {};
        if (fstat(*o.broker_fd, &st) != 0) {
            return daemoneye::unexpected(dl::Failure{
                dl::ExitCode::Usage,
                "--broker-fd " + std::to_string(*o.broker_fd) + ": not an open descriptor"});
        }
        if (!S_ISSOCK(st.st_mode)) {
            return daemoneye::unexpected(
                dl::Failure{dl::ExitCode::Usage,
                            "--broker-fd " + std::to_string(*o.broker_fd) + ": not a socket"});
        }
        return *o.broker_fd;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (o.broker_path.size() >= sizeof(addr.sun_path)) {
        return daemoneye::unexpected(
            dl::Failure{dl::ExitCode::Usage, "--broker path longer than " +
                                                 std::to_string(sizeof(addr.sun_path) - 1) +
                                                 " bytes: " + o.broker_path});
    }
    std::memcpy(addr.sun_path, o.broker_path.c_str(), o.broker_path.size());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return daemoneye::unexpected(
            dl::Failure{dl::ExitCode::BusLost, std::string("socket: ") + std::strerror(errno)});
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        close(fd);
        return daemoneye::unexpected(
            dl::Failure{dl::ExitCode::BusLost,
                        "cannot connect to broker " + o.broker_path + ": " + std::strerror(err)});
    }
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    // A launcher that dies by std::terminate says where (the agent only sees SIGABRT).
    std::set_terminate([] {
        void* frames[64];
        int n = backtrace(frames, 64);
        backtrace_symbols_fd(frames, n, 2);
        std::abort();
    });
    {
        // glibc loads its unwinder (libgcc_s) on the first backtrace(); under the plugin's
        // address-space limit that load can fail, and the handler above would then only say
        // "libgcc_s.so.1 must be installed". Loaded now, while memory is there.
        void* frame[1];
        (void)backtrace(frame, 1);
    }
    const pid_t parent = getppid();
    auto parsed = dl::parse_options(argc, argv);
    if (!parsed) {
        const auto& e = parsed.error();
        if (e.code == dl::ExitCode::Ok) {
            std::cout << e.text;
            return 0;
        }
        std::cerr << "daemoneye-launcher: " << e.text << "\n(see --help; exit 2: usage error)\n";
        return static_cast<int>(e.code);
    }
    dl::Options o = std::move(*parsed);
    // The fsview layer moves the working directory to the new root: name the plugin absolutely
    // (the loader opens it after the sandbox).
    if (!o.plugin_path.empty()) {
        std::error_code ec;
        auto abs = std::filesystem::absolute(o.plugin_path, ec);
        if (!ec) o.plugin_path = abs.lexically_normal().string();
    }
    setup_logging(o);
    prepare_signals();

    auto granted = dl::PermissionSet::from_grants(o.permissions);
    if (!granted) return exit_with(dl::ExitCode::Usage, granted.error().message);

    int bus_fd = -1;
    if (o.mode == dl::Options::Mode::Run) {
        auto fd = open_bus(o);
        if (!fd) return exit_with(fd.error().code, fd.error().message);
        bus_fd = *fd;
    }

    if (o.no_sandbox) {
        spdlog::warn(
            "*** --no-sandbox: the plugin runs UNCONFINED with the launcher's full privileges "
            "(uid {}). Debugging only; never in production. ***",
            getuid());
    }
    // net.read: socket owners come from a privileged helper forked now, before the sandbox (the
    // plugin itself keeps no capability for them; see privsep/owner_helper.hpp).
    std::unique_ptr<dl::privsep::OwnerHelperClient> socket_owners;
    std::optional<dl::LayerReport> helper_report;
    // proc.read: the same helper (one process when both are granted) answers other users'
    // exe/cwd/ns links and opens their executables, so the plugin keeps no CAP_SYS_PTRACE.
    const bool net_read = granted->has(dl::Permission::Kind::NetRead);
    const bool proc_read = granted->has(dl::Permission::Kind::ProcRead);
    if (!o.no_sandbox && (net_read || proc_read)) {
        namespace ps = dl::privsep;
        ps::OwnerHelperOptions helper;
        helper.user = o.user;
        helper.kinds = 0;
        helper.capabilities = {CAP_SYS_PTRACE};
        if (net_read) {
            helper.kinds |= ps::kind_bit(ps::RequestKind::Lookup);
            helper.capabilities = {CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE};
        }
        if (proc_read) {
            helper.kinds |=
                ps::kind_bit(ps::RequestKind::Links) | ps::kind_bit(ps::RequestKind::OpenExe);
        }
        auto spawned = dl::privsep::spawn_owner_helper(helper);
        if (spawned.fd >= 0) {
            socket_owners =
                std::make_unique<dl::privsep::OwnerHelperClient>(spawned.fd, spawned.pid);
            socket_owners->set_service_name(net_read && proc_read
                                                ? "socket owners and process links"
                                            : net_read ? "socket owners"
                                                       : "process links");
        }
        helper_report = std::move(spawned.report);
    }

    dl::SandboxConfig sandbox;
    sandbox.enabled = !o.no_sandbox;
    sandbox.permissions = *granted;
    sandbox.memory_limit_mb = o.memory_limit_mb;
    sandbox.user = o.user;
    sandbox.on_violation = o.on_violation;
    sandbox.keep_fd = bus_fd;
    sandbox.plugin_path = o.plugin_path;
    sandbox.expected_parent = parent;
    sandbox.helper_fd = socket_owners ? socket_owners->fd() : -1;
    sandbox.helper_pid = socket_owners ? socket_owners->pid() : 0;
    auto report = dl::apply_sandbox(sandbox);
    if (!report) return exit_with(report.error().code, report.error().message);
    if (helper_report) report->insert(report->begin(), std::move(*helper_report));
    for (const auto& layer : *report) {
        if (!layer.applied)
            spdlog::warn("sandbox layer '{}' NOT applied: {}", layer.name, layer.detail);
    }

    auto plugin = dl::PluginLibrary::open(o.plugin_path);
    if (!plugin) return exit_with(plugin.error().code, plugin.error().message);

    if (o.mode == dl::Options::Mode::Describe) {
        std::cout << dl::describe_json(plugin->manifest(), *report) << std::endl;
        return 0;
    }

    auto missing = dl::uncovered(*granted, plugin->manifest().declared_permissions);
    if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
        std::string have;
        for (const auto& g : granted->names()) have += (have.empty() ? "" : ", ") + g;
        std::string message =
            "plugin " + plugin->manifest().name + " declares permission(s) " + list +
            " which were not granted (granted: " + (have.empty() ? "none" : have) + ")";
        if (!o.no_sandbox) return exit_with(dl::ExitCode::PermissionRefused, message);
        spdlog::warn("{}; ignored under --no-sandbox", message);
    }

    dl::BusClientLink link(bus_fd);
    dl::BridgeConfig bridge;
    bridge.instance_id = o.instance_id;
    bridge.config_overrides = o.config_overrides;
    bridge.emit_buffer_messages = o.emit_buffer_messages;
    bridge.emit_buffer_bytes = o.emit_buffer_bytes;
    bridge.on_violation = o.on_violation;
    bridge.socket_owners = net_read ? socket_owners.get() : nullptr;
    bridge.process_info = proc_read ? socket_owners.get() : nullptr;
    auto code = dl::run_bridge(link, *plugin, *report, bridge);
    spdlog::info("exiting with {} ({})", static_cast<int>(code), dl::to_string(code));
    spdlog::default_logger()->flush();
    return static_cast<int>(code);
}
