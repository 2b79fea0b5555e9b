#include "daemoneye/wire/framed_stream.hpp"

#include <google/protobuf/message_lite.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace daemoneye::wire {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Each read asks for at least this much free space so one recv() picks up many small frames.
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;

bool is_peer_gone(const boost::system::error_code& ec) {
    return ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe;
}

// A deadline cancels only the operation it belongs to (a per-operation cancellation signal, not
// socket.cancel(), which would also abort the other direction). The caller's own cancellation
// (e.g. `co_await (stream.read_frame() || timer.async_wait())`) is forwarded to the same signal,
// so binding our slot does not make the operation deaf to its parent.
class ForwardCancellation {
  public:
    ForwardCancellation(asio::cancellation_slot outer, asio::cancellation_signal& inner)
        : outer_(outer) {
        if (outer_.is_connected()) {
            outer_.assign([&inner](asio::cancellation_type type) { inner.emit(type); });
        }
    }
    ~ForwardCancellation() {
        if (outer_.is_connected()) outer_.clear();
    }
    ForwardCancellation(const ForwardCancellation&) = delete;
    ForwardCancellation& operator=(const ForwardCancellation&) = delete;

  private:
    asio::cancellation_slot outer_;
};

IpcError cancelled(const char* what) {
    return IpcError::io_error(std::make_error_code(std::errc::operation_canceled), what);
}

}  // namespace

StreamOptions StreamOptions::from(const IpcConfig& config) {
    StreamOptions o;
    o.max_frame_bytes = config.max_frame_bytes;
    o.read_timeout = std::chrono::milliseconds(config.read_timeout_ms);
    o.write_timeout = std::chrono::milliseconds(config.write_timeout_ms);
    o.crc32_variant = config.crc32_variant;
    return o;
}

// One timer per stream watches both deadlines (the asio "timeouts" pattern): setting a deadline
// is a store, not a timer syscall, except when it is earlier than what the timer waits for.
struct FramedStream::Impl : std::enable_shared_from_this<FramedStream::Impl> {
    Impl(Socket s, StreamOptions o)
        : socket(std::move(s)),
          options(o),
          decoder(o.max_frame_bytes, o.crc32_variant),
          timer(socket.get_executor()) {}

    Socket socket;
    StreamOptions options;
    FrameDecoder decoder;
    asio::steady_timer timer;
    asio::cancellation_signal read_cancel;
    asio::cancellation_signal write_cancel;
    Clock::time_point read_deadline = Clock::time_point::max();
    Clock::time_point write_deadline = Clock::time_point::max();
    std::chrono::milliseconds read_limit{0};  // the timeout behind read_deadline, for messages
    bool read_timed_out = false;
    bool write_timed_out = false;
    bool timer_armed = false;
    std::vector<std::uint8_t> write_buf;
    std::vector<asio::const_buffer> gather;
    std::uint8_t pending_header[kFrameHeaderSize] = {};  // try_write_frame -> write_frame_rest

