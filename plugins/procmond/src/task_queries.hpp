// The queries behind procmond's tasks: filters for "enumerate_processes" and the
// ancestry/descendant walk for "process_tree". Pure functions over a ProcessTable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "process.hpp"
#include "result.hpp"

namespace procmond {

// Task parameters: pid, ppid, uid (numbers), name, user, exe (exact or shell glob, fnmatch).
// All given filters must match. Unknown parameters are an error naming them.
struct ProcessFilter {
    std::optional<std::int32_t> pid;
    std::optional<std::int32_t> ppid;
    std::optional<std::uint32_t> uid;
    std::optional<std::string> name;
    std::optional<std::string> user;
    std::optional<std::string> exe;
};

Result<ProcessFilter> parse_filter(const KeyValues& params);
bool matches(const ProcessFilter& f, const Process& p);

// The pid parameter of a task ("pid"), validated.
Result<std::int32_t> parse_pid_param(const KeyValues& params);

// Ancestors (init first), the process, then its descendants breadth-first.
Result<std::vector<const Process*>> process_tree(const ProcessTable& table, std::int32_t pid);

}  // namespace procmond
