#include "fsmond_collector.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fanotify_source.hpp"
#include "inotify_source.hpp"
#include "tree_walker.hpp"

namespace daemoneye::fsmond {

std::string topic_for(Kind kind) {
    switch (kind) {
        case events::v1::FILE_EVENT_KIND_CREATED:
            return "events.filesystem.created";
        case events::v1::FILE_EVENT_KIND_MODIFIED:
            return "events.filesystem.modified";
        case events::v1::FILE_EVENT_KIND_DELETED:
            return "events.filesystem.deleted";
        case events::v1::FILE_EVENT_KIND_MOVED:
            return "events.filesystem.moved";
        case events::v1::FILE_EVENT_KIND_ATTRIB:
            return "events.filesystem.attrib";
        case events::v1::FILE_EVENT_KIND_OVERFLOW:
            return "events.filesystem.overflow";
        default:
            return "events.filesystem.unknown";
    }
}

FsmondCollector::FsmondCollector(CollectorIo io, FsmondConfig config)
    : io_(std::move(io)), config_(std::move(config)), coalescer_(config_.debounce) {}

FsmondCollector::~FsmondCollector() {
    stop();
}

FsmondCollector::Known FsmondCollector::known_from(const struct stat& st) {
    Known k;
    k.inode = st.st_ino;
    k.size = static_cast<uint64_t>(st.st_size);
    k.mtime = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000u +
              static_cast<uint64_t>(st.st_mtim.tv_nsec);
    k.mode = st.st_mode;
    k.uid = st.st_uid;
    k.gid = st.st_gid;
    return k;
}

Outcome<bool> FsmondCollector::start() {
    if (thread_.joinable()) return true;
    std::string why_not_fanotify;
    if (config_.mode != WatchMode::Inotify) {
        auto fan = FanotifySource::create(config_);
        if (fan)
            source_ = std::move(fan.value());
        else
            why_not_fanotify = fan.error();
        if (!source_ && config_.mode == WatchMode::Fanotify)
            return Failure{"mode=fanotify: " + why_not_fanotify};
    }
    if (!source_) {
        auto ino = InotifySource::create(
            config_,
            [this](const std::string& dir, std::vector<Change>& out) { walk_new_dir(dir, out); });
        if (!ino) return Failure{ino.error()};
        source_ = std::move(ino.value());
        if (io_.log && !why_not_fanotify.empty())
            io_.log(DE_LOG_INFO,
                    "fsmond: using inotify; fanotify not available: " + why_not_fanotify);
    }
    {
        std::lock_guard lock(stats_mutex_);
        mode_ = source_->mode_name();
    }
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0) return Failure{std::string("eventfd: ") + std::strerror(errno)};
    closed_ = false;
    thread_ = std::thread([this] { run(); });
    return true;
}

void FsmondCollector::stop() {
    if (thread_.joinable()) {
        const uint64_t one = 1;
        (void)!::write(stop_fd_, &one, sizeof one);
        thread_.join();
    }
    if (stop_fd_ >= 0) {
        ::close(stop_fd_);
        stop_fd_ = -1;
    }
}

bool FsmondCollector::wait_ready(std::chrono::milliseconds timeout) {
    std::unique_lock lock(ready_mutex_);
    return ready_cv_.wait_for(lock, timeout, [this] { return ready_; });
}

std::string FsmondCollector::mode_name() const {
    std::lock_guard lock(stats_mutex_);
    return mode_;
}

void FsmondCollector::initial_walk() {
    for (const auto& root : config_.paths) {
        WalkHooks hooks;
        hooks.excluded = [this](const std::string& p) { return config_.excluded(p); };
        hooks.on_dir = [this](const std::string& d) { source_->watch_dir(d); };
        hooks.on_entry = [this, &root](const std::string& p, const struct stat& st) {
            known_[p] = known_from(st);
            if (p == root && !S_ISDIR(st.st_mode)) source_->watch_dir(p);  // a single-file root
        };
        unreadable_ += walk_tree(root, config_.recursive, hooks).unreadable;
    }
}

