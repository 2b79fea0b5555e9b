// The limits an RPC through the broker is compared with, measured in the same run:
// - raw ping-pong: two processes, one socketpair, 64-byte blocking read/write (2 hops) — the
//   physical limit for a round trip, and the yardstick;
// - raw relay: client process -> relay thread (like the broker, in the benchmark's process) ->
//   server process and back (4 hops, 3 parties) — what an RPC to a server in another process
//   physically needs.
// With event_loop, every party does per hop what an epoll event loop (Asio's included) does
// instead of a blocking read: send; a recv that finds nothing; epoll_wait; recv. That is the
// floor for any broker built on epoll, printed for reference (it shows how much of a gap is the
// syscall pattern and how much is our own work).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace daemoneye::bench {

// other_cpu >= 0 pins the far side (the echoing child of the ping-pong, the client child of the
// relay) to that CPU; the calling thread and whatever it starts keep their own affinity.
struct RawRun {
    std::vector<std::uint64_t> latencies_ns;  // one per round trip, after the warm-up
    double cpu_us_per_round_trip = 0;         // the client side's (ping-pong only)
};

RawRun raw_pingpong(std::size_t count, std::size_t warmup, bool event_loop, int other_cpu);
RawRun raw_relay(std::size_t count, std::size_t warmup, bool event_loop, int other_cpu);

// Pins the calling thread to `cpu` (-1: every CPU); threads and processes it starts inherit it.
bool pin_to(int cpu);

}  // namespace daemoneye::bench
