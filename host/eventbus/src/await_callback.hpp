// Bridges a callback-style operation into a coroutine: `co_await await_callback<T>(start)` calls
// start(done) and resumes when done(T) is called. Completion is posted, so done may be called
// from anywhere on the executor, even inside start.
#pragma once

#include <functional>
#include <memory>

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace daemoneye::eventbus {

template <class T, class Start>
boost::asio::awaitable<T> await_callback(boost::asio::any_io_executor ex, Start start) {
    co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(T)>(
        [ex, start = std::move(start)](auto handler) mutable {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            start(std::function<void(T)>([ex, h](T value) mutable {
                boost::asio::post(ex, [h, v = std::move(value)]() mutable { (*h)(std::move(v)); });
            }));
        },
        boost::asio::use_awaitable);
}

}  // namespace daemoneye::eventbus