void FsmondCollector::walk_new_dir(const std::string& dir, std::vector<Change>& out) {
    WalkHooks hooks;
    hooks.excluded = [this](const std::string& p) { return config_.excluded(p); };
    hooks.on_dir = [this](const std::string& d) { source_->watch_dir(d); };
    hooks.on_entry = [&out, &dir](const std::string& p, const struct stat& st) {
        if (p == dir) return;  // the directory's own CREATED is already queued
        Change c;
        c.kind = events::v1::FILE_EVENT_KIND_CREATED;
        c.path = p;
        c.is_dir = S_ISDIR(st.st_mode);
        c.detail = "found in a new directory";
        out.push_back(std::move(c));
    };
    unreadable_ += walk_tree(dir, true, hooks).unreadable;
}

// After an overflow nothing the kernel queued can be trusted to be complete: walk everything,
// re-place watches, and report the difference to what we knew as changes.
void FsmondCollector::rescan() {
    ++rescans_;
    std::map<std::string, Known> now;
    std::vector<ReadyChange> found;
    for (const auto& root : config_.paths) {
        WalkHooks hooks;
        hooks.excluded = [this](const std::string& p) { return config_.excluded(p); };
        hooks.on_dir = [this](const std::string& d) { source_->watch_dir(d); };
        hooks.on_entry = [&](const std::string& p, const struct stat& st) {
            const Known k = known_from(st);
            now[p] = k;
            Change c;
            c.path = p;
            c.is_dir = S_ISDIR(st.st_mode);
            c.detail = "found by the rescan after a queue overflow";
            const auto it = known_.find(p);
            if (it == known_.end() || it->second.inode != k.inode)
                c.kind = events::v1::FILE_EVENT_KIND_CREATED;
            else if (!c.is_dir && (it->second.size != k.size || it->second.mtime != k.mtime))
                c.kind = events::v1::FILE_EVENT_KIND_MODIFIED;
            else if (it->second.mode != k.mode || it->second.uid != k.uid ||
                     it->second.gid != k.gid)
                c.kind = events::v1::FILE_EVENT_KIND_ATTRIB;
            else
                return;
            found.push_back({std::move(c), 1});
        };
        unreadable_ += walk_tree(root, config_.recursive, hooks).unreadable;
    }
    for (const auto& [p, k] : known_) {
        if (now.contains(p)) continue;
        Change c;
        c.kind = events::v1::FILE_EVENT_KIND_DELETED;
        c.path = p;
        c.is_dir = S_ISDIR(k.mode);
        c.detail = "found by the rescan after a queue overflow";
        found.push_back({std::move(c), 1});
    }
    known_ = std::move(now);
    for (auto& rc : found) publish(rc);
}

void FsmondCollector::emit(const std::string& topic, const std::string& bytes) {
    if (closed_) return;
    switch (io_.emit(topic.c_str(), kFileEventType, bytes)) {
        case DE_OK:
            ++emitted_;
            break;
        case DE_ERR_BACKPRESSURE:
            ++dropped_;
            break;
        case DE_ERR_CLOSED:
            closed_ = true;
            break;
        default:
            ++errors_;
            break;
    }
}

