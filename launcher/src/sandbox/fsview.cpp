// The filesystem view for sandboxes that cannot use Landlock (proc.read, net.read): a private
// mount namespace whose root is a small tmpfs holding read-only bind mounts of only what the
// launcher and the plugin need. The host's procfs is bound whole, so /proc/<pid>/{exe,fd/*}
// magic links keep working (they resolve without a path lookup: the files need not be visible).
//
// Steps (root only, before the user switch; the process is single-threaded):
//   unshare(CLONE_NEWNS); "/" rprivate (nothing propagates to or from the host);
//   tmpfs on /tmp; pivot_root into it with the old root at /oldroot (pivot_root moves the tmpfs
//   away from the old /tmp, so every host path, /tmp included, is reachable under /oldroot);
//   recreate symlinks / bind read-only each needed path from /oldroot; detach /oldroot;
//   remount the new root read-only.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "daemoneye/launcher/sandbox/layers.hpp"

namespace daemoneye::launcher::sandbox {
namespace {

constexpr const char* kOldRoot = "/oldroot";

std::string errno_text(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

// mkdir -p inside the new root (paths are absolute, already in the new root's namespace).
Status make_dirs(const std::string& path) {
    std::string cur;
    std::size_t pos = 1;
    while (pos <= path.size()) {
        std::size_t next = path.find('/', pos);
        if (next == std::string::npos) next = path.size();
        cur = path.substr(0, next);
        struct stat st {};
        if (!cur.empty() && lstat(cur.c_str(), &st) != 0 && mkdir(cur.c_str(), 0755) != 0 &&
            errno != EEXIST) {
            return fail(errno_text("mkdir " + cur));
        }
        pos = next + 1;
    }
    return {};
}

Status bind_read_only(const std::string& source, const std::string& target, bool recursive) {
    unsigned long flags = MS_BIND;
    if (recursive) flags |= MS_REC;
    if (mount(source.c_str(), target.c_str(), nullptr, flags, nullptr) != 0) {
        return fail(errno_text("bind " + source + " -> " + target));
    }
    // The read-only flag of a bind mount is set by a separate remount (of the top mount only;
    // nothing below /proc or /usr is writable for the plugin anyway: seccomp refuses write-opens).
    if (mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID,
              nullptr) != 0) {
        return fail(errno_text("remount read-only " + target));
    }
    return {};
}

// Makes host path `source` (absolute, without symlinks before its last component) visible at
// `path` in the new root: a symlink is recreated as a symlink (its target must be made visible by
// another entry, e.g. /lib -> usr/lib), a directory or file is bind-mounted read-only. Absent
// paths are skipped and listed.
Status expose(const std::string& source, const std::string& path, bool recursive,
              std::string& visible, std::string& absent) {
    const std::string host = kOldRoot + source;
    struct stat st {};
    if (lstat(host.c_str(), &st) != 0) {
        absent += (absent.empty() ? "" : ",") + path;
        return {};
    }
    std::string parent = std::filesystem::path(path).parent_path().string();
    if (parent.size() > 1) {
        if (auto s = make_dirs(parent); !s) return s;
    }
    if (S_ISLNK(st.st_mode)) {
        std::vector<char> buf(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
        ssize_t n = readlink(host.c_str(), buf.data(), buf.size() - 1);
        if (n < 0) return fail(errno_text("readlink " + host));
        std::string target(buf.data(), static_cast<std::size_t>(n));
        if (symlink(target.c_str(), path.c_str()) != 0 && errno != EEXIST) {
            return fail(errno_text("symlink " + path + " -> " + target));
        }
        visible += (visible.empty() ? "" : ",") + path + "->" + target;
        return {};
    }
    struct stat existing {};
    if (lstat(path.c_str(), &existing) != 0) {
        if (S_ISDIR(st.st_mode)) {
            if (mkdir(path.c_str(), 0755) != 0) return fail(errno_text("mkdir " + path));
        } else {
            int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0) return fail(errno_text("create mount point " + path));
            close(fd);
        }
    }
    if (auto s = bind_read_only(host, path, recursive); !s) return s;
    visible += (visible.empty() ? "" : ",") + path;
    return {};
}

constexpr const char* kViewTrees[] = {"/proc", "/usr", "/lib", "/lib64"};
constexpr const char* kViewFiles[] = {
    "/etc/ld.so.cache", "/etc/passwd",  "/etc/group", "/etc/nsswitch.conf",     "/etc/localtime",
    "/dev/null",        "/dev/urandom", "/dev/zero",  "/sys/devices/system/cpu"};

}  // namespace

std::vector<std::string> fsview_visible_paths(const FsViewPolicy& policy) {
    std::vector<std::string> out(std::begin(kViewTrees), std::end(kViewTrees));
    out.insert(out.end(), std::begin(kViewFiles), std::end(kViewFiles));
    out.insert(out.end(), policy.read_paths.begin(), policy.read_paths.end());
    out.insert(out.end(), policy.plugin_dirs.begin(), policy.plugin_dirs.end());
    return out;
}

Result<LayerReport> apply_fsview(const FsViewPolicy& policy) {
    struct Entry {
        std::string source;  // host path, resolved before the pivot
        std::string target;
        bool recursive;
    };
    std::vector<Entry> entries;
    auto add = [&](const std::string& source, const std::string& target, bool rec) {
        for (const auto& e : entries) {
            if (e.target == target) return;
        }
        entries.push_back({source, target, rec});
    };
    // /proc first and recursively: the host's procfs with its submounts.
    add("/proc", "/proc", true);
    // Libraries and the loader; symlinked ones (/lib -> usr/lib on merged-/usr systems) become
    // symlinks and resolve through the /usr bind.
    for (const char* p : kViewTrees) {
        if (std::string_view(p) != "/proc") add(p, p, true);
    }
    for (const char* p : kViewFiles) add(p, p, false);
    // Permission paths and the plugin's directory stay at the path the plugin (and the loader,
    // which dlopens the plugin after the sandbox) uses; the bind source is the resolved path,
    // since absolute symlinks on the way would resolve inside the new root after the pivot.
    auto add_resolved = [&](const std::string& p, bool rec) {
        std::error_code ec;
        auto real = std::filesystem::weakly_canonical(p, ec);
        add(ec ? p : real.string(), p, rec);
    };
    for (const auto& p : policy.read_paths) add_resolved(p, true);
    for (const auto& p : policy.plugin_dirs) add_resolved(p, false);

    if (geteuid() != 0) {
        return not_applied("fsview",
                           "not root: a private mount namespace needs CAP_SYS_ADMIN (this "
                           "launcher does not create a user namespace); the plugin sees the "
                           "host's filesystem with its user's rights");
    }
    if (unshare(CLONE_NEWNS) != 0) {
        return not_applied("fsview", errno_text("unshare(CLONE_NEWNS) refused"));
    }
    // From here on a failure leaves the process half-confined: every error is a sandbox failure.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        return fail(errno_text("make / rprivate"));
    }
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0) {
        return fail(errno_text("mount tmpfs on /tmp"));
    }
    if (mkdir("/tmp/oldroot", 0700) != 0) return fail(errno_text("mkdir /tmp/oldroot"));
    if (syscall(SYS_pivot_root, "/tmp", "/tmp/oldroot") != 0) {
        return fail(errno_text("pivot_root /tmp"));
    }
    if (chdir("/") != 0) return fail(errno_text("chdir /"));

    std::string visible;
    std::string absent;
    for (const auto& e : entries) {
        if (auto s = expose(e.source, e.target, e.recursive, visible, absent); !s) {
            return unexpected(s.error());
        }
    }

    if (umount2(kOldRoot, MNT_DETACH) != 0) return fail(errno_text("detach the old root"));
    if (rmdir(kOldRoot) != 0) return fail(errno_text("rmdir /oldroot"));
    if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
              nullptr) != 0) {
        return fail(errno_text("remount / read-only"));
    }
    std::string detail =
        "private mount namespace, root is a read-only tmpfs; visible read-only: " + visible +
        "; the host's root is detached";
    if (!absent.empty()) detail += "; absent on the host, skipped: " + absent;
    return applied("fsview", detail);
}

}  // namespace daemoneye::launcher::sandbox
