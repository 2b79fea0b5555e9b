// Bridges a callback-style operation into a coroutine: await_callback<T>(ex, start) calls
// start(done) and the awaitable completes when done(T) is called. Completion is posted, so done
// may be called from anywhere on the executor, even inside start.
//
// GCC 12 destroys lambda temporaries twice when they sit in the same full-expression as a
// co_await; so this is a plain function (no co_await inside), and callers bind the awaitable to
// a named variable first:  auto op = await_callback<T>(ex, start); auto r = co_await std::move(op);
#pragma once

#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace daemoneye::eventbus {

template <class T>
boost::asio::awaitable<T> await_callback(boost::asio::any_io_executor ex,
                                         std::function<void(std::function<void(T)>)> start) {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(T)>(
        [ex, start = std::move(start)](auto handler) mutable {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            start(std::function<void(T)>([ex, h](T value) mutable {
                boost::asio::post(ex, [h, v = std::move(value)]() mutable { (*h)(std::move(v)); });
            }));
        },
        boost::asio::use_awaitable);
}

}  // namespace daemoneye::eventbus
