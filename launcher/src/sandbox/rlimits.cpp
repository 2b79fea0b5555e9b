#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "daemoneye/launcher/sandbox/layers.hpp"

namespace daemoneye::launcher::sandbox {
namespace {

constexpr rlim_t kMaxOpenFiles = 1024;

Status set_limit(int resource, const char* name, rlim_t value) {
    rlimit current{};
    if (getrlimit(resource, &current) != 0) return fail(std::string("getrlimit ") + name);
    // Never raise: lowering needs no privilege, raising a hard limit would.
    rlimit next{std::min(value, current.rlim_max), std::min(value, current.rlim_max)};
    if (setrlimit(resource, &next) != 0) {
        return fail(std::string("setrlimit ") + name + ": " + std::strerror(errno));
    }
    return {};
}

bool sanitizer_build() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    defined(DAEMONEYE_SANITIZE_THREAD)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

// Largest size among stdout/stderr when they are regular files (a log file the launcher
// appends to must not trip RLIMIT_FSIZE).
off_t largest_output_file() {
    off_t largest = -1;
    for (int fd : {1, 2}) {
        struct stat st {};
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) largest = std::max(largest, st.st_size);
    }
    return largest;
}

}  // namespace

Result<LayerReport> apply_rlimits(std::uint64_t memory_limit_mb) {
    std::string detail;
    if (memory_limit_mb > 0) {
        if (sanitizer_build()) {
            detail += "AS not limited (sanitizer build reserves huge shadow mappings); ";
        } else {
            if (auto st =
                    set_limit(RLIMIT_AS, "RLIMIT_AS", static_cast<rlim_t>(memory_limit_mb) << 20);
                !st) {
                return unexpected(st.error());
            }
            detail += "AS=" + std::to_string(memory_limit_mb) + "MiB ";
        }
    } else {
        detail += "AS unlimited (no memory limit configured) ";
    }
    if (auto st = set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", kMaxOpenFiles); !st)
        return unexpected(st.error());
    if (auto st = set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0); !st) return unexpected(st.error());
    if (auto st = set_limit(RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", 0); !st)
        return unexpected(st.error());
    // The plugin writes no files; a write past the limit fails with EFBIG instead of SIGXFSZ.
    std::signal(SIGXFSZ, SIG_IGN);
    off_t out = largest_output_file();
    rlim_t fsize = out < 0 ? 0 : static_cast<rlim_t>(out) + (rlim_t{256} << 20);
    if (auto st = set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", fsize); !st)
        return unexpected(st.error());
    detail += "NOFILE=" + std::to_string(kMaxOpenFiles) + " CORE=0 MEMLOCK=0 FSIZE=" +
              (out < 0 ? std::string("0") : std::to_string(fsize) + " (stdout/stderr is a file)");
    return applied("rlimits", detail);
}

}  // namespace daemoneye::launcher::sandbox
