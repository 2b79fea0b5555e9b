#include "daemoneye/launcher/sandbox/violations.hpp"

#include <seccomp.h>
#include <signal.h>
#include <ucontext.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

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

}  // namespace

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
    return total;
}

}  // namespace daemoneye::launcher::sandbox
