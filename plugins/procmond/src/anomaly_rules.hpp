// Simple, explainable anomaly rules. Each hit names the rule and says in one sentence why it fired,
// so an analyst can judge it without reading code.
#pragma once

#include <string>
#include <vector>

#include "process.hpp"

namespace procmond {

struct AnomalyHit {
    std::string rule;
    std::string reason;
};

// Rule ids (stable, used in ProcessEvent.rule):
//   deleted_executable      the process runs a file that was deleted from disk
//   executable_in_temp_dir  the executable lives under /tmp, /var/tmp or /dev/shm
//   comm_mismatch           comm matches neither the exe's name nor argv[0] (15-char truncation
//                           and interpreters such as python/bash/java taken into account)
//   root_child_of_non_root  uid 0 process whose parent is not root, and whose executable is not a
//                           setuid-root file (sudo, su and friends are expected to do this)
std::vector<AnomalyHit> evaluate_anomalies(const Process& p, const ProcessTable& table);

// Exposed for tests: is `name` the basename of an interpreter or multi-call binary whose comm is
// usually the script or applet name?
bool is_interpreter(const std::string& exe_basename);

}  // namespace procmond
