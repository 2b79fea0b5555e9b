// A session over a socket (accepted on broker.socket_path or adopted from the agent): a reader
// coroutine feeding the broker, a writer coroutine draining the outbound queue one coalesced
// frame per write.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemoneye/wire/framed_stream.hpp"
#include "frame_builder.hpp"
#include "session.hpp"

namespace daemoneye::eventbus {

class RemoteSession final : public Session {
  public:
    RemoteSession(std::uint64_t id, Transport transport, BrokerCore* broker, QueueLimits limits,
                  wire::FramedStream::Socket socket, wire::StreamOptions stream_options,
                  std::chrono::milliseconds startup_timeout);
    ~RemoteSession() override;

    void start();
    void close(std::string reason) override;

  private:
    void wake() override;
    boost::asio::awaitable<void> reader();
    boost::asio::awaitable<void> writer();
    void finish_reading();

    std::shared_ptr<BufferPool> pool_;  // outlives the queue's references
    wire::FramedStream stream_;
    boost::asio::steady_timer wake_timer_;
    boost::asio::steady_timer startup_timer_;
    std::chrono::milliseconds startup_timeout_;
    FrameBuilder builder_;
    bool writer_waiting_ = false;
    bool writer_done_ = false;
};

}  // namespace daemoneye::eventbus
