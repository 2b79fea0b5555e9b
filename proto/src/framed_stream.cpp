#include "daemoneye/wire/framed_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <google/protobuf/message_lite.h>

#include <string>

namespace daemoneye::wire {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Each read asks for at least this much free space so one recv() picks up many small frames.
constexpr std::size_t kReadChunk = 64 * 1024;

bool is_peer_gone(const boost::system::error_code& ec) {
    return ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe;
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
    Clock::time_point read_deadline = Clock::time_point::max();
    Clock::time_point write_deadline = Clock::time_point::max();
    bool read_timed_out = false;
    bool write_timed_out = false;
    bool timer_armed = false;
    std::vector<std::uint8_t> write_buf;
    std::vector<asio::const_buffer> gather;

    void set_read_deadline(std::chrono::milliseconds timeout) {
        read_deadline = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
        arm(read_deadline);
    }
    void set_write_deadline(std::chrono::milliseconds timeout) {
        write_deadline = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
        arm(write_deadline);
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
            boost::system::error_code ignored;
            socket.cancel(ignored);
        }
        if (now >= write_deadline) {
            write_timed_out = true;
            write_deadline = Clock::time_point::max();
            boost::system::error_code ignored;
            socket.cancel(ignored);
        }
        arm(std::min(read_deadline, write_deadline));
    }

    std::string partial_detail() const {
        const std::size_t have = decoder.buffered();
        if (have == 0) return "no frame in progress";
        std::string d = std::to_string(have) + " bytes of a frame received";
        if (auto len = decoder.pending_length()) {
            d += " of " + std::to_string(kFrameHeaderSize + *len);
        }
        return d;
    }
};

FramedStream::FramedStream(Socket socket, StreamOptions options)
    : impl_(std::make_shared<Impl>(std::move(socket), options)) {}

FramedStream::~FramedStream() { close(); }

void FramedStream::close() {
    boost::system::error_code ignored;
    impl_->timer.cancel();
    if (impl_->socket.is_open()) {
        impl_->socket.shutdown(Socket::shutdown_both, ignored);
        impl_->socket.close(ignored);
    }
}

bool FramedStream::is_open() const { return impl_->socket.is_open(); }
FramedStream::Socket& FramedStream::socket() { return impl_->socket; }
const StreamOptions& FramedStream::options() const { return impl_->options; }

asio::awaitable<Result<std::span<const std::uint8_t>, IpcError>> FramedStream::read_frame() {
    Impl& s = *impl_;
    auto keep = impl_;  // the watchdog may outlive us; so may this frame's view
    for (;;) {
        auto next = s.decoder.next();
        if (!next) {
            s.read_deadline = Clock::time_point::max();
            co_return unexpected(next.error());
        }
        if (*next) {
            s.read_deadline = Clock::time_point::max();
            co_return **next;
        }
        if (s.read_deadline == Clock::time_point::max()) {
            s.set_read_deadline(s.decoder.buffered() > 0 ? s.options.read_timeout
                                                         : s.options.idle_timeout);
        }
        auto space = s.decoder.prepare(kReadChunk);
        const bool had_bytes = s.decoder.buffered() > 0;
        auto [ec, n] = co_await s.socket.async_read_some(asio::buffer(space.data(), space.size()),
                                                         asio::as_tuple(asio::use_awaitable));
        if (ec) {
            s.read_deadline = Clock::time_point::max();
            if (s.read_timed_out) {
                s.read_timed_out = false;
                const auto limit = had_bytes ? s.options.read_timeout : s.options.idle_timeout;
                co_return unexpected(IpcError::timeout(
                    s.partial_detail() + " within " + std::to_string(limit.count()) + " ms"));
            }
            if (is_peer_gone(ec)) {
                co_return unexpected(IpcError::peer_closed(
                    had_bytes ? "mid-frame: " + s.partial_detail() : std::string{}));
            }
            co_return unexpected(IpcError::io_error(ec, "reading a frame"));
        }
        s.decoder.commit(n);
        if (!had_bytes && n > 0) {
            // The frame's first byte arrived: from now on the whole-frame deadline applies.
            s.set_read_deadline(s.options.read_timeout);
        }
    }
}

