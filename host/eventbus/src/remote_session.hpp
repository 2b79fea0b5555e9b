// A session over a socket (accepted on broker.socket_path or adopted from the agent): a reader
// coroutine feeding the broker; the outbound queue is drained by a posted flush that writes
// coalesced frames with non-blocking sends (one handler and one sendmsg per frame, no coroutine
// wake-up), and only a frame the socket could not take whole is finished by a coroutine.
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
    void flush_now() override;
    // From here on a peer that sends nothing for the stream's idle timeout (heartbeats missed)
    // is dropped; before Welcome only the startup deadline applies.
    void on_welcomed() override;

  private:
    void wake() override;
    boost::asio::awaitable<void> reader();
    void flush();
    boost::asio::awaitable<void> write_rest(std::size_t written);
    void write_failed(const std::string& why);
    void finish_writing();

    std::shared_ptr<BufferPool> pool_;  // outlives the queue's references
    wire::FramedStream stream_;
    boost::asio::steady_timer startup_timer_;
    std::chrono::milliseconds startup_timeout_;
    std::chrono::milliseconds idle_timeout_;  // after Welcome
    FrameBuilder builder_;
    bool flush_posted_ = false;
    bool flush_listed_ = false;   // in BrokerCore::flush_pending
    bool async_writing_ = false;  // write_rest() owns the stream's write side
    bool writer_done_ = false;
};

}  // namespace daemoneye::eventbus
