#include "anomaly_rules.hpp"

#include <array>
#include <string_view>

namespace procmond {
namespace {

constexpr std::size_t kCommLen = 15;  // TASK_COMM_LEN - 1

std::string_view basename_of(std::string_view path) {
    const auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string describe(const Process& p) {
    return "pid " + std::to_string(p.pid) + " (" + p.name + ")";
}

}  // namespace

bool is_interpreter(const std::string& name) {
    static constexpr std::array<std::string_view, 22> kPrefixes = {
        "python", "perl", "ruby", "node",    "java",     "bash",  "sh",   "dash",
        "zsh",    "ksh",  "fish", "php",     "lua",      "tclsh", "wish", "busybox",
        "dotnet", "mono", "pypy", "Rscript", "ld-linux", "qemu-"};
    for (std::string_view prefix : kPrefixes) {
        if (std::string_view(name).starts_with(prefix)) return true;
    }
    return name == "env" || name == "nodejs" || name == "deno" || name == "bun";
}

std::vector<AnomalyHit> evaluate_anomalies(const Process& p, const ProcessTable& table) {
    std::vector<AnomalyHit> hits;
    if (p.kernel_thread || p.state == 'Z' || p.exe.empty()) return hits;

    if (p.exe_deleted) {
        hits.push_back({"deleted_executable",
                        describe(p) + " runs " + p.exe +
                            ", which has been deleted from disk (a classic way to hide a binary)"});
    }
    for (std::string_view dir : {"/tmp/", "/var/tmp/", "/dev/shm/"}) {
        if (std::string_view(p.exe).starts_with(dir)) {
            hits.push_back({"executable_in_temp_dir",
                            describe(p) + " runs " + p.exe + " from world-writable " +
                                std::string(dir.substr(0, dir.size() - 1))});
            break;
        }
    }

    const std::string_view exe_base = basename_of(p.exe);
    if (!is_interpreter(std::string(exe_base)) && !p.name.empty()) {
        const std::string_view comm = p.name;
        const auto matches = [&](std::string_view candidate) {
            return !candidate.empty() && candidate.substr(0, kCommLen) == comm;
        };
        const std::string_view argv0 = p.argv.empty() ? std::string_view{} : p.argv[0];
        // argv[0] may carry arguments when rewritten ("sshd: user [priv]") or a login dash.
        std::string_view argv0_base = basename_of(argv0.substr(0, argv0.find(' ')));
        if (argv0_base.starts_with('-')) argv0_base.remove_prefix(1);
        if (argv0_base.ends_with(':')) argv0_base.remove_suffix(1);
        if (!matches(exe_base) && !matches(argv0_base) && !matches(argv0)) {
            hits.push_back({"comm_mismatch", describe(p) +
                                                 ": its name matches neither the executable " +
                                                 std::string(exe_base) + " nor argv[0] '" +
                                                 std::string(argv0.substr(0, 64)) + "'"});
        }
    }

    if (p.uid == 0 || p.euid == 0) {
        auto parent = table.find(p.ppid);
        if (parent != table.end() && parent->second.uid != 0 && parent->second.euid != 0 &&
            !parent->second.kernel_thread && !p.exe_setuid_root && p.exe_readable) {
            hits.push_back({"root_child_of_non_root",
                            describe(p) + " runs as uid 0 although its parent pid " +
                                std::to_string(parent->second.pid) + " (" + parent->second.name +
                                ") runs as uid " + std::to_string(parent->second.uid) + ", and " +
                                p.exe + " is not a setuid-root executable"});
        }
    }
    return hits;
}

}  // namespace procmond