    // One non-blocking sendmsg of `buffers` (at most IOV_MAX of them): bytes written, 0 when the
    // socket is full.
    Result<std::size_t, IpcError> send_now(std::span<const asio::const_buffer> buffers,
                                           std::size_t total) {
        if (!socket.is_open()) {
            return unexpected(IpcError::io_error(
                std::make_error_code(std::errc::bad_file_descriptor), "writing: stream closed"));
        }
        if (buffers.size() == 1) {
            // One buffer (the bus's batched writes): send() skips sendmsg's copy-in of the
            // msghdr and iovec array, measurable per round trip.
            for (;;) {
                const ssize_t r = ::send(socket.native_handle(), buffers[0].data(),
                                         buffers[0].size(), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (r >= 0) return static_cast<std::size_t>(r);
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t{0};
                const boost::system::error_code ec(errno, boost::system::system_category());
                return unexpected(write_error(ec, 0, total));
            }
        }
        iovec iov[64];
        const std::size_t n = std::min<std::size_t>(buffers.size(), 64);
        for (std::size_t i = 0; i < n; ++i) {
            iov[i].iov_base = const_cast<void*>(buffers[i].data());
            iov[i].iov_len = buffers[i].size();
        }
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = n;
        for (;;) {
            const ssize_t r = ::sendmsg(socket.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r >= 0) return static_cast<std::size_t>(r);
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t{0};
            const boost::system::error_code ec(errno, boost::system::system_category());
            return unexpected(write_error(ec, 0, total));
        }
    }

    void set_read_deadline(std::chrono::milliseconds timeout) {
        read_limit = timeout;
        read_deadline = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
        arm(read_deadline);
    }
    void set_write_deadline(std::chrono::milliseconds timeout) {
        write_deadline = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
        arm(write_deadline);
    }
    void end_read() {
        read_deadline = Clock::time_point::max();
        read_timed_out = false;
        read_cancel.slot().clear();
    }
    void end_write() {
        write_deadline = Clock::time_point::max();
        write_timed_out = false;
        write_cancel.slot().clear();
    }

    void arm(Clock::time_point at) {
        if (at == Clock::time_point::max()) return;
        if (timer_armed && at >= timer.expiry()) return;
        timer.expires_at(at);
        timer_armed = true;
        timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec == asio::error::operation_aborted) return;  // re-armed earlier or closed
            self->timer_armed = false;
            self->check_deadlines();
        });
    }

    void check_deadlines() {
        const auto now = Clock::now();
        if (now >= read_deadline) {
            read_timed_out = true;
            read_deadline = Clock::time_point::max();
            read_cancel.emit(asio::cancellation_type::terminal);
        }
        if (now >= write_deadline) {
            write_timed_out = true;
            write_deadline = Clock::time_point::max();
            write_cancel.emit(asio::cancellation_type::terminal);
        }
        arm(std::min(read_deadline, write_deadline));
    }

    // "12 of 108 bytes of a frame" / "5 bytes of a frame header": how far the frame got.
    std::string progress() const {
        const std::size_t have = decoder.buffered();
        if (auto len = decoder.pending_length()) {
            return std::to_string(have) + " of " + std::to_string(kFrameHeaderSize + *len) +
                   " bytes of a frame";
        }
        return std::to_string(have) + " of " + std::to_string(kFrameHeaderSize) +
               " bytes of a frame header";
    }

    IpcError read_timeout_error() const {
        const std::size_t have = decoder.buffered();
        auto e =
            IpcError::timeout(have == 0 ? "no frame started within the idle timeout of " +
                                              std::to_string(read_limit.count()) + " ms"
                                        : "read deadline of " + std::to_string(read_limit.count()) +
                                              " ms passed with " + progress() + " received");
        e.size = have;
        if (auto len = decoder.pending_length()) e.max_size = kFrameHeaderSize + *len;
        return e;
    }

    IpcError peer_closed_error() const {
        const std::size_t have = decoder.buffered();
        auto e =
            IpcError::peer_closed(have == 0 ? std::string{} : "mid-frame, after " + progress());
        e.size = have;
        if (auto len = decoder.pending_length()) e.max_size = kFrameHeaderSize + *len;
        return e;
    }

    IpcError write_error(const boost::system::error_code& ec, std::size_t written,
                         std::size_t total) const {
        if (write_timed_out) {
            auto e = IpcError::timeout("write deadline of " +
                                       std::to_string(options.write_timeout.count()) +
                                       " ms passed with " + std::to_string(written) + " of " +
                                       std::to_string(total) + " bytes written");
            e.size = written;
            e.max_size = total;
            return e;
        }
        if (is_peer_gone(ec)) {
            auto e = IpcError::peer_closed("while writing, after " + std::to_string(written) +
                                           " of " + std::to_string(total) + " bytes");
            e.size = written;
            e.max_size = total;
            return e;
        }
        return IpcError::io_error(ec, "writing, after " + std::to_string(written) + " of " +
                                          std::to_string(total) + " bytes");
    }

    // Before a read: the idle or whole-frame deadline unless one runs already. Returns whether
    // part of a frame is buffered (which deadline applies).
    bool arm_read_deadline() {
        const bool had_bytes = decoder.buffered() > 0;
        if (read_deadline == Clock::time_point::max()) {
            set_read_deadline(had_bytes ? options.read_timeout : options.idle_timeout);
        }
        return had_bytes;
    }
    // After a read of n bytes.
    void commit_read(std::size_t n, bool had_bytes) {
        decoder.commit(n);
        if (!had_bytes && n > 0) {
            // The frame's first byte arrived: from now on the whole-frame deadline applies.
            set_read_deadline(options.read_timeout);
        }
    }
    IpcError read_error(const boost::system::error_code& ec) const {
        return read_timed_out     ? read_timeout_error()
               : is_peer_gone(ec) ? peer_closed_error()
                                  : IpcError::io_error(ec, "reading a frame");
    }

    // The header of a frame of `parts` into `out` (kFrameHeaderSize bytes): its payload size.
    Result<std::size_t, IpcError> frame_header(std::uint8_t* out,
                                               std::span<const asio::const_buffer> parts) const {
        std::size_t total = 0;
        for (const auto& p : parts) total += p.size();
        if (auto ok = check_length(total, options.max_frame_bytes); !ok) {
            ok.error().detail = "writing a frame";
            return unexpected(std::move(ok.error()));
        }
        Crc32 crc(options.crc32_variant);
        for (const auto& p : parts) crc.update(p.data(), p.size());
        write_header(out, {static_cast<std::uint32_t>(total), crc.value()});
        return total;
    }

    // read_frames(): a callback loop, so a frame costs one completion handler, not a coroutine
    // resumption. The awaiting coroutine sleeps on frames_ended (a timer that never expires),
    // which finish_frames() cancels: it resumes in a handler of its own, once per loop.
    FrameSink sink;
    bool frames_running = false;
    Result<void, IpcError> frames_result;
    asio::steady_timer frames_ended{socket.get_executor(), Clock::time_point::max()};

    void start_frames(FrameSink s) {
        sink = std::move(s);
        frames_running = true;
        read_timed_out = false;
        frames_result = {};
        pump_frames();
    }

    // Hands out what is buffered, then starts the next read.
    void pump_frames() {
        bool delivered = false;
        for (;;) {
            auto next = decoder.next();
            if (!next) return finish_frames(unexpected(std::move(next.error())));
            if (!*next) break;
            end_read();  // a whole frame: its deadline ends with it
            if (!sink.on_frame(**next)) return finish_frames({});
            delivered = true;
        }
        if (delivered && sink.on_drained) sink.on_drained();
        if (read_timed_out) return finish_frames(unexpected(read_timeout_error()));
        const bool had_bytes = arm_read_deadline();
        auto space = decoder.prepare(kReadChunk);
        socket.async_read_some(
            asio::buffer(space.data(), space.size()),
            asio::bind_cancellation_slot(read_cancel.slot(),
                                         [self = shared_from_this(), had_bytes](
                                             const boost::system::error_code& ec, std::size_t n) {
                                             self->frames_read(ec, n, had_bytes);
                                         }));
    }

    void frames_read(const boost::system::error_code& ec, std::size_t n, bool had_bytes) {
        if (ec) return finish_frames(unexpected(read_error(ec)));
        commit_read(n, had_bytes);
        pump_frames();
    }

    void finish_frames(Result<void, IpcError> result) {
        end_read();
        sink = {};
        frames_result = std::move(result);
        frames_running = false;
        frames_ended.cancel();
    }

    asio::awaitable<Result<void, IpcError>> write_buffers(
        std::span<const asio::const_buffer> buffers, std::size_t total) {
        auto state = co_await asio::this_coro::cancellation_state;
        if (state.cancelled() != asio::cancellation_type::none) {
            co_return unexpected(cancelled("write cancelled before it started"));
        }
        ForwardCancellation forward(state.slot(), write_cancel);
        write_timed_out = false;
        set_write_deadline(options.write_timeout);
        auto [ec, n] = co_await asio::async_write(
            socket, buffers,
            asio::bind_cancellation_slot(write_cancel.slot(), asio::as_tuple(asio::use_awaitable)));
        if (ec) {
            auto e = write_error(ec, n, total);
            end_write();
            co_return unexpected(std::move(e));
        }
        end_write();
        co_return Result<void, IpcError>{};
    }
};