void FsmondCollector::publish(ReadyChange& rc) {
    const Change& c = rc.change;
    events::v1::FileEvent ev;
    ev.set_kind(c.kind);
    ev.set_coalesced(rc.coalesced);
    ev.set_observed_unix_nanos(io_.now_unix_nanos ? io_.now_unix_nanos() : 0);
    ev.set_old_path(c.old_path);
    ev.set_detail(c.detail);
    auto* info = ev.mutable_file();
    if (c.kind == events::v1::FILE_EVENT_KIND_DELETED) {
        info->set_path(c.path);
        info->set_is_dir(c.is_dir);
        // What the file was, as last seen.
        if (const auto it = known_.find(c.path); it != known_.end()) {
            info->set_size(it->second.size);
            info->set_mode(it->second.mode);
            info->set_uid(it->second.uid);
            info->set_gid(it->second.gid);
            info->set_mtime_unix_nanos(it->second.mtime);
        }
        known_.erase(c.path);
        const std::string prefix = c.path + "/";
        for (auto it = known_.lower_bound(prefix);
             it != known_.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
            it = known_.erase(it);
    } else if (c.kind != events::v1::FILE_EVENT_KIND_OVERFLOW) {
        const bool hash = c.kind == events::v1::FILE_EVENT_KIND_MODIFIED ||
                          c.kind == events::v1::FILE_EVENT_KIND_CREATED ||
                          c.kind == events::v1::FILE_EVENT_KIND_MOVED;
        const FileFacts f = inspect_file(c.path, hash ? config_.hash_max_bytes : 0);
        fill_file_info(c.path, f, *info);
        if (!f.sha256.empty()) ++hashed_;
        if (!f.exists) {
            // Gone before we looked (a burst that ended in a delete reports that delete next).
            info->set_is_dir(c.is_dir);
            if (ev.detail().empty()) ev.set_detail("vanished before it could be examined");
        } else if (!f.error.empty() && ev.detail().empty()) {
            ev.set_detail(f.error);
        }
        if (c.kind == events::v1::FILE_EVENT_KIND_MOVED) {
            const std::string from = c.old_path, from_prefix = c.old_path + "/";
            std::vector<std::pair<std::string, Known>> moved;
            if (auto it = known_.find(from); it != known_.end()) known_.erase(it);
            for (auto it = known_.lower_bound(from_prefix);
                 it != known_.end() &&
                 it->first.compare(0, from_prefix.size(), from_prefix) == 0;) {
                moved.emplace_back(c.path + it->first.substr(from.size()), it->second);
                it = known_.erase(it);
            }
            for (auto& [p, k] : moved) known_[p] = k;
        }
        if (f.exists) {
            Known& k = known_[c.path];
            k.inode = f.inode;
            k.size = f.size;
            k.mtime = f.mtime_unix_nanos;
            k.mode = f.mode;
            k.uid = f.uid;
            k.gid = f.gid;
        }
    }
    emit(topic_for(c.kind), ev.SerializeAsString());
    std::lock_guard lock(ring_mutex_);
    ring_.push_back(std::move(ev));
    while (ring_.size() > config_.recent_capacity) ring_.pop_front();
}

void FsmondCollector::run() {
    initial_walk();
    {
        std::lock_guard lock(stats_mutex_);
        source_stats_ = source_->stats();
    }
    {
        std::lock_guard lock(ready_mutex_);
        ready_ = true;
    }
    ready_cv_.notify_all();

    std::vector<Change> changes;
    std::vector<ReadyChange> ready;
    for (;;) {
        int timeout_ms = -1;
        auto next = coalescer_.next_deadline();
        if (auto s = source_->next_deadline(); s && (!next || *s < *next)) next = s;
        if (next) {
            const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - Clock::now());
            timeout_ms = static_cast<int>(std::max<int64_t>(0, wait.count()));
        }
        pollfd fds[2] = {{source_->fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        const int n = ::poll(fds, 2, timeout_ms);
        if (n < 0 && errno != EINTR) {
            ++errors_;
            break;
        }
        if (fds[1].revents & POLLIN) break;
        const auto now = Clock::now();
        changes.clear();
        if (n > 0 && (fds[0].revents & POLLIN)) source_->read(changes, now);
        source_->tick(changes, now);
        raw_changes_ += changes.size();
        bool overflowed = false;
        ready.clear();
        for (auto& c : changes) {
            overflowed = overflowed || c.kind == events::v1::FILE_EVENT_KIND_OVERFLOW;
            coalescer_.add(std::move(c), now, ready);
        }
        coalescer_.flush_due(now, ready);
        for (auto& rc : ready) publish(rc);
        if (overflowed) rescan();
        std::lock_guard lock(stats_mutex_);
        source_stats_ = source_->stats();
    }
    // Whatever is still being debounced is reported, not dropped, on the way out.
    ready.clear();
    coalescer_.flush_all(ready);
    for (auto& rc : ready) publish(rc);
}

Outcome<events::v1::FileInfo> FsmondCollector::stat_path(
    const std::map<std::string, std::string>& params) const {
    std::string path;
    for (const auto& [k, v] : params) {
        if (k == "path")
            path = v;
        else
            return Failure{"task parameter '" + k + "': unknown (stat_path takes path)"};
    }
    if (path.empty() || path[0] != '/')
        return Failure{"task parameter 'path': expected an absolute path"};
    const FileFacts f = inspect_file(path, config_.hash_max_bytes);
    if (!f.exists) return Failure{"not found: " + path + ": " + f.error};
    events::v1::FileInfo info;
    fill_file_info(path, f, info);
    return info;
}

Outcome<std::vector<events::v1::FileEvent>> FsmondCollector::recent_changes(
    const std::map<std::string, std::string>& params) const {
    std::string prefix;
    size_t limit = 100;
    for (const auto& [k, v] : params) {
        if (k == "path") {
            prefix = v;
            while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
        } else if (k == "limit") {
            char* end = nullptr;
            const unsigned long n = std::strtoul(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || n == 0 || n > 1000000)
                return Failure{"task parameter 'limit': expected 1..1000000, got '" + v + "'"};
            limit = n;
        } else {
            return Failure{"task parameter '" + k +
                           "': unknown (recent_changes takes path, limit)"};
        }
    }
    auto under = [&prefix](const std::string& p) {
        return prefix.empty() || prefix == "/" || p == prefix ||
               (p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0 &&
                p[prefix.size()] == '/');
    };
    std::vector<events::v1::FileEvent> out;
    std::lock_guard lock(ring_mutex_);
    for (auto it = ring_.rbegin(); it != ring_.rend() && out.size() < limit; ++it)
        if (it->kind() == events::v1::FILE_EVENT_KIND_OVERFLOW || under(it->file().path()) ||
            under(it->old_path()))
            out.push_back(*it);
    std::reverse(out.begin(), out.end());  // oldest first
    return out;
}

CollectorHealth FsmondCollector::health() const {
    CollectorHealth h;
    SourceStats s;
    std::string mode;
    {
        std::lock_guard lock(stats_mutex_);
        s = source_stats_;
        mode = mode_;
    }
    const bool partial = unreadable_ > 0 || s.watch_failures > 0;
    h.errors = errors_ + s.malformed + s.watch_failures;
    h.state = s.watch_failures > 0 ? DE_HEALTH_DEGRADED : DE_HEALTH_HEALTHY;
    std::string paths;
    for (const auto& p : config_.paths) paths += (paths.empty() ? "" : ",") + p;
    h.detail =
        "mode=" + (mode.empty() ? std::string("stopped") : mode) +
        "\nview=" + (partial ? "partial" : "full") + "\neuid=" + std::to_string(::geteuid()) +
        "\npaths=" + paths + "\nwatches=" + std::to_string(s.watches) +
        "\nraw_changes=" + std::to_string(raw_changes_) + "\nemitted=" + std::to_string(emitted_) +
        "\ndropped=" + std::to_string(dropped_) + "\nerrors=" + std::to_string(h.errors) +
        "\noverflows=" + std::to_string(s.overflows) + "\nrescans=" + std::to_string(rescans_) +
        "\nunreadable=" + std::to_string(unreadable_) +
        "\nwatch_failures=" + std::to_string(s.watch_failures) +
        "\nhashed=" + std::to_string(hashed_);
    if (!s.last_error.empty()) h.detail += "\nlast_error=" + s.last_error;
    return h;
}

}  // namespace daemoneye::fsmond
