#include "inotify_source.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace daemoneye::fsmond {
namespace {

constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM |
                                IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW |
                                IN_EXCL_UNLINK;

std::string join(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string max_queued_events() {
    std::ifstream f("/proc/sys/fs/inotify/max_queued_events");
    std::string v;
    std::getline(f, v);
    return v.empty() ? "?" : v;
}

}  // namespace

Outcome<std::unique_ptr<InotifySource>> InotifySource::create(
    const FsmondConfig& config,
    std::function<void(const std::string&, std::vector<Change>&)> walk_new_dir) {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return Failure{std::string("inotify_init1: ") + std::strerror(errno)};
    return std::unique_ptr<InotifySource>(new InotifySource(fd, config, std::move(walk_new_dir)));
}

InotifySource::InotifySource(
    int fd, const FsmondConfig& config,
    std::function<void(const std::string&, std::vector<Change>&)> walk_new_dir)
    : fd_(fd), config_(config), walk_new_dir_(std::move(walk_new_dir)), buf_(256 * 1024) {}

InotifySource::~InotifySource() {
    if (fd_ >= 0) ::close(fd_);
}

bool InotifySource::is_root(const std::string& path) const {
    for (const auto& r : config_.paths)
        if (r == path) return true;
    return false;
}

void InotifySource::watch_dir(const std::string& dir) {
    const int wd = ::inotify_add_watch(fd_, dir.c_str(), kWatchMask);
    if (wd < 0) {
        if (errno == ENOENT) return;  // gone before we got there: its parent reports the delete
        ++stats_.watch_failures;
        stats_.last_error = "inotify_add_watch " + dir + ": " + std::strerror(errno) +
                            (errno == ENOSPC ? " (fs.inotify.max_user_watches reached)" : "");
        return;
    }
    // The same directory reached again (rescan) keeps its wd; a recreated one gets a new wd and
    // the old one an IN_IGNORED later.
    if (auto old = path_wd_.find(dir); old != path_wd_.end() && old->second != wd)
        wd_path_.erase(old->second);
    wd_path_[wd] = dir;
    path_wd_[dir] = wd;
}

void InotifySource::forget_subtree(const std::string& dir) {
    auto it = path_wd_.lower_bound(dir);
    const std::string prefix = dir + "/";
    while (it != path_wd_.end() &&
           (it->first == dir || it->first.compare(0, prefix.size(), prefix) == 0)) {
        ::inotify_rm_watch(fd_, it->second);
        wd_path_.erase(it->second);
        it = path_wd_.erase(it);
    }
}

void InotifySource::rename_subtree(const std::string& from, const std::string& to) {
    std::vector<std::pair<std::string, int>> moved;
    auto it = path_wd_.lower_bound(from);
    const std::string prefix = from + "/";
    while (it != path_wd_.end() &&
           (it->first == from || it->first.compare(0, prefix.size(), prefix) == 0)) {
        moved.emplace_back(to + it->first.substr(from.size()), it->second);
        it = path_wd_.erase(it);
    }
    for (auto& [path, wd] : moved) {
        wd_path_[wd] = path;
        path_wd_[path] = wd;
    }
}

void InotifySource::read(std::vector<Change>& out, Clock::time_point now) {
    for (;;) {
        const ssize_t n = ::read(fd_, buf_.data(), buf_.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN)
                stats_.last_error = std::string("read inotify: ") + std::strerror(errno);
            return;
        }
        if (n == 0) return;
        const auto decoded = decode_inotify({buf_.data(), static_cast<size_t>(n)});
        stats_.malformed += decoded.malformed;
        if (!decoded.first_error.empty()) stats_.last_error = decoded.first_error;
        for (const auto& rec : decoded.records) handle(rec, out, now);
    }
}