asio::awaitable<Result<void, IpcError>> FramedStream::read_message(
    google::protobuf::MessageLite& message) {
    auto frame = co_await read_frame();
    if (!frame) co_return unexpected(frame.error());
    co_return decode_payload(*frame, message);
}

asio::awaitable<Result<void, IpcError>> FramedStream::write_frame(
    std::span<const asio::const_buffer> parts) {
    Impl& s = *impl_;
    auto keep = impl_;
    std::size_t total = 0;
    Crc32 crc(s.options.crc32_variant);
    for (const auto& p : parts) {
        total += p.size();
        crc.update(p.data(), p.size());
    }
    if (total > s.options.max_frame_bytes) {
        co_return unexpected(IpcError::too_large(total, s.options.max_frame_bytes));
    }
    if (total == 0) co_return unexpected(IpcError::invalid_length(0));
    std::uint8_t header[kFrameHeaderSize];
    write_header(header, {static_cast<std::uint32_t>(total), crc.value()});
    s.gather.clear();
    s.gather.emplace_back(header, sizeof header);
    s.gather.insert(s.gather.end(), parts.begin(), parts.end());
    s.set_write_deadline(s.options.write_timeout);
    auto [ec, n] = co_await asio::async_write(s.socket, s.gather, asio::as_tuple(asio::use_awaitable));
    s.write_deadline = Clock::time_point::max();
    if (ec) {
        if (s.write_timed_out) {
            s.write_timed_out = false;
            co_return unexpected(IpcError::timeout("wrote " + std::to_string(n) + " of " +
                                                   std::to_string(total + kFrameHeaderSize) +
                                                   " bytes within " +
                                                   std::to_string(s.options.write_timeout.count()) +
                                                   " ms"));
        }
        if (is_peer_gone(ec)) co_return unexpected(IpcError::peer_closed("while writing"));
        co_return unexpected(IpcError::io_error(ec, "writing a frame"));
    }
    co_return Result<void, IpcError>{};
}

asio::awaitable<Result<void, IpcError>> FramedStream::write_frame(
    std::span<const std::uint8_t> payload) {
    const asio::const_buffer part(payload.data(), payload.size());
    co_return co_await write_frame(std::span<const asio::const_buffer>(&part, 1));
}

asio::awaitable<Result<void, IpcError>> FramedStream::write_message(
    const google::protobuf::MessageLite& message) {
    Impl& s = *impl_;
    auto keep = impl_;
    s.write_buf.clear();
    if (auto ok = append_message_frame(s.write_buf, message, s.options.crc32_variant,
                                       s.options.max_frame_bytes);
        !ok) {
        co_return ok;
    }
    co_return co_await write_raw(s.write_buf);
}

asio::awaitable<Result<void, IpcError>> FramedStream::write_raw(std::span<const std::uint8_t> frames) {
    Impl& s = *impl_;
    auto keep = impl_;
    s.set_write_deadline(s.options.write_timeout);
    auto [ec, n] = co_await asio::async_write(s.socket, asio::buffer(frames.data(), frames.size()),
                                              asio::as_tuple(asio::use_awaitable));
    s.write_deadline = Clock::time_point::max();
    if (ec) {
        if (s.write_timed_out) {
            s.write_timed_out = false;
            co_return unexpected(IpcError::timeout("wrote " + std::to_string(n) + " of " +
                                                   std::to_string(frames.size()) + " bytes within " +
                                                   std::to_string(s.options.write_timeout.count()) +
                                                   " ms"));
        }
        if (is_peer_gone(ec)) co_return unexpected(IpcError::peer_closed("while writing"));
        co_return unexpected(IpcError::io_error(ec, "writing frames"));
    }
    co_return Result<void, IpcError>{};
}

}  // namespace daemoneye::wire
