// Shared pieces of the peer comparison harness (peers_bench): argument maps, clocks, the
// start-together file, the result lines every role prints, and external servers (nats-server,
// mosquitto) run as children that are always killed and reaped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../bench_clock.hpp"

namespace peers {

using Args = std::map<std::string, std::string>;

// "--key value" pairs from argv[from..].
Args parse_args(int argc, char** argv, int from);
std::uint64_t num(const Args& a, const std::string& key, std::uint64_t def);
std::string str(const Args& a, const std::string& key, const std::string& def = {});

using daemoneye::bench::mono_ns;
// Percentile in microseconds of nanosecond samples (sorts v).
double percentile_us(std::vector<std::uint64_t>& v, double p);

// Called first by every role process: dies with the harness (PR_SET_PDEATHSIG), ignores SIGPIPE.
void become_child_role();

// Blocks until `path` exists (the harness creates it when every publisher is READY) or the
// timeout passes. Returns false on timeout.
bool wait_go(const std::string& path, std::chrono::milliseconds timeout);

// Counting on the subscriber side, the same for every system: first and last delivery time
// (the last one stamped every 64 messages and at the expected count, so the clock is not read
// per message), finished when `expect` arrived or nothing arrived for `idle` after the first.
struct Counter {
    std::uint64_t expect = 0;
    std::uint64_t received = 0;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    void hit() {
        if (received++ == 0) first = mono_ns();
        if ((received & 63) == 0 || received == expect) last = mono_ns();
    }
};
// When a subscriber stops waiting: every expected message arrived, or nothing new for --idle-ms
// (default 2000) after the first, or nothing at all for --start-ms (default 60000). Poll done()
// every few milliseconds with the current count.
class Watch {
  public:
    explicit Watch(const Args& a);
    bool done(std::uint64_t received);
    std::uint64_t expect() const { return expect_; }

  private:
    std::uint64_t expect_;
    std::chrono::milliseconds idle_, start_;
    std::chrono::steady_clock::time_point since_ = std::chrono::steady_clock::now();
    std::uint64_t seen_ = 0;
};

// Prints "RESULT received=.. first=.. last=.. dropped=.." (dropped: what the client library
// itself reports, when it does).
void print_sub_result(std::uint64_t received, std::uint64_t first, std::uint64_t last,
                      std::uint64_t library_dropped);
// Sequential request/reply latencies (ns): percentiles, and round trips per second of latency.
struct RpcSummary {
    double p50_us = 0, p99_us = 0, rps = 0;
};
RpcSummary summarize_rpc(std::vector<std::uint64_t>& latencies_ns);
// Prints "RESULT p50_us=.. p99_us=.. rps=.." for them.
void print_rpc_result(std::vector<std::uint64_t>& latencies_ns);

// Value of "key=" in a RESULT line.
double field(const std::string& line, const std::string& key);

// A free TCP port on 127.0.0.1 (bound and released; the server binds it right after).
int free_tcp_port();
// Whether something accepts TCP connections on 127.0.0.1:port.
bool tcp_accepts(int port);

// Whether something accepts connections on the unix socket at `path`.
bool unix_accepts(const std::string& path);

// Full path of an executable found in PATH or /usr/sbin, /usr/local/sbin, /sbin; empty if none.
std::string find_program(const std::string& name);

// An external server process (nats-server, mosquitto): stdout/stderr to `log`, stdin from
// /dev/null, killed with the harness (PDEATHSIG). The destructor sends SIGTERM, waits up to 2 s,
// then SIGKILLs, and always reaps.
class Server {
  public:
    Server(const std::vector<std::string>& argv, const std::string& log);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    // Still running (not exited)?
    bool alive();
    // Last lines of its log (for error messages).
    std::string log_tail() const;
    pid_t pid() const { return pid_; }

  private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    std::string log_;
};

}  // namespace peers
