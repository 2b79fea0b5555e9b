#include "daemoneye/launcher/sandbox/violations.hpp"

#include <seccomp.h>
#include <signal.h>
#include <ucontext.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>

namespace daemoneye::launcher::sandbox {
namespace {

constexpr int kMaxSyscall = 1024;
std::array<std::atomic<std::uint64_t>, kMaxSyscall> g_counts{};
std::atomic<std::uint64_t> g_out_of_range{0};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the SIGSYS handler needs lock-free counters");

#ifndef SYS_SECCOMP
constexpr int SYS_SECCOMP = 1;
#endif

void on_sigsys(int /*sig*/, siginfo_t* info, void* context) {
    // A SIGSYS somebody raised by hand is not a seccomp trap: leave it alone.
    if (info == nullptr || info->si_code != SYS_SECCOMP || context == nullptr) return;
    int nr = info->si_syscall;
    if (nr >= 0 && nr < kMaxSyscall) {
        g_counts[static_cast<std::size_t>(nr)].fetch_add(1, std::memory_order_relaxed);
    } else {
        g_out_of_range.fetch_add(1, std::memory_order_relaxed);
    }
    auto* uc = static_cast<ucontext_t*>(context);
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
    uc->uc_mcontext.regs[0] = static_cast<unsigned long long>(-EPERM);
#else
#error "set the syscall return register for this architecture"
#endif
}

// Filesystem denials: a small table keyed by (call, path, errno), behind a mutex (opens are not on
// a signal path). Past kMaxFsEntries distinct keys, denials are counted under call "open", path
// "*".
constexpr std::size_t kMaxFsEntries = 64;
constexpr std::size_t kMaxPath = 255;
struct FsEntry {
    const char* call = nullptr;
    char path[kMaxPath + 1] = {};
    int err = 0;
    std::uint64_t count = 0;
};
std::atomic<int> g_fs_layer{static_cast<int>(FsLayer::None)};
std::mutex g_fs_mutex;
std::vector<std::string>* g_fs_allowed = nullptr;  // set once, before the plugin runs
std::array<FsEntry, kMaxFsEntries> g_fs_entries{};
std::size_t g_fs_used = 0;
FsEntry g_fs_overflow{};

bool under(std::string_view path, std::string_view dir) {
    if (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
    if (path.substr(0, dir.size()) != dir) return false;
    return path.size() == dir.size() || path[dir.size()] == '/' || dir == "/";
}

}  // namespace

void enable_fs_denial_reporting(FsLayer layer, std::vector<std::string> allowed) {
    std::lock_guard lock(g_fs_mutex);
    delete g_fs_allowed;
    g_fs_allowed = new std::vector<std::string>(std::move(allowed));
    g_fs_layer.store(static_cast<int>(layer), std::memory_order_release);
}

const char* fs_layer_name() {
    switch (static_cast<FsLayer>(g_fs_layer.load(std::memory_order_acquire))) {
        case FsLayer::Landlock:
            return "landlock";
        case FsLayer::FsView:
            return "fsview";
        case FsLayer::None:
            break;
    }
    return "none";
}

void note_fs_denial(const char* call, const char* path, int err) noexcept {
    auto layer = static_cast<FsLayer>(g_fs_layer.load(std::memory_order_acquire));
    if (layer == FsLayer::None || path == nullptr || path[0] != '/') return;
    const bool caused =
        layer == FsLayer::Landlock ? (err == EACCES || err == EPERM) : err == ENOENT;
    if (!caused) return;
    const int saved = errno;
    std::string_view p(path);
    if (!under(p, "/proc")) {
        std::lock_guard lock(g_fs_mutex);
        bool allowed = false;
        if (g_fs_allowed != nullptr) {
            for (const auto& a : *g_fs_allowed) {
                if (under(p, a)) {
                    allowed = true;
                    break;
                }
            }
        }
        if (!allowed) {
            p = p.substr(0, kMaxPath);
            FsEntry* slot = nullptr;
            for (std::size_t i = 0; i < g_fs_used; ++i) {
                auto& e = g_fs_entries[i];
                if (e.err == err && std::strcmp(e.call, call) == 0 &&
                    std::string_view(e.path) == p) {
                    slot = &e;
                    break;
                }
            }
            if (slot == nullptr && g_fs_used < kMaxFsEntries) {
                slot = &g_fs_entries[g_fs_used++];
                slot->call = call;
                std::memcpy(slot->path, p.data(), p.size());
                slot->path[p.size()] = '\0';
                slot->err = err;
            }
            if (slot == nullptr) {
                slot = &g_fs_overflow;
                slot->call = "open";
                slot->path[0] = '*';
                slot->err = err;
            }
            ++slot->count;
        }
    }
    errno = saved;
}

std::vector<FsDenialCount> fs_denial_counts() {
    std::lock_guard lock(g_fs_mutex);
    std::vector<FsDenialCount> out;
    for (std::size_t i = 0; i < g_fs_used; ++i) {
        const auto& e = g_fs_entries[i];
        out.push_back({e.call, e.path, e.err, e.count});
    }
    if (g_fs_overflow.count != 0) {
        out.push_back(
            {g_fs_overflow.call, g_fs_overflow.path, g_fs_overflow.err, g_fs_overflow.count});
    }
    return out;
}

Status install_violation_handler() {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, nullptr) != 0) {
        return fail(std::string("sigaction(SIGSYS): ") + std::strerror(errno));
    }
    // A thread that blocks SIGSYS would be killed by a trap instead of getting EPERM; make sure
    // at least the launcher's own threads (which inherit this mask) do not.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    return {};
}

std::string syscall_name(int nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name == nullptr) return "syscall_" + std::to_string(nr);
    std::string out(name);
    std::free(name);
    return out;
}

std::vector<ViolationCount> violation_counts() {
    std::vector<ViolationCount> out;
    for (int nr = 0; nr < kMaxSyscall; ++nr) {
        auto n = g_counts[static_cast<std::size_t>(nr)].load(std::memory_order_relaxed);
        if (n != 0) out.push_back({nr, syscall_name(nr), n});
    }
    if (auto n = g_out_of_range.load(std::memory_order_relaxed); n != 0) {
        out.push_back({-1, "unknown", n});
    }
    return out;
}

std::uint64_t total_violations() {
    std::uint64_t total = g_out_of_range.load(std::memory_order_relaxed);
    for (const auto& c : g_counts) total += c.load(std::memory_order_relaxed);
    for (const auto& f : fs_denial_counts()) total += f.count;
    return total;
}

}  // namespace daemoneye::launcher::sandbox
