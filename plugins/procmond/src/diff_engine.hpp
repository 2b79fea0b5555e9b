// Compares two scans (or one process before/after a netlink event) and says what happened, as
// plain change records; event_encoding turns them into protobuf on the right topic.
//
//   started / exited     a (pid, start time) pair appears / disappears. Same pid with a new start
//                        time is pid reuse: exited for the old process, started for the new one.
//   exec                 same (pid, start time), the running image is another file (dev/inode)
//                        or the exe path changed.
//   metadata_changed     name, argv, uid/euid/gid, user, cgroup, container id or namespaces
//                        changed (the list is in changed_fields). Volatile fields (state, threads,
//                        memory, CPU, cwd) are not changes.
//   parent_changed       ppid changed (reparenting to init or a subreaper).
//   integrity            the running image was modified in place (same dev/inode, new hash), or
//                        its file was deleted or replaced on disk since the last scan.
//   anomaly              an anomaly rule fired (once per process and rule).
//
// Not a change: a kernel thread renaming itself (kworker/u8:3-events -> kworker/u8:3-writeback:
// a kworker's name follows the workqueue it serves, several times a second on a busy host).
// Those are counted (kthread_renames()) and nothing is emitted.
#pragma once

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "anomaly_rules.hpp"
#include "process.hpp"

namespace procmond {

enum class ChangeKind { kStarted, kExited, kExec, kMetadata, kParent, kIntegrity, kAnomaly };

struct ProcessChange {
    ChangeKind kind;
    Process process;
    Process previous;  // exec / metadata / parent / integrity: the state before
    bool has_previous = false;
    std::vector<std::string> changed_fields;
    std::string rule;
    std::string reason;
};

class DiffEngine {
  public:
    explicit DiffEngine(bool anomaly_rules = true) : anomaly_rules_(anomaly_rules) {}
    void set_anomaly_rules(bool on) { anomaly_rules_ = on; }
    // Read from any thread (health).
    std::uint64_t kthread_renames() const {
        return kthread_renames_.load(std::memory_order_relaxed);
    }

    // The first scan: no lifecycle events, but anomaly rules run over every process.
    std::vector<ProcessChange> baseline(const ProcessTable& current);

    // Everything that happened between two scans.
    std::vector<ProcessChange> diff(const ProcessTable& previous, const ProcessTable& current);

    // One process observed out of band (netlink): prev/cur may be null (unknown / gone).
    // `exec_seen`: the kernel reported an exec, which is an EXEC even when the exe looks the same
    // (a process re-executing its own file, or a previous record read mid-exec that already
    // named the new file) as long as the image fingerprint moved (else a scan already saw it).
    void diff_one(const Process* prev, const Process* cur, const ProcessTable& context,
                  std::vector<ProcessChange>& out, bool exec_seen = false);

  private:
    void check_anomalies(const Process& p, const ProcessTable& table,
                         std::vector<ProcessChange>& out);
    void forget(const Process& p);

    bool anomaly_rules_;
    struct Reported {
        std::uint64_t start = 0;
        std::set<std::string> rules;
    };
    std::unordered_map<std::int32_t, Reported> reported_;
    std::atomic<std::uint64_t> kthread_renames_{0};
};

// Fields that differ between two observations of the same process (see the header comment).
std::vector<std::string> changed_fields(const Process& before, const Process& after);

}  // namespace procmond
