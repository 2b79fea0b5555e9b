// `daemoneye-cli plugins list|inspect PATH|install PATH|remove NAME`.
// inspect never runs plugin code in the CLI: symbols come from Boost.DLL's library_info (an ELF
// reader), the manifest from `daemoneye-launcher --describe PATH`, which loads it sandboxed.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/dll/library_info.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "agent_client.hpp"
#include "commands.hpp"
#include "daemoneye/agent/config.hpp"
#include "sha256.hpp"

namespace daemoneye::cli {

namespace ipcv1 = daemoneye::ipc::v1;
namespace fs = std::filesystem;

namespace {

void print_plugin(const ipcv1::PluginInfo& p) {
    if (p.accepted()) {
        std::printf("%-16s %-9s %-9s %s\n", p.name().c_str(), p.version().c_str(), "accepted",
                    p.path().c_str());
    } else {
        std::printf("%-16s %-9s %-9s %s\n    reason: %s\n",
                    p.name().empty() ? "?" : p.name().c_str(),
                    p.version().empty() ? "-" : p.version().c_str(), "REFUSED", p.path().c_str(),
                    p.reason().c_str());
    }
}

int run_list(const GlobalOptions& options) {
    ipcv1::Request req;
    req.mutable_plugins_list();
    std::string json = "[";
    bool header = false;
    int rc = run_request(options, req, [&](const ipcv1::Response& r) {
        if (!r.has_plugin()) return;
        if (options.json) {
            json += (json.size() > 1 ? "," : "") + to_json(r.plugin());
            return;
        }
        if (!header) std::printf("%-16s %-9s %-9s %s\n", "NAME", "VERSION", "STATUS", "PATH");
        header = true;
        print_plugin(r.plugin());
    });
    if (options.json && rc == kExitOk)
        std::cout << json << "]\n";
    else if (rc == kExitOk && !header && !options.json)
        std::cout << "no plugins found\n";
    return rc;
}

std::string self_dir() {
    std::error_code ec;
    auto exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? "." : exe.parent_path().string();
}

// Runs the launcher's --describe (sandboxed) and returns its stdout, or why it failed.
Result<std::string> describe(const std::string& launcher, const std::string& path) {
    int out[2], err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0) return fail("pipe failed");
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::close(out[0]);
        ::close(err[0]);
        ::execl(launcher.c_str(), launcher.c_str(), "--describe", path.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    std::string o, e;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0) o.append(buf, static_cast<std::size_t>(n));
    while ((n = ::read(err[0], buf, sizeof buf)) > 0) e.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && o.empty())
        return fail("cannot run " + launcher);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        while (!e.empty() && e.back() == '\n') e.pop_back();
        if (auto nl = e.rfind('\n'); nl != std::string::npos) e = e.substr(nl + 1);
        return fail("launcher --describe refused it: " + e);
    }
    return o;
}

int run_inspect(const GlobalOptions& options, const std::string& path, std::string launcher) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return report_failure("plugins inspect", path + ": " + std::strerror(errno), kExitInvalid);
    auto sha = agent::sha256_file(path);
    if (!sha) return report_failure("plugins inspect", sha.error().message, kExitInvalid);
    std::vector<std::string> symbols;
    std::string symbols_error;
    try {
        boost::dll::library_info info(path);
        symbols = info.symbols();
    } catch (const std::exception& e) {
        symbols_error = std::string("not a loadable shared object: ") + e.what();
    }
    if (launcher.empty()) launcher = self_dir() + "/daemoneye-launcher";
    auto manifest = describe(launcher, path);
    const bool has_entry =
        std::find(symbols.begin(), symbols.end(), "daemoneye_plugin_entry") != symbols.end();
    if (options.json) {
        std::cout << "{\"path\":" << json_string(path) << ",\"sha256\":\"" << *sha
                  << "\",\"size\":" << st.st_size << ",\"mode\":\"" <<
            [&] {
                char b[8];
                std::snprintf(b, sizeof b, "%04o", st.st_mode & 07777);
                return std::string(b);
            }()
                  << "\",\"owner_uid\":" << st.st_uid << ",\"exported_symbols\":[";
        for (std::size_t i = 0; i < symbols.size(); ++i)
            std::cout << (i ? "," : "") << json_string(symbols[i]);
        std::cout << "],\"has_entry_symbol\":" << (has_entry ? "true" : "false")
                  << ",\"manifest\":" << (manifest ? *manifest : "null") << ",\"manifest_error\":"
                  << (manifest ? "null" : json_string(manifest.error().message)) << "}\n";
    } else {
        std::printf("path:      %s\n", path.c_str());
        std::printf("sha256:    %s\n", sha->c_str());
        std::printf("size:      %lld bytes, mode %04o, owner uid %u\n",
                    static_cast<long long>(st.st_size), st.st_mode & 07777, st.st_uid);
        if (!symbols_error.empty())
            std::printf("symbols:   %s\n", symbols_error.c_str());
        else {
            std::printf("exported symbols (%zu)%s:\n", symbols.size(),
                        has_entry ? "" : "  -- no daemoneye_plugin_entry!");
            for (const auto& s : symbols) std::printf("  %s\n", s.c_str());
        }
        if (manifest) {
            std::string m = *manifest;
            while (!m.empty() && m.back() == '\n') m.pop_back();
            std::printf("manifest (daemoneye-launcher --describe, sandboxed):\n  %s\n", m.c_str());
        } else {
            std::printf("manifest:  unavailable: %s\n", manifest.error().message.c_str());
        }
    }
    return manifest && has_entry ? kExitOk : kExitFailed;
}

