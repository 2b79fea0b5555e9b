// Clocks every benchmark here reads: monotonic wall time, and the calling thread's CPU time.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <ctime>

namespace daemoneye::bench {

inline std::uint64_t mono_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

// CPU time (user + system) of the calling thread, in microseconds.
inline double thread_cpu_us() {
    rusage u{};
    ::getrusage(RUSAGE_THREAD, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// User-space part only: what the software costs, without the kernel's socket and wake-up work.
inline double thread_user_us() {
    rusage u{};
    ::getrusage(RUSAGE_THREAD, &u);
    return static_cast<double>(u.ru_utime.tv_sec) * 1e6 + static_cast<double>(u.ru_utime.tv_usec);
}

}  // namespace daemoneye::bench
