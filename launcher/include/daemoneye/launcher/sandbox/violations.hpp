// Seccomp violations in "deny" mode: the filter traps a forbidden syscall (SECCOMP_RET_TRAP),
// the SIGSYS handler makes it return -EPERM and counts it per syscall number with lock-free
// atomics (async-signal-safe). The bridge reads the counts and reports what grew.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemoneye/result.hpp"

namespace daemoneye::launcher::sandbox {

// Installs the SIGSYS handler. Must run before the seccomp filter is loaded (the filter then
// refuses rt_sigaction on SIGSYS so the plugin cannot replace it).
Status install_violation_handler();

struct ViolationCount {
    int syscall_nr = -1;
    std::string syscall;  // resolved name, "syscall_<nr>" when unknown
    std::uint64_t count = 0;
};

// Every syscall denied at least once, with its cumulative count.
std::vector<ViolationCount> violation_counts();
std::uint64_t total_violations();
std::string syscall_name(int nr);

}  // namespace daemoneye::launcher::sandbox
