// Wakes every coroutine waiting for "something changed" on the event loop. Each waiter has its
// own timer, so waiters keep their own deadlines; a waiter always re-checks its condition.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <list>

namespace daemoneye::agent {

class Notifier {
  public:
    void notify() {
        for (auto* t : waiters_) t->cancel();
    }
    // Returns when notified or at `deadline`.
    boost::asio::awaitable<void> wait_until(std::chrono::steady_clock::time_point deadline) {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
        timer.expires_at(deadline);
        auto it = waiters_.insert(waiters_.end(), &timer);
        co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        waiters_.erase(it);
    }

  private:
    std::list<boost::asio::steady_timer*> waiters_;
};

}  // namespace daemoneye::agent
