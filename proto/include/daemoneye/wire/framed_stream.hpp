// An async framed stream over a Unix-domain stream socket (listener-accepted or socketpair end).
//
// Concurrency: one read and one write may be in flight at a time (a reader coroutine plus a
// writer coroutine), all on one thread or strand: the socket's executor runs the deadline timer.
// One read syscall may bring in many frames; read_frame() hands them out without another syscall.
//
// Deadlines (docs/wire.md): the read timeout covers a whole frame, from its first byte to its
// last; a peer that sends half a frame and stalls gets Timeout. The optional idle timeout bounds
// the wait for a frame's first byte (0 = wait forever, e.g. for a quiet subscriber). The write
// timeout covers one whole write call. A deadline cancels only its own operation; the caller's
// cancellation (e.g. `read_frame() || timer`) works too and yields Io(operation_canceled).
//
// Errors: Decode leaves the stream usable (the frame was whole, only its content was wrong).
// Every other error means the framing is lost or the peer is gone: close() the stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "daemoneye/result.hpp"
#include "daemoneye/wire/frame_codec.hpp"
#include "daemoneye/wire/ipc_config.hpp"
#include "daemoneye/wire/ipc_error.hpp"

namespace daemoneye::wire {

struct StreamOptions {
    std::size_t max_frame_bytes = std::size_t{1024} * 1024;
    std::chrono::milliseconds read_timeout{30000};   // whole frame; 0 = none
    std::chrono::milliseconds write_timeout{10000};  // whole write; 0 = none
    std::chrono::milliseconds idle_timeout{0};       // wait for a frame's first byte; 0 = none
    Crc32Variant crc32_variant = Crc32Variant::Ieee;

    static StreamOptions from(const IpcConfig& config);
};

class FramedStream {
  public:
    using Socket = boost::asio::local::stream_protocol::socket;

    FramedStream(Socket socket, StreamOptions options);
    ~FramedStream();
    FramedStream(const FramedStream&) = delete;
    FramedStream& operator=(const FramedStream&) = delete;

    // The next frame's payload; the view is valid until the next read_frame()/read_message().
    boost::asio::awaitable<Result<std::span<const std::uint8_t>, IpcError>> read_frame();

    // Reads one frame and parses it into `message` (Decode when it is not that message).
    boost::asio::awaitable<Result<void, IpcError>> read_message(
        google::protobuf::MessageLite& message);

    // Writes one frame whose payload is the concatenation of `parts` (scatter-gather, one CRC).
    boost::asio::awaitable<Result<void, IpcError>> write_frame(
        std::span<const boost::asio::const_buffer> parts);
    boost::asio::awaitable<Result<void, IpcError>> write_frame(
        std::span<const std::uint8_t> payload);
    boost::asio::awaitable<Result<void, IpcError>> write_message(
        const google::protobuf::MessageLite& message);
    // Writes bytes that already hold whole frames (e.g. built with append_frame).
    boost::asio::awaitable<Result<void, IpcError>> write_raw(std::span<const std::uint8_t> frames);

    // Cancels pending operations and closes the socket. Idempotent.
    void close();
    bool is_open() const;
    Socket& socket();
    const StreamOptions& options() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;  // shared with the deadline watchdog's pending handler
};

}  // namespace daemoneye::wire
