#include "event_encoding.hpp"

namespace procmond {

namespace ev = daemoneye::events::v1;

void to_proto(const Process& p, ev::ProcessInfo* out) {
    out->set_pid(static_cast<std::uint32_t>(p.pid));
    out->set_ppid(static_cast<std::uint32_t>(p.ppid));
    out->set_name(p.name);
    out->set_exe(p.exe);
    for (const auto& a : p.argv) out->add_argv(a);
    out->set_uid(p.uid);
    out->set_gid(p.gid);
    out->set_euid(p.euid);
    out->set_user(p.user);
    out->set_start_time_unix_nanos(p.start_time_unix_nanos);
    out->set_state(std::string(1, p.state));
    out->set_threads(p.threads);
    out->set_rss_bytes(p.rss_bytes);
    out->set_vsz_bytes(p.vsz_bytes);
    out->set_cpu_user_ms(p.cpu_user_ms);
    out->set_cpu_system_ms(p.cpu_system_ms);
    out->set_cgroup(p.cgroup);
    out->set_container_id(p.container_id);
    auto* ns = out->mutable_namespaces();
    for (const auto& [type, inode] : p.namespaces) (*ns)[type] = inode;
    out->set_exe_sha256(p.exe_sha256);
    out->set_exe_deleted(p.exe_deleted);
    out->set_exe_replaced(p.exe_replaced);
    out->set_cwd(p.cwd);
}

const char* topic_of(ChangeKind kind) {
    switch (kind) {
        case ChangeKind::kStarted:
        case ChangeKind::kExited:
        case ChangeKind::kExec:
            return kTopicLifecycle;
        case ChangeKind::kMetadata:
            return kTopicMetadata;
        case ChangeKind::kParent:
            return kTopicTree;
        case ChangeKind::kIntegrity:
            return kTopicIntegrity;
        case ChangeKind::kAnomaly:
            return kTopicAnomaly;
    }
    return kTopicLifecycle;
}

namespace {
ev::ProcessEventKind kind_of(ChangeKind kind) {
    switch (kind) {
        case ChangeKind::kStarted:
            return ev::PROCESS_EVENT_KIND_STARTED;
        case ChangeKind::kExited:
            return ev::PROCESS_EVENT_KIND_EXITED;
        case ChangeKind::kExec:
            return ev::PROCESS_EVENT_KIND_EXEC;
        case ChangeKind::kMetadata:
            return ev::PROCESS_EVENT_KIND_METADATA_CHANGED;
        case ChangeKind::kParent:
            return ev::PROCESS_EVENT_KIND_PARENT_CHANGED;
        case ChangeKind::kIntegrity:
            return ev::PROCESS_EVENT_KIND_INTEGRITY;
        case ChangeKind::kAnomaly:
            return ev::PROCESS_EVENT_KIND_ANOMALY;
    }
    return ev::PROCESS_EVENT_KIND_UNSPECIFIED;
}
}  // namespace

ev::ProcessEvent to_event(const ProcessChange& change, std::uint64_t observed_unix_nanos) {
    ev::ProcessEvent e;
    e.set_kind(kind_of(change.kind));
    to_proto(change.process, e.mutable_process());
    if (change.has_previous) to_proto(change.previous, e.mutable_previous());
    for (const auto& f : change.changed_fields) e.add_changed_fields(f);
    e.set_rule(change.rule);
    e.set_reason(change.reason);
    e.set_observed_unix_nanos(observed_unix_nanos);
    return e;
}

std::vector<ev::ProcessBatch> to_batches(const std::vector<const Process*>& ps,
                                         std::uint32_t batch_size, const std::string& task_id) {
    if (batch_size == 0) batch_size = 1;
    const std::size_t count = ps.empty() ? 1 : (ps.size() + batch_size - 1) / batch_size;
    std::vector<ev::ProcessBatch> out(count);
    for (std::size_t i = 0; i < count; ++i) {
        out[i].set_batch_index(static_cast<std::uint32_t>(i));
        out[i].set_batch_count(static_cast<std::uint32_t>(count));
        out[i].set_task_id(task_id);
    }
    for (std::size_t i = 0; i < ps.size(); ++i) {
        to_proto(*ps[i], out[i / batch_size].add_processes());
    }
    return out;
}

}  // namespace procmond
