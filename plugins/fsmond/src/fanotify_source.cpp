#include "fanotify_source.hpp"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace daemoneye::fsmond {
namespace {

constexpr uint64_t kMask =
    FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_ATTRIB | FAN_RENAME | FAN_ONDIR;

uint64_t fsid_of(const struct statfs& s) {
    uint64_t v;
    static_assert(sizeof s.f_fsid == sizeof v);
    std::memcpy(&v, &s.f_fsid, sizeof v);
    return v;
}

}  // namespace

Outcome<std::unique_ptr<FanotifySource>> FanotifySource::create(const FsmondConfig& config) {
    const int fd =
        ::fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC | FAN_NONBLOCK,
                        O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (fd < 0)
        return Failure{std::string("fanotify_init: ") + std::strerror(errno) +
                       (errno == EPERM ? " (needs CAP_SYS_ADMIN)" : "")};
    std::unique_ptr<FanotifySource> src(new FanotifySource(fd, config));
    for (const auto& root : config.paths) {
        struct stat st;
        if (::stat(root.c_str(), &st) != 0)
            continue;  // absent roots are skipped like in inotify mode
        auto m = src->mark(root);
        if (!m) return Failure{m.error()};
    }
    // open_by_handle_at needs CAP_DAC_READ_SEARCH: check once rather than fail every event.
    if (!src->mount_fds_.empty()) {
        const int mfd = src->mount_fds_.begin()->second;
        // file_handle ends in a flexible array: back it with aligned storage.
        std::vector<uint64_t> storage((sizeof(file_handle) + MAX_HANDLE_SZ + 7) / 8);
        auto* fh = reinterpret_cast<file_handle*>(storage.data());
        fh->handle_bytes = MAX_HANDLE_SZ;
        int mount_id = 0;
        if (::name_to_handle_at(mfd, "", fh, &mount_id, AT_EMPTY_PATH) != 0)
            return Failure{std::string("name_to_handle_at: ") + std::strerror(errno)};
        const int probe = ::open_by_handle_at(mfd, fh, O_PATH | O_CLOEXEC);
        if (probe < 0)
            return Failure{std::string("open_by_handle_at: ") + std::strerror(errno) +
                           (errno == EPERM ? " (needs CAP_DAC_READ_SEARCH)" : "")};
        ::close(probe);
    }
    return src;
}

FanotifySource::FanotifySource(int fd, const FsmondConfig& config)
    : fd_(fd), config_(config), buf_(256 * 1024) {}

FanotifySource::~FanotifySource() {
    for (const auto& [fsid, mfd] : mount_fds_) ::close(mfd);
    if (fd_ >= 0) ::close(fd_);
}

Outcome<bool> FanotifySource::mark(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Failure{path + ": " + std::strerror(errno)};
    if (marked_devs_.contains(st.st_dev)) return true;
    if (::fanotify_mark(fd_, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kMask, AT_FDCWD, path.c_str()) !=
        0)
        return Failure{"fanotify_mark FAN_MARK_FILESYSTEM " + path + ": " + std::strerror(errno)};
    const int mfd =
        ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
    struct statfs sfs;
    if (mfd < 0 || ::fstatfs(mfd, &sfs) != 0) {
        if (mfd >= 0) ::close(mfd);
        return Failure{"open " + path + ": " + std::strerror(errno)};
    }
    if (!mount_fds_.try_emplace(fsid_of(sfs), mfd).second) ::close(mfd);
    marked_devs_[st.st_dev] = true;
    ++stats_.watches;
    return true;
}

void FanotifySource::watch_dir(const std::string& dir) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || marked_devs_.contains(st.st_dev)) return;
    if (auto m = mark(dir); !m) {  // a mount below a root on another filesystem
        ++stats_.watch_failures;
        stats_.last_error = m.error();
    }
}