FramedStream::FramedStream(Socket socket, StreamOptions options)
    : impl_(std::make_shared<Impl>(std::move(socket), options)) {}

FramedStream::~FramedStream() {
    close();
}

void FramedStream::close() {
    boost::system::error_code ignored;
    impl_->timer.cancel();
    impl_->timer_armed = false;
    if (impl_->socket.is_open()) {
        impl_->socket.shutdown(Socket::shutdown_both, ignored);
        impl_->socket.close(ignored);
    }
}

bool FramedStream::is_open() const {
    return impl_->socket.is_open();
}
FramedStream::Socket& FramedStream::socket() {
    return impl_->socket;
}
const StreamOptions& FramedStream::options() const {
    return impl_->options;
}
void FramedStream::set_idle_timeout(std::chrono::milliseconds timeout) {
    impl_->options.idle_timeout = timeout;
}

asio::awaitable<Result<std::span<const std::uint8_t>, IpcError>> FramedStream::read_frame() {
    auto keep = impl_;  // the watchdog may outlive this FramedStream; so may this coroutine
    Impl& s = *keep;
    auto state = co_await asio::this_coro::cancellation_state;
    ForwardCancellation forward(state.slot(), s.read_cancel);
    s.read_timed_out = false;
    for (;;) {
        auto next = s.decoder.next();
        if (!next) {
            s.end_read();
            co_return unexpected(std::move(next.error()));
        }
        if (*next) {
            s.end_read();
            co_return **next;
        }
        // The deadline can pass between a read completing and this coroutine resuming.
        if (s.read_timed_out) {
            auto e = s.read_timeout_error();
            s.end_read();
            co_return unexpected(std::move(e));
        }
        if (state.cancelled() != asio::cancellation_type::none) {
            s.end_read();
            co_return unexpected(cancelled("read cancelled"));
        }
        const bool had_bytes = s.arm_read_deadline();
        auto space = s.decoder.prepare(kReadChunk);
        auto [ec, n] = co_await s.socket.async_read_some(
            asio::buffer(space.data(), space.size()),
            asio::bind_cancellation_slot(s.read_cancel.slot(),
                                         asio::as_tuple(asio::use_awaitable)));
        if (ec) {
            IpcError e = s.read_error(ec);
            s.end_read();
            co_return unexpected(std::move(e));
        }
        s.commit_read(n, had_bytes);
    }
}

