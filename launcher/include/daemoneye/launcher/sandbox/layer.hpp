// One sandbox layer's outcome. A layer the kernel or the privileges refuse is reported with
// applied=false and the reason (never silently skipped); a layer that fails half-way, leaving the
// process in an unknown state, is a Failure (exit code "sandbox failure") instead.
#pragma once

#include <string>
#include <vector>

namespace daemoneye::launcher {

struct LayerReport {
    std::string name;  // env, fds, pdeathsig, rlimits, namespaces, fsview, user, caps,
                       // no_new_privs, landlock, seccomp
    bool applied = false;
    std::string detail;  // what exactly, or why not
};

inline LayerReport applied(std::string name, std::string detail) {
    return {std::move(name), true, std::move(detail)};
}
inline LayerReport not_applied(std::string name, std::string reason) {
    return {std::move(name), false, std::move(reason)};
}

using SandboxReport = std::vector<LayerReport>;

}  // namespace daemoneye::launcher
