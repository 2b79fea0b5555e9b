// Default locations: system paths as root, per-user paths otherwise, so `make run` works for
// anyone. Only fills what the file left empty.
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "daemoneye/agent/config.hpp"

namespace daemoneye::agent {
namespace {

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

std::string expand_origin(const std::string& dir, const std::filesystem::path& exe_dir) {
    static const std::string kOrigin = "$ORIGIN";
    if (dir.rfind(kOrigin, 0) != 0) return dir;
    return std::filesystem::path(exe_dir.string() + dir.substr(kOrigin.size()))
        .lexically_normal()
        .string();
}

}  // namespace

ConfigEnvironment ConfigEnvironment::current() {
    ConfigEnvironment env;
    env.uid = ::geteuid();
    env.xdg_runtime_dir = env_or_empty("XDG_RUNTIME_DIR");
    env.home = env_or_empty("HOME");
    env.xdg_state_home = env_or_empty("XDG_STATE_HOME");
    char host[HOST_NAME_MAX + 1] = {};
    if (::gethostname(host, sizeof host) == 0) env.hostname = host;
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) env.exe_dir = exe.parent_path();
    return env;
}

void resolve_defaults(Config& c, const ConfigEnvironment& env) {
    const bool root = env.uid == 0;
    const std::string uid = std::to_string(env.uid);
    if (c.agent.id.empty())
        c.agent.id = "daemoneye-agent@" + (env.hostname.empty() ? "localhost" : env.hostname);
    if (c.agent.runtime_dir.empty()) {
        if (root)
            c.agent.runtime_dir = "/run/daemoneye";
        else if (!env.xdg_runtime_dir.empty() && env.xdg_runtime_dir.front() == '/')
            c.agent.runtime_dir = env.xdg_runtime_dir + "/daemoneye";
        else
            c.agent.runtime_dir = "/tmp/daemoneye-" + uid;
    }
    if (c.agent.state_dir.empty()) {
        if (root)
            c.agent.state_dir = "/var/lib/daemoneye";
        else if (!env.xdg_state_home.empty() && env.xdg_state_home.front() == '/')
            c.agent.state_dir = env.xdg_state_home + "/daemoneye";
        else if (!env.home.empty() && env.home.front() == '/')
            c.agent.state_dir = env.home + "/.local/state/daemoneye";
        else
            c.agent.state_dir = "/tmp/daemoneye-" + uid + "/state";
    }
    if (c.broker.socket_path.empty()) c.broker.socket_path = c.agent.runtime_dir + "/eventbus.sock";
    if (c.ipc.endpoint_path.empty()) c.ipc.endpoint_path = c.agent.runtime_dir + "/agent.sock";
    if (c.plugins.drop_in_dir.empty()) c.plugins.drop_in_dir = c.agent.state_dir + "/plugins.d";
    for (auto& d : c.plugins.directories) d = expand_origin(d, env.exe_dir);
    if (c.process_manager.launcher_path.empty())
        c.process_manager.launcher_path = (env.exe_dir / "daemoneye-launcher").string();
    if (c.sandbox.user.empty() && root) c.sandbox.user = "nobody";
}

}  // namespace daemoneye::agent