asio::awaitable<Result<void, IpcError>> FramedStream::read_frames(FrameSink sink) {
    auto keep = impl_;  // as read_frame(): the loop may outlive this FramedStream
    Impl& s = *keep;
    s.start_frames(std::move(sink));
    while (s.frames_running) {
        // Deaf to the caller's cancellation (the loop owns the read until it ends).
        (void)co_await s.frames_ended.async_wait(asio::bind_cancellation_slot(
            asio::cancellation_slot(), asio::as_tuple(asio::use_awaitable)));
    }
    co_return std::move(s.frames_result);
}

asio::awaitable<Result<void, IpcError>> FramedStream::read_message(
    google::protobuf::MessageLite& message) {
    auto frame = co_await read_frame();
    if (!frame) co_return unexpected(std::move(frame.error()));
    co_return decode_payload(*frame, message);
}

asio::awaitable<Result<void, IpcError>> FramedStream::write_frame(
    std::span<const asio::const_buffer> parts) {
    auto keep = impl_;
    Impl& s = *keep;
    std::uint8_t header[kFrameHeaderSize];
    auto total = s.frame_header(header, parts);
    if (!total) co_return unexpected(std::move(total.error()));
    s.gather.clear();
    s.gather.emplace_back(header, sizeof header);
    s.gather.insert(s.gather.end(), parts.begin(), parts.end());
    co_return co_await s.write_buffers(s.gather, *total + kFrameHeaderSize);
}

