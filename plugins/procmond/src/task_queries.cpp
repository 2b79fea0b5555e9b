#include "task_queries.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <unordered_map>
#include <unordered_set>

namespace procmond {
namespace {

template <class Int>
Result<Int> parse_number(const std::string& key, const std::string& v) {
    Int out{};
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
        return failure("task parameter '" + key + "': expected a number, got '" + v + "'");
    }
    return out;
}

bool glob_match(const std::string& pattern, const std::string& value) {
    return pattern == value || ::fnmatch(pattern.c_str(), value.c_str(), 0) == 0;
}

}  // namespace

Result<ProcessFilter> parse_filter(const KeyValues& params) {
    ProcessFilter f;
    for (const auto& [key, value] : params) {
        if (key == "pid" || key == "ppid") {
            auto v = parse_number<std::int32_t>(key, value);
            if (!v) return failure(v.reason());
            if (*v <= 0 && key == "pid") return failure("task parameter 'pid': must be > 0");
            (key == "pid" ? f.pid : f.ppid) = *v;
        } else if (key == "uid") {
            auto v = parse_number<std::uint32_t>(key, value);
            if (!v) return failure(v.reason());
            f.uid = *v;
        } else if (key == "name") {
            f.name = value;
        } else if (key == "user") {
            f.user = value;
        } else if (key == "exe") {
            f.exe = value;
        } else {
            return failure("unknown task parameter '" + key +
                           "' (enumerate_processes takes pid, ppid, uid, name, user, exe)");
        }
    }
    return f;
}

bool matches(const ProcessFilter& f, const Process& p) {
    if (f.pid && p.pid != *f.pid) return false;
    if (f.ppid && p.ppid != *f.ppid) return false;
    if (f.uid && p.uid != *f.uid) return false;
    if (f.name && !glob_match(*f.name, p.name)) return false;
    if (f.user && !glob_match(*f.user, p.user)) return false;
    if (f.exe && !glob_match(*f.exe, p.exe)) return false;
    return true;
}

Result<std::int32_t> parse_pid_param(const KeyValues& params) {
    std::optional<std::int32_t> pid;
    for (const auto& [key, value] : params) {
        if (key != "pid") return failure("unknown task parameter '" + key + "' (expected pid)");
        auto v = parse_number<std::int32_t>(key, value);
        if (!v) return failure(v.reason());
        if (*v <= 0) return failure("task parameter 'pid': must be > 0");
        pid = *v;
    }
    if (!pid) return failure("task parameter 'pid' is required");
    return *pid;
}

Result<std::vector<const Process*>> process_tree(const ProcessTable& table, std::int32_t pid) {
    auto self = table.find(pid);
    if (self == table.end()) return failure("no process with pid " + std::to_string(pid));
    std::vector<const Process*> ancestors;
    std::unordered_set<std::int32_t> seen{pid};
    for (std::int32_t up = self->second.ppid; up > 0 && seen.insert(up).second;) {
        auto it = table.find(up);
        if (it == table.end()) break;
        ancestors.push_back(&it->second);
        up = it->second.ppid;
    }
    std::reverse(ancestors.begin(), ancestors.end());
    std::vector<const Process*> out = std::move(ancestors);
    out.push_back(&self->second);

    std::unordered_map<std::int32_t, std::vector<const Process*>> children;
    for (const auto& [cpid, p] : table) children[p.ppid].push_back(&p);
    for (auto& [ppid, list] : children) {
        std::sort(list.begin(), list.end(),
                  [](const Process* a, const Process* b) { return a->pid < b->pid; });
    }
    std::deque<std::int32_t> queue{pid};
    while (!queue.empty()) {
        const std::int32_t cur = queue.front();
        queue.pop_front();
        auto it = children.find(cur);
        if (it == children.end()) continue;
        for (const Process* child : it->second) {
            if (!seen.insert(child->pid).second) continue;
            out.push_back(child);
            queue.push_back(child->pid);
        }
    }
    return out;
}

}  // namespace procmond
