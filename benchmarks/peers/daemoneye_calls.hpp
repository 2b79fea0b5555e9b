// DaemonEye's sequential request/reply loop, shared by the client role process and the harness's
// in-process caller (the broker's own session, as the agent calls a collector).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "daemoneye/eventbus/bus_client.hpp"

namespace peers {

// `warmup` then `count` sequential calls to `target`; the latencies of the `count` ones, in
// nanoseconds, or nothing when a call fails (said on stderr).
boost::asio::awaitable<std::vector<std::uint64_t>> daemoneye_sequential_calls(
    daemoneye::eventbus::BusClient& client, std::string target, std::uint64_t count,
    std::uint64_t warmup);

}  // namespace peers
