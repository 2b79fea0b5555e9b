#include "fs_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace daemoneye::agent {

std::string errno_text(int err) {
    return std::strerror(err);
}

Status ensure_dir(const std::filesystem::path& dir, mode_t mode) {
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return {};
    if (dir.has_parent_path() && dir.parent_path() != dir) {
        if (auto s = ensure_dir(dir.parent_path(), 0755); !s) return s;
    }
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
        return fail("cannot create directory " + dir.string() + ": " + errno_text(errno));
    }
    return {};
}

Status ensure_private_dir(const std::filesystem::path& dir) {
    if (dir.has_parent_path()) {
        if (auto s = ensure_dir(dir.parent_path()); !s) return s;
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return fail("cannot create directory " + dir.string() + ": " + errno_text(errno));
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        return fail("cannot stat " + dir.string() + ": " + errno_text(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return fail(dir.string() + " exists but is not a directory (symlinks are refused)");
    }
    if (st.st_uid != ::geteuid()) {
        return fail(dir.string() + " is owned by uid " + std::to_string(st.st_uid) +
                    ", not by this user (uid " + std::to_string(::geteuid()) + ")");
    }
    if ((st.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0) {
        return fail("cannot chmod 0700 " + dir.string() + ": " + errno_text(errno));
    }
    return {};
}

Status write_file_atomic(const std::filesystem::path& path, const std::string& contents,
                         mode_t mode) {
    std::string tmpl = (path.parent_path() / ("." + path.filename().string() + ".XXXXXX")).string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0)
        return fail("cannot create a temporary file next to " + path.string() + ": " +
                    errno_text(errno));
    std::size_t off = 0;
    while (off < contents.size()) {
        ssize_t n = ::write(fd, contents.data() + off, contents.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            ::close(fd);
            ::unlink(tmpl.c_str());
            return fail("cannot write " + tmpl + ": " + errno_text(err));
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
        int err = errno;
        ::close(fd);
        ::unlink(tmpl.c_str());
        return fail("cannot finish " + tmpl + ": " + errno_text(err));
    }
    ::close(fd);
    if (::rename(tmpl.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmpl.c_str());
        return fail("cannot rename " + tmpl + " to " + path.string() + ": " + errno_text(err));
    }
    return {};
}

}  // namespace daemoneye::agent
