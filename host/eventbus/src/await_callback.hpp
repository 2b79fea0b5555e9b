// Bridges a callback-style operation into a coroutine: await_callback<T>(ex, start) calls
// start(done) and the awaitable completes when done(T) is called. done may be called from
// anywhere on the executor, even inside start:
// - inside start (the coroutine is still being suspended), the completion is posted;
// - afterwards it is dispatched: the coroutine resumes at once, on the caller's stack, when the
//   caller runs on the executor. That is the RPC fast path: a reply's frame resumes the caller,
//   whose next request joins the output written right after that frame (no posted handler, no
//   extra trip through the reactor between a reply and the next request).
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
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace daemoneye::eventbus {

template <class T>
boost::asio::awaitable<T> await_callback(boost::asio::any_io_executor ex,
                                         std::function<void(std::function<void(T)>)> start) {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(T)>(
        [ex, start = std::move(start)](auto handler) mutable {
            struct State {
                decltype(handler) h;
                bool starting = true;
            };
            auto st = std::make_shared<State>(State{std::move(handler)});
            start(std::function<void(T)>([ex, st](T value) mutable {
                auto complete = [st, v = std::move(value)]() mutable { (st->h)(std::move(v)); };
                if (st->starting) {
                    boost::asio::post(ex, std::move(complete));
                } else {
                    boost::asio::dispatch(ex, std::move(complete));
                }
            }));
            st->starting = false;
        },
        boost::asio::use_awaitable);
}

}  // namespace daemoneye::eventbus
