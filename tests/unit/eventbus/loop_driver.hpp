// Drives an io_context from the test thread: spin() runs it for a while, run_to_end() runs a
// coroutine on it to completion (everything else on the loop is served meanwhile). Shared by
// the eventbus tests that own their loop instead of running it on a thread.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace daemoneye::eventbus::test {

inline void spin(boost::asio::io_context& io, std::chrono::milliseconds d) {
    io.restart();  // run_for() leaves the context stopped when it runs out of work
    io.run_for(d);
}

template <class T>
T run_to_end(boost::asio::io_context& io, boost::asio::awaitable<T> a,
             std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::optional<T> out;
    boost::asio::co_spawn(
        io,
        [&out, a = std::move(a)]() mutable -> boost::asio::awaitable<void> {
            out.emplace(co_await std::move(a));
        },
        boost::asio::detached);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!out && std::chrono::steady_clock::now() < deadline) {
        spin(io, std::chrono::milliseconds(5));
    }
    if (!out) throw std::runtime_error("coroutine did not finish in time");
    return std::move(*out);
}

}  // namespace daemoneye::eventbus::test
