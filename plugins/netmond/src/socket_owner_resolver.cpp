#include "socket_owner_resolver.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace daemoneye::netmond {
namespace {

bool parse_pid(const char* s, uint32_t& pid) {
    if (*s == '\0') return false;
    uint64_t v = 0;
    for (; *s; ++s) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + static_cast<uint64_t>(*s - '0');
        if (v > UINT32_MAX) return false;
    }
    pid = static_cast<uint32_t>(v);
    return true;
}

// "socket:[12345]" -> 12345
bool parse_socket_link(const char* link, size_t len, uint64_t& inode) {
    constexpr char kPrefix[] = "socket:[";
    constexpr size_t kPrefixLen = sizeof kPrefix - 1;
    if (len <= kPrefixLen + 1 || std::memcmp(link, kPrefix, kPrefixLen) != 0 ||
        link[len - 1] != ']')
        return false;
    uint64_t v = 0;
    for (size_t i = kPrefixLen; i + 1 < len; ++i) {
        if (link[i] < '0' || link[i] > '9') return false;
        v = v * 10 + static_cast<uint64_t>(link[i] - '0');
    }
    inode = v;
    return true;
}

}  // namespace

SocketOwnerResolver::SocketOwnerResolver(std::string proc_root, HostLookup host)
    : proc_root_(std::move(proc_root)), host_(std::move(host)) {}

std::shared_ptr<const ProcessRef> SocketOwnerResolver::owner(uint64_t inode) const {
    const auto it = owners_.find(inode);
    return it == owners_.end() ? nullptr : it->second;
}

void SocketOwnerResolver::refresh(const std::vector<uint64_t>& inodes) {
    // Forget sockets that are gone, and owners that exited (their sockets may live on in a child).
    std::unordered_set<uint64_t> current(inodes.begin(), inodes.end());
    current.erase(0);
    std::unordered_map<uint32_t, bool> alive;
    for (auto it = owners_.begin(); it != owners_.end();) {
        bool drop = !current.contains(it->first);
        if (!drop) {
            const uint32_t pid = it->second->pid;
            auto [a, inserted] = alive.try_emplace(pid, false);
            if (inserted) {
                const std::string p = proc_root_ + "/" + std::to_string(pid);
                struct stat st;
                a->second = ::stat(p.c_str(), &st) == 0;
            }
            drop = !a->second;
        }
        it = drop ? owners_.erase(it) : std::next(it);
    }
    for (auto it = unowned_.begin(); it != unowned_.end();)
        it = current.contains(it->first) ? std::next(it) : unowned_.erase(it);

    std::unordered_set<uint64_t> missing;
    bool worth_walking = false;
    for (uint64_t inode : current) {
        if (owners_.contains(inode)) continue;
        const auto u = unowned_.find(inode);
        if (u == unowned_.end() || u->second < 2) worth_walking = true;
        missing.insert(inode);
    }
    if (!worth_walking) return;
    if (!host_ || !ask_host(missing)) walk(missing);
    for (uint64_t inode : missing) ++unowned_[inode];  // whatever the walk did not find
    for (const auto& [inode, ref] : owners_) unowned_.erase(inode);
}

void SocketOwnerResolver::walk(std::unordered_set<uint64_t>& missing) {
    ++stats_.walks;
    stats_.pids_unreadable = 0;
    stats_.fds_examined = 0;
    DIR* proc = ::opendir(proc_root_.c_str());
    if (proc == nullptr) return;
    const int proc_fd = ::dirfd(proc);
    char link[64];
    while (!missing.empty()) {
        const dirent* de = ::readdir(proc);
        if (de == nullptr) break;
        uint32_t pid;
        if (!parse_pid(de->d_name, pid)) continue;
        const std::string fd_dir = std::string(de->d_name) + "/fd";
        const int dfd = ::openat(proc_fd, fd_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            if (errno == ENOENT || errno == ESRCH)
                ++stats_.pids_vanished;
            else
                ++stats_.pids_unreadable;
            continue;
        }
        DIR* fds = ::fdopendir(dfd);
        if (fds == nullptr) {
            ::close(dfd);
            continue;
        }
        std::shared_ptr<const ProcessRef> ref;
        while (const dirent* fe = ::readdir(fds)) {
            if (fe->d_name[0] == '.') continue;
            ++stats_.fds_examined;
            const ssize_t n = ::readlinkat(dfd, fe->d_name, link, sizeof link);
            uint64_t inode;
            if (n <= 0 || !parse_socket_link(link, static_cast<size_t>(n), inode)) continue;
            const auto it = missing.find(inode);
            if (it == missing.end()) continue;
            if (!ref) ref = describe(pid);
            owners_.emplace(inode, ref);
            missing.erase(it);
            if (missing.empty()) break;
        }
        ::closedir(fds);
    }
    ::closedir(proc);
}

bool SocketOwnerResolver::ask_host(std::unordered_set<uint64_t>& missing) {
    ++stats_.walks;
    ++stats_.host_lookups;
    stats_.pids_unreadable = 0;
    stats_.fds_examined = 0;
    const std::vector<uint64_t> wanted(missing.begin(), missing.end());
    std::vector<HostOwner> found;
    if (!host_(wanted, found)) {
        ++stats_.host_failures;
        --stats_.walks;  // walk() counts the fallback
        return false;
    }
    // One ProcessRef per pid, shared by its sockets (as the walk does).
    std::unordered_map<uint32_t, std::shared_ptr<const ProcessRef>> refs;
    for (auto& o : found) {
        const auto it = missing.find(o.inode);
        if (it == missing.end() || o.pid == 0) continue;  // not asked for, or answered twice
        auto& ref = refs[o.pid];
        if (!ref) {
            auto p = std::make_shared<ProcessRef>();
            p->pid = o.pid;
            p->name = std::move(o.comm);
            p->exe = std::move(o.exe);
            ref = std::move(p);
        }
        owners_.emplace(o.inode, ref);
        missing.erase(it);
    }
    return true;
}

std::shared_ptr<const ProcessRef> SocketOwnerResolver::describe(uint32_t pid) {
    auto ref = std::make_shared<ProcessRef>();
    ref->pid = pid;
    const std::string base = proc_root_ + "/" + std::to_string(pid);
    if (const int fd = ::open((base + "/comm").c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
        char buf[64];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        ::close(fd);
        if (n > 0) {
            ref->name.assign(buf, static_cast<size_t>(n));
            while (!ref->name.empty() && ref->name.back() == '\n') ref->name.pop_back();
        }
    }
    char exe[4096];
    const ssize_t n = ::readlink((base + "/exe").c_str(), exe, sizeof exe);
    if (n > 0) ref->exe.assign(exe, static_cast<size_t>(n));
    return ref;
}

}  // namespace daemoneye::netmond
