#include "tree_walker.hpp"

#include <dirent.h>

#include <cerrno>
#include <vector>

namespace daemoneye::fsmond {

WalkStats walk_tree(const std::string& root, bool recursive, const WalkHooks& hooks) {
    WalkStats stats;
    struct stat st;
    if (::lstat(root.c_str(), &st) != 0) {
        if (errno != ENOENT) ++stats.unreadable;
        return stats;
    }
    ++stats.entries;
    if (hooks.on_entry) hooks.on_entry(root, st);
    if (!S_ISDIR(st.st_mode)) return stats;

    std::vector<std::string> stack{root};
    bool top = true;
    while (!stack.empty()) {
        std::string dir = std::move(stack.back());
        stack.pop_back();
        if (hooks.on_dir) hooks.on_dir(dir);
        if (!top && !recursive) continue;
        top = false;
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) {
            if (errno != ENOENT) ++stats.unreadable;
            continue;
        }
        while (const dirent* e = ::readdir(d)) {
            const std::string_view name = e->d_name;
            if (name == "." || name == "..") continue;
            std::string path = dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
            if (hooks.excluded && hooks.excluded(path)) continue;
            if (::lstat(path.c_str(), &st) != 0) continue;  // gone already
            ++stats.entries;
            if (hooks.on_entry) hooks.on_entry(path, st);
            if (S_ISDIR(st.st_mode) && recursive) stack.push_back(std::move(path));
        }
        ::closedir(d);
    }
    return stats;
}

}  // namespace daemoneye::fsmond