bool FanotifySource::resolve(const FanotifyName& n, std::string& path) {
    const auto m = mount_fds_.find(n.fsid);
    if (m == mount_fds_.end() || n.handle.size() < 8) return false;
    std::vector<uint8_t> copy(n.handle);  // file_handle must be aligned for the syscall
    copy.resize(std::max<size_t>(copy.size(), sizeof(file_handle)));
    std::vector<uint64_t> aligned((copy.size() + 7) / 8);
    std::memcpy(aligned.data(), copy.data(), copy.size());
    const int dfd = ::open_by_handle_at(m->second, reinterpret_cast<file_handle*>(aligned.data()),
                                        O_PATH | O_CLOEXEC);
    if (dfd < 0) return false;  // the directory is already gone
    char buf[4096];
    const std::string self = "/proc/self/fd/" + std::to_string(dfd);
    const ssize_t len = ::readlink(self.c_str(), buf, sizeof buf);
    ::close(dfd);
    if (len <= 0 || static_cast<size_t>(len) >= sizeof buf) return false;
    path.assign(buf, static_cast<size_t>(len));
    if (!n.name.empty() && n.name != ".") path = (path == "/" ? "" : path) + "/" + n.name;
    return true;
}

bool FanotifySource::wanted(const std::string& path) const {
    if (config_.excluded(path)) return false;
    for (const auto& root : config_.paths) {
        if (path == root) return true;
        if (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
            path[root.size()] == '/')
            return config_.recursive || path.find('/', root.size() + 1) == std::string::npos;
    }
    return false;
}

void FanotifySource::read(std::vector<Change>& out, Clock::time_point) {
    for (;;) {
        const ssize_t n = ::read(fd_, buf_.data(), buf_.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN)
                stats_.last_error = std::string("read fanotify: ") + std::strerror(errno);
            return;
        }
        if (n == 0) return;
        const auto decoded = decode_fanotify({buf_.data(), static_cast<size_t>(n)});
        stats_.malformed += decoded.malformed;
        if (!decoded.first_error.empty()) stats_.last_error = decoded.first_error;
        for (const auto& rec : decoded.records) {
            if (rec.fd >= 0) ::close(rec.fd);
            handle(rec, out);
        }
    }
}

void FanotifySource::handle(const FanotifyRecord& rec, std::vector<Change>& out) {
    if (rec.mask & FAN_Q_OVERFLOW) {
        ++stats_.overflows;
        Change c;
        c.kind = events::v1::FILE_EVENT_KIND_OVERFLOW;
        c.detail = "fanotify queue overflowed; events were lost, rescanning the watched paths";
        out.push_back(std::move(c));
        return;
    }
    const bool is_dir = (rec.mask & FAN_ONDIR) != 0;
    if (rec.mask & FAN_RENAME) {
        std::string from, to;
        bool from_ok = false, to_ok = false;
        for (const auto& n : rec.names) {
            if (n.info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME)
                from_ok = resolve(n, from) && wanted(from);
            if (n.info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)
                to_ok = resolve(n, to) && wanted(to);
        }
        Change c;
        c.is_dir = is_dir;
        if (from_ok && to_ok) {
            c.kind = events::v1::FILE_EVENT_KIND_MOVED;
            c.path = to;
            c.old_path = from;
        } else if (from_ok) {
            c.kind = events::v1::FILE_EVENT_KIND_DELETED;
            c.path = from;
            c.detail = "moved out of the watched paths";
        } else if (to_ok) {
            c.kind = events::v1::FILE_EVENT_KIND_CREATED;
            c.path = to;
            c.detail = "moved in from outside the watched paths";
        } else {
            return;
        }
        out.push_back(std::move(c));
        return;
    }
    std::string path;
    bool ok = false;
    for (const auto& n : rec.names)
        if (n.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) ok = resolve(n, path);
    if (!ok || !wanted(path)) return;
    Change c;
    c.path = std::move(path);
    c.is_dir = is_dir;
    if (rec.mask & FAN_CREATE)
        c.kind = events::v1::FILE_EVENT_KIND_CREATED;
    else if (rec.mask & FAN_DELETE)
        c.kind = events::v1::FILE_EVENT_KIND_DELETED;
    else if (rec.mask & FAN_MODIFY)
        c.kind = events::v1::FILE_EVENT_KIND_MODIFIED;
    else if (rec.mask & FAN_ATTRIB)
        c.kind = events::v1::FILE_EVENT_KIND_ATTRIB;
    else
        return;
    if (c.is_dir && c.kind == events::v1::FILE_EVENT_KIND_MODIFIED) return;
    out.push_back(std::move(c));
}

SourceStats FanotifySource::stats() const {
    return stats_;
}

}  // namespace daemoneye::fsmond
