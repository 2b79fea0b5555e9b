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
#include <functional>
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

    // Reads frames until `on_frame` returns false or reading fails, suspending the caller once
    // for the whole run instead of once per frame (a coroutine resumption per frame was the
    // biggest fixed cost of a bus round trip: docs/eventbus.md). `on_frame` gets each payload
    // (valid during the call); `on_drained`, if set, runs whenever no complete frame is left
    // buffered, before the next read, so output caused by a burst of frames can go out in one
    // write. Completes with success when `on_frame` said stop, else with the error read_frame()
    // would have returned, under the same deadlines. Not cancellable by the caller: close() the
    // stream to end it (Io operation_canceled), or return false from `on_frame`.
    struct FrameSink {
        std::function<bool(std::span<const std::uint8_t>)> on_frame;
        std::function<void()> on_drained;
    };
    boost::asio::awaitable<Result<void, IpcError>> read_frames(FrameSink sink);

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

    // Non-blocking writes for a writer that sends as soon as it has something (no coroutine
    // wake-up, no completion handler when the socket takes it all, which it usually does). Only
    // while no asynchronous write is in flight. They return how many bytes went out now
    // (0 when the socket is full); the caller finishes the rest with write_raw() /
    // write_frame_rest(). Errors are those of the asynchronous calls (PeerClosed, Io, TooLarge).
    Result<std::size_t, IpcError> try_write_raw(std::span<const std::uint8_t> frames);
    // One frame (header + CRC over `parts`, as write_frame); the result counts header bytes too:
    // the frame is complete when it equals kFrameHeaderSize + the parts' total size.
    Result<std::size_t, IpcError> try_write_frame(std::span<const boost::asio::const_buffer> parts);
    // The same for a frame built in one buffer: `frame` is kFrameHeaderSize bytes of room, which
    // get the header (length and CRC of the rest), then the payload; it goes out with one send().
    // Finish a partial write with write_raw(frame.subspan(returned)).
    Result<std::size_t, IpcError> try_write_whole_frame(std::span<std::uint8_t> frame);
    // Writes the rest of the frame try_write_frame() started, given the same `parts` and what it
    // returned.
    boost::asio::awaitable<Result<void, IpcError>> write_frame_rest(
        std::span<const boost::asio::const_buffer> parts, std::size_t written);

    // Cancels pending operations and closes the socket. Idempotent.
    void close();
    bool is_open() const;
    Socket& socket();
    const StreamOptions& options() const;
    // Changes idle_timeout from the next wait for a frame's first byte on (e.g. a broker that
    // waits for Hello under its own startup deadline, then for heartbeats under this one).
    void set_idle_timeout(std::chrono::milliseconds timeout);

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;  // shared with the deadline watchdog's pending handler
};

}  // namespace daemoneye::wire
