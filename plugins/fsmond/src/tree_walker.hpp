// Walks a watched root: directories first get the caller's hook (an inotify watch), then their
// entries are listed, so a file created while we look is either listed or reported by the watch.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>

namespace daemoneye::fsmond {

struct WalkHooks {
    std::function<bool(const std::string& path)> excluded;                      // may be empty
    std::function<void(const std::string& dir)> on_dir;                         // before listing it
    std::function<void(const std::string& path, const struct stat&)> on_entry;  // incl. the root
};

struct WalkStats {
    size_t entries = 0;
    size_t unreadable = 0;  // directories we could not list (permission), skipped
};

// Symlinks are reported, never followed; other filesystems below a root are walked too.
WalkStats walk_tree(const std::string& root, bool recursive, const WalkHooks& hooks);

}  // namespace daemoneye::fsmond