void InotifySource::handle(const InotifyRecord& rec, std::vector<Change>& out,
                           Clock::time_point now) {
    if (rec.mask & IN_Q_OVERFLOW) {
        ++stats_.overflows;
        Change c;
        c.kind = events::v1::FILE_EVENT_KIND_OVERFLOW;
        c.detail = "inotify queue overflowed (fs.inotify.max_queued_events=" + max_queued_events() +
                   "); events were lost, rescanning the watched paths";
        out.push_back(std::move(c));
        return;
    }
    const auto it = wd_path_.find(rec.wd);
    if (it == wd_path_.end()) return;  // a watch we already dropped
    if (rec.mask & IN_IGNORED) {
        if (auto p = path_wd_.find(it->second); p != path_wd_.end() && p->second == rec.wd)
            path_wd_.erase(p);
        wd_path_.erase(it);
        return;
    }
    const std::string path = rec.name.empty() ? it->second : join(it->second, rec.name);
    const bool is_dir = (rec.mask & IN_ISDIR) != 0;
    const bool excluded = !rec.name.empty() && config_.excluded(path);
    auto change = [&](Kind kind, std::string detail = {}) {
        Change c;
        c.kind = kind;
        c.path = path;
        c.is_dir = is_dir;
        c.detail = std::move(detail);
        out.push_back(std::move(c));
    };

    if (rec.mask & IN_MOVED_TO) {
        const auto m = moves_.find(rec.cookie);
        if (excluded) {
            if (m != moves_.end()) {
                Change c;
                c.kind = events::v1::FILE_EVENT_KIND_DELETED;
                c.path = m->second.path;
                c.is_dir = m->second.is_dir;
                c.detail = "moved to excluded path " + path;
                out.push_back(std::move(c));
                moves_.erase(m);
            }
            return;
        }
        if (m != moves_.end()) {
            Change c;
            c.kind = events::v1::FILE_EVENT_KIND_MOVED;
            c.path = path;
            c.old_path = m->second.path;
            c.is_dir = is_dir;
            if (is_dir) rename_subtree(m->second.path, path);
            out.push_back(std::move(c));
            moves_.erase(m);
        } else {
            change(events::v1::FILE_EVENT_KIND_CREATED, "moved in from outside the watched paths");
            if (is_dir && config_.recursive) walk_new_dir_(path, out);
        }
        return;
    }
    if (excluded) return;
    if (rec.mask & IN_MOVED_FROM) {
        moves_[rec.cookie] = PendingMove{path, is_dir, now};
        return;
    }
    if (rec.mask & IN_CREATE) {
        change(events::v1::FILE_EVENT_KIND_CREATED);
        // Watch first, then list: files created in the new directory before the watch existed
        // are found by the listing (duplicates coalesce by path).
        if (is_dir && config_.recursive) walk_new_dir_(path, out);
        return;
    }
    if (rec.mask & IN_DELETE) {
        change(events::v1::FILE_EVENT_KIND_DELETED);
        if (is_dir) forget_subtree(path);
        return;
    }
    if (rec.mask & IN_MODIFY) {
        if (!is_dir) change(events::v1::FILE_EVENT_KIND_MODIFIED);
        return;
    }
    if (rec.mask & IN_ATTRIB) {
        change(events::v1::FILE_EVENT_KIND_ATTRIB);
        return;
    }
    if ((rec.mask & (IN_DELETE_SELF | IN_MOVE_SELF)) && is_root(path)) {
        change(events::v1::FILE_EVENT_KIND_DELETED,
               rec.mask & IN_DELETE_SELF ? "watched root deleted" : "watched root moved away");
        forget_subtree(path);
    }
}

void InotifySource::tick(std::vector<Change>& out, Clock::time_point now) {
    for (auto it = moves_.begin(); it != moves_.end();) {
        if (now - it->second.since < kMovePairing) {
            ++it;
            continue;
        }
        Change c;
        c.kind = events::v1::FILE_EVENT_KIND_DELETED;
        c.path = it->second.path;
        c.is_dir = it->second.is_dir;
        c.detail = "moved out of the watched paths";
        if (c.is_dir) forget_subtree(c.path);
        out.push_back(std::move(c));
        it = moves_.erase(it);
    }
}

std::optional<Clock::time_point> InotifySource::next_deadline() const {
    std::optional<Clock::time_point> next;
    for (const auto& [cookie, m] : moves_)
        if (!next || m.since + kMovePairing < *next) next = m.since + kMovePairing;
    return next;
}

SourceStats InotifySource::stats() const {
    SourceStats s = stats_;
    s.watches = wd_path_.size();
    return s;
}

}  // namespace daemoneye::fsmond
