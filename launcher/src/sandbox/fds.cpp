#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "daemoneye/launcher/sandbox/layers.hpp"

namespace daemoneye::launcher::sandbox {
namespace {

int close_range_raw(unsigned first, unsigned last) {
    return static_cast<int>(syscall(SYS_close_range, first, last, 0u));
}

// Fallback for kernels without close_range (< 5.9): walk /proc/self/fd.
Status close_by_listing(const std::vector<int>& keep) {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return fail(std::string("opendir /proc/self/fd: ") + std::strerror(errno));
    std::vector<int> fds;
    while (auto* ent = readdir(dir)) {
        char* end = nullptr;
        long fd = std::strtol(ent->d_name, &end, 10);
        if (*end != '\0' || end == ent->d_name) continue;
        if (fd > 2 && std::find(keep.begin(), keep.end(), fd) == keep.end() && fd != dirfd(dir))
            fds.push_back(static_cast<int>(fd));
    }
    closedir(dir);
    for (int fd : fds) close(fd);
    return {};
}

}  // namespace

Result<LayerReport> close_inherited_fds(int keep_fd, int helper_fd) {
    std::vector<int> keep;
    for (int fd : {keep_fd, helper_fd}) {
        if (fd >= 3 && std::find(keep.begin(), keep.end(), fd) == keep.end()) keep.push_back(fd);
    }
    std::sort(keep.begin(), keep.end());
    std::string how = "close_range";
    int rc = 0;
    unsigned first = 3;
    for (int fd : keep) {
        if (rc == 0 && static_cast<unsigned>(fd) > first)
            rc = close_range_raw(first, static_cast<unsigned>(fd - 1));
        first = static_cast<unsigned>(fd) + 1;
    }
    if (rc == 0) rc = close_range_raw(first, ~0u);
    if (rc != 0) {
        if (errno != ENOSYS) return fail(std::string("close_range: ") + std::strerror(errno));
        how = "/proc/self/fd walk (no close_range)";
        if (auto st = close_by_listing(keep); !st) return unexpected(st.error());
    }
    if (keep_fd >= 0 && fcntl(keep_fd, F_GETFD) < 0) {
        return fail("bus fd " + std::to_string(keep_fd) + " is not open");
    }
    if (helper_fd >= 0 && fcntl(helper_fd, F_GETFD) < 0) {
        return fail("socket-owner helper fd " + std::to_string(helper_fd) + " is not open");
    }
    std::string kept = "0,1,2";
    if (keep_fd >= 0) kept += "," + std::to_string(keep_fd) + " (bus)";
    if (helper_fd >= 0) kept += "," + std::to_string(helper_fd) + " (socket-owner helper)";
    return applied("fds", "closed every descriptor except " + kept + " via " + how);
}

}  // namespace daemoneye::launcher::sandbox
