// Interposes the libc file-open entry points for the plugin (and everything else in the process
// that calls them through the PLT, libstdc++'s filebuf included). Linked into the executable only,
// which exports its symbols (ENABLE_EXPORTS): the executable comes first in the global lookup
// scope, so the dlopen'ed plugin's references to open/fopen/... bind here. Each wrapper calls the
// real function (dlsym(RTLD_NEXT)) and hands a failure to sandbox::note_fs_denial(), which counts
// it only when the sandbox's filesystem layer caused it. glibc's internal opens (inside fopen,
// the loader's own) do not go through the PLT and are not seen, so nothing is counted twice.
// Raw syscall(SYS_openat, ...) bypasses this: still denied by the kernel, just not reported.
// The fortified headers define open/openat as inline wrappers, which these definitions replace.
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "daemoneye/launcher/sandbox/violations.hpp"

namespace {

template <typename Fn>
Fn real(std::atomic<void*>& cache, const char* name) {
    void* p = cache.load(std::memory_order_acquire);
    if (p == nullptr) {
        p = dlsym(RTLD_NEXT, name);
        cache.store(p, std::memory_order_release);
    }
    return reinterpret_cast<Fn>(p);
}

bool needs_mode(int flags) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

template <typename Fn, typename... Args>
int call_fd(std::atomic<void*>& cache, const char* name, const char* path, Args... args) {
    auto fn = real<Fn>(cache, name);
    if (fn == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    int fd = fn(args...);
    if (fd < 0) daemoneye::launcher::sandbox::note_fs_denial(name, path, errno);
    return fd;
}

template <typename Fn>
FILE* call_file(std::atomic<void*>& cache, const char* name, const char* path, const char* mode) {
    auto fn = real<Fn>(cache, name);
    if (fn == nullptr) {
        errno = ENOSYS;
        return nullptr;
    }
    FILE* f = fn(path, mode);
    if (f == nullptr) daemoneye::launcher::sandbox::note_fs_denial(name, path, errno);
    return f;
}

std::atomic<void*> g_open{nullptr}, g_open64{nullptr}, g_openat{nullptr}, g_openat64{nullptr},
    g_open_2{nullptr}, g_open64_2{nullptr}, g_openat_2{nullptr}, g_openat64_2{nullptr},
    g_fopen{nullptr}, g_fopen64{nullptr};

using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using Open2Fn = int (*)(const char*, int);
using Openat2Fn = int (*)(int, const char*, int);
using FopenFn = FILE* (*)(const char*, const char*);

}  // namespace

#define DE_MODE_ARG(last)                            \
    mode_t mode = 0;                                 \
    if (needs_mode(flags)) {                         \
        va_list ap;                                  \
        va_start(ap, last);                          \
        mode = static_cast<mode_t>(va_arg(ap, int)); \
        va_end(ap);                                  \
    }

extern "C" {

__attribute__((visibility("default"))) int open(const char* path, int flags, ...) {
    DE_MODE_ARG(flags)
    return call_fd<OpenFn>(g_open, "open", path, path, flags, mode);
}

__attribute__((visibility("default"))) int open64(const char* path, int flags, ...) {
    DE_MODE_ARG(flags)
    return call_fd<OpenFn>(g_open64, "open64", path, path, flags, mode);
}

__attribute__((visibility("default"))) int openat(int dirfd, const char* path, int flags, ...) {
    DE_MODE_ARG(flags)
    return call_fd<OpenatFn>(g_openat, "openat", path, dirfd, path, flags, mode);
}

__attribute__((visibility("default"))) int openat64(int dirfd, const char* path, int flags, ...) {
    DE_MODE_ARG(flags)
    return call_fd<OpenatFn>(g_openat64, "openat64", path, dirfd, path, flags, mode);
}

// _FORTIFY_SOURCE entry points (flags without O_CREAT, so no mode).
__attribute__((visibility("default"))) int __open_2(const char* path, int flags) {
    return call_fd<Open2Fn>(g_open_2, "__open_2", path, path, flags);
}

__attribute__((visibility("default"))) int __open64_2(const char* path, int flags) {
    return call_fd<Open2Fn>(g_open64_2, "__open64_2", path, path, flags);
}

__attribute__((visibility("default"))) int __openat_2(int dirfd, const char* path, int flags) {
    return call_fd<Openat2Fn>(g_openat_2, "__openat_2", path, dirfd, path, flags);
}

__attribute__((visibility("default"))) int __openat64_2(int dirfd, const char* path, int flags) {
    return call_fd<Openat2Fn>(g_openat64_2, "__openat64_2", path, dirfd, path, flags);
}

__attribute__((visibility("default"))) FILE* fopen(const char* path, const char* mode) {
    return call_file<FopenFn>(g_fopen, "fopen", path, mode);
}

__attribute__((visibility("default"))) FILE* fopen64(const char* path, const char* mode) {
    return call_file<FopenFn>(g_fopen64, "fopen64", path, mode);
}

}  // extern "C"
