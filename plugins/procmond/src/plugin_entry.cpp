// The plugin's one exported symbol. Only the .so compiles this file.
#include "procmond_plugin.hpp"

DAEMONEYE_PLUGIN(procmond::ProcmondPlugin, "procmond", "0.1.0",
                 "Process collector: /proc scans (+ netlink process connector), lifecycle, "
                 "integrity, anomalies",
                 ("enumerate_processes", "hash_executable", "process_tree"),
                 ("proc.read", "proc.events"), ("events.process.#"));