asio::awaitable<Result<void, IpcError>> FramedStream::write_frame(
    std::span<const std::uint8_t> payload) {
    const asio::const_buffer part(payload.data(), payload.size());
    co_return co_await write_frame(std::span<const asio::const_buffer>(&part, 1));
}

asio::awaitable<Result<void, IpcError>> FramedStream::write_message(
    const google::protobuf::MessageLite& message) {
    auto keep = impl_;
    Impl& s = *keep;
    s.write_buf.clear();
    if (auto ok = append_message_frame(s.write_buf, message, s.options.crc32_variant,
                                       s.options.max_frame_bytes);
        !ok) {
        co_return ok;
    }
    const asio::const_buffer all(s.write_buf.data(), s.write_buf.size());
    co_return co_await s.write_buffers(std::span<const asio::const_buffer>(&all, 1),
                                       s.write_buf.size());
}

Result<std::size_t, IpcError> FramedStream::try_write_raw(std::span<const std::uint8_t> frames) {
    const asio::const_buffer all(frames.data(), frames.size());
    return impl_->send_now(std::span<const asio::const_buffer>(&all, 1), frames.size());
}

Result<std::size_t, IpcError> FramedStream::try_write_frame(
    std::span<const asio::const_buffer> parts) {
    Impl& s = *impl_;
    auto total = s.frame_header(s.pending_header, parts);
    if (!total) return unexpected(std::move(total.error()));
    s.gather.clear();
    s.gather.emplace_back(s.pending_header, sizeof s.pending_header);
    s.gather.insert(s.gather.end(), parts.begin(), parts.end());
    return s.send_now(s.gather, *total + kFrameHeaderSize);
}

Result<std::size_t, IpcError> FramedStream::try_write_whole_frame(std::span<std::uint8_t> frame) {
    Impl& s = *impl_;
    if (frame.size() < kFrameHeaderSize) {
        return unexpected(IpcError::encode("writing a frame: no room for its header"));
    }
    const asio::const_buffer payload(frame.data() + kFrameHeaderSize,
                                     frame.size() - kFrameHeaderSize);
    if (auto ok = s.frame_header(frame.data(), std::span(&payload, 1)); !ok) {
        return unexpected(std::move(ok.error()));
    }
    const asio::const_buffer all(frame.data(), frame.size());
    return s.send_now(std::span<const asio::const_buffer>(&all, 1), frame.size());
}

asio::awaitable<Result<void, IpcError>> FramedStream::write_frame_rest(
    std::span<const asio::const_buffer> parts, std::size_t written) {
    auto keep = impl_;
    Impl& s = *keep;
    std::size_t total = kFrameHeaderSize;
    for (const auto& p : parts) total += p.size();
    s.gather.clear();
    s.gather.emplace_back(s.pending_header, sizeof s.pending_header);
    s.gather.insert(s.gather.end(), parts.begin(), parts.end());
    // Skip what try_write_frame already sent.
    std::size_t skip = written, first = 0;
    while (first < s.gather.size() && skip >= s.gather[first].size()) {
        skip -= s.gather[first].size();
        ++first;
    }
    s.gather.erase(s.gather.begin(), s.gather.begin() + static_cast<std::ptrdiff_t>(first));
    if (!s.gather.empty() && skip > 0) s.gather.front() += skip;
    if (s.gather.empty()) co_return Result<void, IpcError>{};
    co_return co_await s.write_buffers(s.gather, total - written);
}

asio::awaitable<Result<void, IpcError>> FramedStream::write_raw(
    std::span<const std::uint8_t> frames) {
    auto keep = impl_;
    Impl& s = *keep;
    const asio::const_buffer all(frames.data(), frames.size());
    co_return co_await s.write_buffers(std::span<const asio::const_buffer>(&all, 1), frames.size());
}

}  // namespace daemoneye::wire