int run_install(const GlobalOptions& options, const std::string& path, std::string drop_in) {
    if (drop_in.empty()) {
        const auto env = agent::ConfigEnvironment::current();
        if (!options.config.empty()) {
            auto c = agent::load_config(options.config, env);
            if (!c)
                return report_failure("plugins install", c.error().errors.front().to_string(),
                                      kExitInvalid);
            drop_in = c->plugins.drop_in_dir;
        } else {
            drop_in = agent::default_config(env).plugins.drop_in_dir;
        }
    }
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return report_failure("plugins install",
                              "cannot read " + path + ": " + std::strerror(errno), kExitInvalid);
    const std::string name = fs::path(path).filename().string();
    if (name.empty() || name.front() == '.' || name.find(".so") == std::string::npos)
        return report_failure("plugins install",
                              "'" + name + "' is not a shared object name (*.so)", kExitInvalid);
    std::error_code ec;
    if (!fs::is_directory(drop_in, ec))
        return report_failure(
            "plugins install",
            "drop-in dir " + drop_in + " does not exist (is the agent running with this config?)",
            kExitUnavailable);
    // Temp file in the same directory (a leading dot: the agent ignores it), then rename: the
    // agent never sees a half-written library.
    std::string tmp = (fs::path(drop_in) / ("." + name + ".XXXXXX")).string();
    int fd = ::mkstemp(tmp.data());
    if (fd < 0)
        return report_failure("plugins install",
                              "cannot create a file in " + drop_in + ": " + std::strerror(errno),
                              kExitFailed);
    char buf[65536];
    bool ok = true;
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        const auto n = static_cast<std::size_t>(in.gcount());
        if (::write(fd, buf, n) != static_cast<ssize_t>(n)) {
            ok = false;
            break;
        }
    }
    ok = ok && ::fchmod(fd, 0644) == 0 && ::fsync(fd) == 0;
    ::close(fd);
    const std::string dest = (fs::path(drop_in) / name).string();
    if (!ok || ::rename(tmp.c_str(), dest.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return report_failure("plugins install",
                              "cannot write " + dest + ": " + std::strerror(errno), kExitFailed);
    }
    if (!options.json)
        std::printf("copied %s -> %s (0644); waiting for the agent to probe it...\n", path.c_str(),
                    dest.c_str());
    ipcv1::Request req;
    req.mutable_plugin_installed()->set_file_name(name);
    req.mutable_plugin_installed()->set_wait_ms(60000);
    ipcv1::PluginInfo info;
    int rc = run_request(
        options, req,
        [&](const ipcv1::Response& r) {
            if (r.has_plugin()) info = r.plugin();
        },
        std::chrono::seconds(90));
    if (options.json && info.path().size())
        std::cout << to_json(info) << "\n";
    else if (rc == kExitOk)
        std::printf("registered %s %s (sha256 %s)\n", info.name().c_str(), info.version().c_str(),
                    info.sha256().c_str());
    return rc;
}

int run_remove(const GlobalOptions& options, const std::string& name) {
    ipcv1::Request req;
    req.mutable_plugin_remove()->set_name(name);
    int rc = run_request(options, req, {}, std::chrono::minutes(5));
    if (rc == kExitOk && !options.json)
        std::printf("removed %s; its collectors are stopped\n", name.c_str());
    if (rc == kExitOk && options.json) std::printf("{\"removed\":%s}\n", json_string(name).c_str());
    return rc;
}

}  // namespace

void register_plugins(CLI::App& app, Context& ctx) {
    auto* cmd =
        app.add_subcommand("plugins", "List, inspect, install and remove collector plugins");
    cmd->require_subcommand(1);
    cmd->add_subcommand("list",
                        "Every library the agent found, accepted or refused (with the reason)")
        ->callback([&ctx] { ctx.exit_code = run_list(ctx.options); });

    auto arg = std::make_shared<std::string>();
    auto opt = std::make_shared<std::string>();
    auto* inspect = cmd->add_subcommand(
        "inspect", "Manifest, ABI, exported symbols and SHA-256 of a library (no agent needed)");
    inspect->add_option("PATH", *arg, "Plugin .so")->required();
    inspect->add_option("--launcher", *opt,
                        "daemoneye-launcher to probe with (default: next to daemoneye-cli)");
    inspect->callback([arg, opt, &ctx] { ctx.exit_code = run_inspect(ctx.options, *arg, *opt); });

    auto* install = cmd->add_subcommand(
        "install",
        "Copy a library atomically into the drop-in dir and wait for the agent's verdict");
    install->add_option("PATH", *arg, "Plugin .so")->required();
    install->add_option(
        "--drop-in", *opt,
        "Drop-in dir (default: plugins.drop_in_dir of --config or the default config)");
    install->callback([arg, opt, &ctx] { ctx.exit_code = run_install(ctx.options, *arg, *opt); });

    auto* remove = cmd->add_subcommand("remove", "Delete a drop-in plugin (its collectors stop)");
    remove->add_option("NAME", *arg, "Plugin name or file name")->required();
    remove->callback([arg, &ctx] { ctx.exit_code = run_remove(ctx.options, *arg); });
}

}  // namespace daemoneye::cli
