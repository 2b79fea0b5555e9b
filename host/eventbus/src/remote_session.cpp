#include "remote_session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker_core.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;

namespace {
// Frames of about this size: big enough that a frame carries hundreds of small deliveries (one
// write, one CRC, one read), small enough that the subscriber dispatches one while the next is
// in flight (a 1 MiB frame serialised the two: measured in docs/eventbus.md).
constexpr std::size_t kBatchBytes = 64 * 1024;
}  // namespace

RemoteSession::RemoteSession(std::uint64_t id, Transport transport, BrokerCore* broker,
                             QueueLimits limits, wire::FramedStream::Socket socket,
                             wire::StreamOptions stream_options,
                             std::chrono::milliseconds startup_timeout)
    : Session(id, transport, broker, limits),
      pool_(broker->pool),
      stream_(std::move(socket), stream_options),
      wake_timer_(broker->executor),
      startup_timer_(broker->executor),
      startup_timeout_(startup_timeout),
      builder_(stream_options.max_frame_bytes, 16 * 1024, kBatchBytes) {}

RemoteSession::~RemoteSession() {
    queue_.clear();
}

void RemoteSession::start() {
    auto self = std::static_pointer_cast<RemoteSession>(shared_from_this());
    if (startup_timeout_.count() > 0) {
        startup_timer_.expires_after(startup_timeout_);
        startup_timer_.async_wait([self](const boost::system::error_code& ec) {
            if (ec || self->welcomed || self->closing) return;
            if (self->broker_) {
                self->broker_->counters.sessions_refused++;
                self->broker_->protocol_error(*self, bus::v1::ERROR_CODE_PROTOCOL,
                                              "no Hello within startup_timeout (" +
                                                  std::to_string(self->startup_timeout_.count()) +
                                                  " ms)",
                                              0, true);
            } else {
                self->close("no Hello within startup timeout");
            }
        });
    }
    asio::co_spawn(
        stream_.socket().get_executor(), [self]() { return self->reader(); }, asio::detached);
    asio::co_spawn(
        stream_.socket().get_executor(), [self]() { return self->writer(); }, asio::detached);
}

void RemoteSession::wake() {
    if (writer_waiting_) {
        writer_waiting_ = false;
        wake_timer_.cancel();
    }
}

asio::awaitable<void> RemoteSession::reader() {
    auto self = shared_from_this();
    while (!closing) {
        auto frame = co_await stream_.read_frame();
        if (closing) break;
        if (!frame) {
            const auto& err = frame.error();
            using K = wire::IpcError::Kind;
            if (err.kind == K::PeerClosed && err.detail.empty()) {
                close("peer closed");
            } else if (broker_ && (err.kind == K::CrcMismatch || err.kind == K::TooLarge ||
                                   err.kind == K::InvalidLength || err.kind == K::Decode)) {
                broker_->protocol_error(*this, bus::v1::ERROR_CODE_PROTOCOL,
                                        "bad frame: " + err.message(), 0, true);
            } else {
                close(err.message());
            }
            break;
        }
        if (!broker_) break;
        broker_->on_frame(*this, *frame);
    }
    co_return;
}

asio::awaitable<void> RemoteSession::writer() {
    auto self = shared_from_this();
    for (;;) {
        if (queue_.empty()) {
            if (closing) break;
            writer_waiting_ = true;
            wake_timer_.expires_at(asio::steady_timer::time_point::max());
            co_await wake_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
            writer_waiting_ = false;
            continue;
        }
        builder_.build(queue_);
        if (builder_.empty()) continue;
        auto written = co_await stream_.write_frame(builder_.buffers());
        builder_.reset();
        if (!written) {
            queue_.clear();
            if (!closing) close("write failed: " + written.error().message());
            break;
        }
    }
    writer_done_ = true;
    queue_.clear();
    stream_.close();
    co_return;
}

void RemoteSession::close(std::string reason) {
    if (closing) return;
    closing = true;
    close_reason = reason;
    startup_timer_.cancel();
    // Stop reading now; the writer flushes what is queued (an Error, a Goodbye) and closes.
    boost::system::error_code ignored;
    stream_.socket().shutdown(wire::FramedStream::Socket::shutdown_receive, ignored);
    if (broker_) broker_->session_closed(*this, reason);
    writer_waiting_ = false;
    wake_timer_.cancel();
}

}  // namespace daemoneye::eventbus
