#include "diff_engine.hpp"

namespace procmond {
namespace {

bool image_changed(const Process& a, const Process& b) {
    if (!a.exe_readable || !b.exe_readable) return false;  // cannot tell (denied, zombie)
    if (a.exe_identity.dev != b.exe_identity.dev || a.exe_identity.ino != b.exe_identity.ino) {
        return true;
    }
    return !a.exe.empty() && !b.exe.empty() && a.exe != b.exe;
}

ProcessChange make(ChangeKind kind, const Process& p) {
    ProcessChange c{kind, p, {}, false, {}, {}, {}};
    return c;
}

ProcessChange make(ChangeKind kind, const Process& p, const Process& prev) {
    ProcessChange c{kind, p, prev, true, {}, {}, {}};
    return c;
}

std::string describe(const Process& p) {
    return "pid " + std::to_string(p.pid) + " (" + p.name + ")";
}

}  // namespace

std::vector<std::string> changed_fields(const Process& a, const Process& b) {
    std::vector<std::string> f;
    if (b.state == 'Z') return f;  // a zombie has lost these fields; not a change
    if (a.name != b.name) f.emplace_back("name");
    if (a.argv != b.argv && !b.argv.empty()) f.emplace_back("argv");
    if (a.uid != b.uid) f.emplace_back("uid");
    if (a.euid != b.euid) f.emplace_back("euid");
    if (a.gid != b.gid) f.emplace_back("gid");
    if (a.user != b.user) f.emplace_back("user");
    if (a.cgroup != b.cgroup && !b.cgroup.empty()) f.emplace_back("cgroup");
    if (a.container_id != b.container_id && !b.cgroup.empty()) f.emplace_back("container_id");
    if (a.namespaces != b.namespaces && !b.namespaces.empty()) f.emplace_back("namespaces");
    return f;
}

void DiffEngine::forget(const Process& p) {
    auto it = reported_.find(p.pid);
    if (it != reported_.end() && it->second.start == p.start_time_unix_nanos) reported_.erase(it);
}

void DiffEngine::check_anomalies(const Process& p, const ProcessTable& table,
                                 std::vector<ProcessChange>& out) {
    if (!anomaly_rules_) return;
    auto hits = evaluate_anomalies(p, table);
    if (hits.empty()) return;
    Reported& r = reported_[p.pid];
    if (r.start != p.start_time_unix_nanos) {
        r.start = p.start_time_unix_nanos;
        r.rules.clear();
    }
    for (auto& hit : hits) {
        if (!r.rules.insert(hit.rule).second) continue;
        ProcessChange c = make(ChangeKind::kAnomaly, p);
        c.rule = std::move(hit.rule);
        c.reason = std::move(hit.reason);
        out.push_back(std::move(c));
    }
}

std::vector<ProcessChange> DiffEngine::baseline(const ProcessTable& current) {
    std::vector<ProcessChange> out;
    reported_.clear();
    for (const auto& [pid, p] : current) check_anomalies(p, current, out);
    return out;
}

std::vector<ProcessChange> DiffEngine::diff(const ProcessTable& previous,
                                            const ProcessTable& current) {
    std::vector<ProcessChange> out;
    for (const auto& [pid, prev] : previous) {
        auto it = current.find(pid);
        if (it == current.end() || !same_process(prev, it->second)) {
            diff_one(&prev, nullptr, current, out);
        }
    }
    for (const auto& [pid, cur] : current) {
        auto it = previous.find(pid);
        const Process* prev = it == previous.end() ? nullptr : &it->second;
        if (prev && !same_process(*prev, cur)) prev = nullptr;  // its exit was reported above
        diff_one(prev, &cur, current, out);
    }
    return out;
}

void DiffEngine::diff_one(const Process* prev, const Process* cur, const ProcessTable& context,
                          std::vector<ProcessChange>& out, bool exec_seen) {
    if (prev && !cur) {
        out.push_back(make(ChangeKind::kExited, *prev));
        forget(*prev);
        return;
    }
    if (!cur) return;
    if (!prev) {
        out.push_back(make(ChangeKind::kStarted, *cur));
        check_anomalies(*cur, context, out);
        return;
    }
    bool interesting = false;
    // After a kernel-reported exec, a new image fingerprint (the address layout differs after
    // every exec) is enough; the same fingerprint means a scan already reported this exec.
    if (image_changed(*prev, *cur) ||
        (exec_seen && prev->image_fingerprint != cur->image_fingerprint)) {
        ProcessChange c = make(ChangeKind::kExec, *cur, *prev);
        c.changed_fields = changed_fields(*prev, *cur);
        c.changed_fields.insert(c.changed_fields.begin(), "exe");
        c.reason = describe(*cur) + " executed " + (cur->exe.empty() ? "?" : cur->exe) + " (was " +
                   (prev->exe.empty() ? "?" : prev->exe) + ")";
        out.push_back(std::move(c));
        interesting = true;
    } else {
        auto fields = changed_fields(*prev, *cur);
        if (prev->kernel_thread && cur->kernel_thread &&
            fields == std::vector<std::string>{"name"}) {
            ++kthread_renames_;
            fields.clear();
        }
        if (!fields.empty()) {
            ProcessChange c = make(ChangeKind::kMetadata, *cur, *prev);
            c.changed_fields = std::move(fields);
            out.push_back(std::move(c));
            interesting = true;
        }
        // Same file (dev/inode) but different content: the running image was modified.
        if (!prev->exe_sha256.empty() && !cur->exe_sha256.empty() &&
            prev->exe_sha256 != cur->exe_sha256) {
            ProcessChange c = make(ChangeKind::kIntegrity, *cur, *prev);
            c.rule = "executable_modified";
            c.changed_fields = {"exe_sha256"};
            c.reason = describe(*cur) + ": its running executable " + cur->exe +
                       " was modified in place (sha256 " + prev->exe_sha256.substr(0, 12) +
                       "... -> " + cur->exe_sha256.substr(0, 12) + "...)";
            out.push_back(std::move(c));
            interesting = true;
        }
        if (!prev->exe_deleted && cur->exe_deleted) {
            ProcessChange c = make(ChangeKind::kIntegrity, *cur, *prev);
            c.rule = "executable_deleted";
            c.changed_fields = {"exe_deleted"};
            c.reason = describe(*cur) + ": the file it runs, " + cur->exe +
                       ", was deleted from disk while running";
            out.push_back(std::move(c));
            interesting = true;
        }
        if (!prev->exe_replaced && cur->exe_replaced) {
            ProcessChange c = make(ChangeKind::kIntegrity, *cur, *prev);
            c.rule = "executable_replaced";
            c.changed_fields = {"exe_replaced"};
            c.reason = describe(*cur) + ": " + cur->exe +
                       " now names a different file than the one running";
            out.push_back(std::move(c));
            interesting = true;
        }
    }
    if (prev->ppid != cur->ppid) {
        ProcessChange c = make(ChangeKind::kParent, *cur, *prev);
        c.changed_fields = {"ppid"};
        c.reason = describe(*cur) + " moved from parent " + std::to_string(prev->ppid) + " to " +
                   std::to_string(cur->ppid);
        out.push_back(std::move(c));
        interesting = true;
    }
    if (interesting) check_anomalies(*cur, context, out);
}

}  // namespace procmond
