// The plugin's one exported symbol (kept alone so test binaries can link the rest).
#include "fsmond_plugin.hpp"

// "fs.watch" without a path: the paths come from the operator's config; the agent grants them per
// instance as fs.watch:<path>.
DAEMONEYE_PLUGIN(daemoneye::fsmond::FsmondPlugin, "fsmond", "0.1.0",
                 "File changes under watched paths (inotify, or fanotify filesystem marks) with "
                 "SHA-256 of modified files",
                 ("stat_path", "recent_changes"), ("fs.watch"), ("events.filesystem.#"));
