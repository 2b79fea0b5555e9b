// procmond scan cost, next to `ps -eo pid,ppid,user,comm,args` in the same run.
//
// Spawns N extra sleeping processes (default 1000), then measures the CPU time (user + system,
// this thread) of:
//   cold          a first full scan with an empty hash cache (every distinct exe hashed)
//   warm          a steady-state scan (previous table known, hash cache warm) -- what procmond
//                 pays every scan_interval_ms
//   warm+diff     the collector's whole cycle: warm scan + diff + event encoding (null sink)
//   warm-full     a warm scan that re-reads every field of every process (refresh round)
//   ps            `ps -eo pid,ppid,user,comm,args > /dev/null`, child CPU time via wait4
// Each is repeated and the median reported. Goal: warm well under 20 ms and below ps.
//
// Usage: procmond_bench [--procs N] [--rounds R]
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "proc_scanner.hpp"
#include "process_collector.hpp"

extern char** environ;

namespace {

double thread_cpu_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

double ps_cpu_ms() {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char* argv[] = {const_cast<char*>("ps"), const_cast<char*>("-eo"),
                    const_cast<char*>("pid,ppid,user,comm,args"), nullptr};
    pid_t pid = -1;
    if (::posix_spawnp(&pid, "ps", &fa, nullptr, argv, environ) != 0) return -1;
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    rusage ru{};
    ::wait4(pid, &status, 0, &ru);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

class NullSink final : public procmond::EventSink {
  public:
    Status emit(const char*, const char*, const std::string& payload) override {
        bytes += payload.size();
        ++events;
        return Status::kOk;
    }
    void log(Level, const std::string&) override {}
    std::uint64_t now_unix_nanos() override { return 0; }
    std::uint64_t bytes = 0;
    std::uint64_t events = 0;
};

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    }
    return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
    int nprocs = 1000;
    int rounds = 15;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--procs") == 0) nprocs = std::atoi(argv[i + 1]);
        if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    }

    std::vector<pid_t> children;
    children.reserve(static_cast<std::size_t>(nprocs));
    char* sleep_argv[] = {const_cast<char*>("sleep"), const_cast<char*>("600"), nullptr};
    for (int i = 0; i < nprocs; ++i) {
        pid_t pid = -1;
        if (::posix_spawn(&pid, "/bin/sleep", nullptr, nullptr, sleep_argv, environ) != 0) break;
        children.push_back(pid);
    }
    auto cleanup = [&] {
        for (pid_t pid : children) ::kill(pid, SIGKILL);
        for (pid_t pid : children) ::waitpid(pid, nullptr, 0);
    };

    procmond::UserCache users;
    procmond::ScanOptions opts;
    opts.hash_executables = true;
    if (const char* r = std::getenv("PROCMOND_BENCH_REFRESH")) opts.refresh_every = std::atoi(r);

    // cold: fresh hash cache each round, full read, no previous table.
    std::vector<double> cold;
    std::size_t processes = 0;
    std::uint64_t hashed_bytes = 0;
    const bool profile_warm = std::getenv("PROCMOND_BENCH_WARM_ONLY") != nullptr;  // for perf
    for (int r = 0; r < (profile_warm ? 1 : std::max(3, rounds / 3)); ++r) {
        procmond::ExeHasher hasher;
        auto scanner = procmond::ProcScanner::open(hasher, users);
        if (!scanner) {
            std::fprintf(stderr, "procmond_bench: %s\n", scanner.reason().c_str());
            cleanup();
            return 2;
        }
        procmond::ScanStats stats;
        procmond::ScanOptions full = opts;
        full.full_read = true;
        const double t0 = thread_cpu_ms();
        auto table = (*scanner)->scan(full, nullptr, stats);
        cold.push_back(thread_cpu_ms() - t0);
        processes = table.size();
        hashed_bytes = hasher.stats().bytes_hashed;
    }

    // warm: one hasher and scanner across rounds, previous table carried.
    procmond::ExeHasher hasher;
    auto scanner = procmond::ProcScanner::open(hasher, users);
    procmond::ScanStats stats;
    procmond::ScanOptions full = opts;
    full.full_read = true;
    auto table = (*scanner)->scan(full, nullptr, stats);
    std::vector<double> warm;
    std::vector<double> warm_full;
    for (int r = 0; r < rounds; ++r) {
        const double t0 = thread_cpu_ms();
        auto next = (*scanner)->scan(opts, &table, stats);
        warm.push_back(thread_cpu_ms() - t0);
        table = std::move(next);
    }
    for (int r = 0; r < std::max(3, rounds / 3); ++r) {
        const double t0 = thread_cpu_ms();
        auto next = (*scanner)->scan(full, &table, stats);
        warm_full.push_back(thread_cpu_ms() - t0);
        table = std::move(next);
    }

    // The collector's whole cycle (scan + diff + encoding), on this thread.
    NullSink sink;
    procmond::Config cfg;
    cfg.netlink = false;
    procmond::ProcessCollector collector(cfg, sink);
    (void)collector.scan_now();  // baseline + snapshot batches
    std::vector<double> cycle;
    for (int r = 0; r < rounds; ++r) {
        (void)collector.scan_now();
        cycle.push_back(static_cast<double>(collector.counters().last_scan_cpu_us) / 1e3);
    }

    std::vector<double> ps;
    for (int r = 0; r < std::max(3, rounds / 3); ++r) ps.push_back(ps_cpu_ms());

    cleanup();

    const double warm_ms = median(warm);
    const double ps_ms = median(ps);
    std::printf("procmond_bench: %zu processes (%zu spawned sleepers), %ld CPUs, %s\n", processes,
                children.size(), ::sysconf(_SC_NPROCESSORS_ONLN), cpu_model().c_str());
    std::printf("  %-44s %8.2f ms CPU (median of %zu; %.1f MiB hashed)\n",
                "cold scan (empty hash cache, full read)", median(cold), cold.size(),
                static_cast<double>(hashed_bytes) / (1024.0 * 1024.0));
    std::printf("  %-44s %8.2f ms CPU (median of %zu)\n", "warm scan (steady state)", warm_ms,
                warm.size());
    std::printf("  %-44s %8.2f ms CPU (median of %zu)\n", "warm scan + diff + encode (collector)",
                median(cycle), cycle.size());
    std::printf("  %-44s %8.2f ms CPU (median of %zu)\n", "warm full re-read (every field)",
                median(warm_full), warm_full.size());
    std::printf("  %-44s %8.2f ms CPU (median of %zu)\n", "ps -eo pid,ppid,user,comm,args", ps_ms,
                ps.size());
    const bool under_budget = warm_ms < 20.0;
    const bool beats_ps = ps_ms > 0 && warm_ms < ps_ms;
    std::printf("  goal: warm < 20 ms: %s; warm < ps: %s (%.2fx ps)\n", under_budget ? "yes" : "NO",
                beats_ps ? "yes" : "NO", ps_ms > 0 ? warm_ms / ps_ms : 0.0);
    return under_budget && beats_ps ? 0 : 1;
}
