#include "remote_session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker_core.hpp"
#include "wire_format.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;

namespace {
// Frames of about this size: big enough that a frame carries hundreds of small deliveries (one
// write, one CRC, one read), small enough that the subscriber dispatches one while the next is
// in flight (a 1 MiB frame serialised the two: measured in docs/eventbus.md).
constexpr std::size_t kBatchBytes = std::size_t{64} << 10;
}  // namespace

RemoteSession::RemoteSession(std::uint64_t id, Transport transport, BrokerCore* broker,
                             QueueLimits limits, wire::FramedStream::Socket socket,
                             wire::StreamOptions stream_options,
                             std::chrono::milliseconds startup_timeout)
    : Session(id, transport, broker, limits),
      pool_(broker->pool),
      stream_(std::move(socket), stream_options),
      startup_timer_(broker->executor),
      startup_timeout_(startup_timeout),
      idle_timeout_(stream_options.idle_timeout),
      builder_(stream_options.max_frame_bytes, std::size_t{16} << 10, kBatchBytes) {
    // Until Welcome the startup deadline decides how long a silent peer may stay, not the
    // heartbeat-derived idle timeout (which is usually shorter).
    if (startup_timeout_.count() > 0) stream_.set_idle_timeout(std::chrono::milliseconds{0});
}

void RemoteSession::on_welcomed() {
    startup_timer_.cancel();
    stream_.set_idle_timeout(idle_timeout_);
}

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
    if (!queue_.empty()) wake();
}

void RemoteSession::wake() {
    if (flush_posted_ || flush_listed_ || async_writing_ || writer_done_) return;
    if (broker_ && broker_->deferring_flush) {
        flush_listed_ = true;
        broker_->flush_pending.push_back(shared_from_this());
        return;
    }
    flush_posted_ = true;
    // Posted, not done here: everything the current handler queues (a whole inbound Batch's
    // worth of routing) goes out in one frame.
    asio::post(stream_.socket().get_executor(),
               [self = std::static_pointer_cast<RemoteSession>(shared_from_this())] {
                   self->flush_posted_ = false;
                   self->flush();
               });
}

asio::awaitable<void> RemoteSession::reader() {
    auto self = shared_from_this();
    wire::FramedStream::FrameSink sink;
    sink.on_frame = [this](std::span<const std::uint8_t> frame) {
        if (closing || !broker_) return false;
        // Output this frame causes (deliveries, replies, RPC forwards) is written right after
        // it, in this handler...
        broker_->deferring_flush = true;
        broker_->on_frame(*this, frame);
        return !closing && broker_ != nullptr;
    };
    // ...or after the last frame this read brought in, when it brought several (a busy
    // publisher): one write per subscriber for all of them, not one per frame.
    sink.on_drained = [this] {
        if (broker_ && broker_->deferring_flush) broker_->flush_deferred();
    };
    auto op = stream_.read_frames(std::move(sink));
    auto ended = co_await std::move(op);
    if (broker_ && broker_->deferring_flush) broker_->flush_deferred();  // left mid-batch
    if (ended || closing) co_return;
    const auto& err = ended.error();
    using K = wire::IpcError::Kind;
    if (err.kind == K::PeerClosed && err.detail.empty()) {
        close("peer closed");
    } else if (broker_ && (err.kind == K::CrcMismatch || err.kind == K::TooLarge ||
                           err.kind == K::InvalidLength || err.kind == K::Decode)) {
        broker_->protocol_error(*this, bus::v1::ERROR_CODE_PROTOCOL, "bad frame: " + err.message(),
                                0, true);
    } else if (broker_ && err.kind == K::Timeout) {
        // A half-sent frame, or (after Welcome) nothing at all for four heartbeat intervals:
        // told, counted and logged like any other broken peer.
        if (!welcomed) broker_->counters.sessions_refused++;
        broker_->protocol_error(*this, bus::v1::ERROR_CODE_PROTOCOL, err.message(), 0, true);
    } else {
        close(err.message());
    }
}

void RemoteSession::flush_now() {
    flush_listed_ = false;
    flush();
}

void RemoteSession::flush() {
    if (async_writing_ || writer_done_) return;
    // A bounded number of frames per turn, then yield to the other sessions.
    for (int frames = 0; frames < 16; ++frames) {
        builder_.build(queue_);
        if (const auto n = builder_.take_oversized(); n > 0 && broker_) {
            broker_->counters.oversized_dropped += n;
            spdlog::error("eventbus: {}: dropped {} item(s) larger than max_frame_bytes ({})",
                          describe(), n, stream_.options().max_frame_bytes);
        }
        if (builder_.empty()) {
            if (queue_.empty() && closing) finish_writing();
            return;
        }
        // One buffer when everything was copied into the builder (send(), header in place);
        // scatter-gather when big messages are referenced where they are.
        const auto whole = builder_.whole_frame();
        auto sent = whole.empty() ? stream_.try_write_frame(builder_.buffers())
                                  : stream_.try_write_whole_frame(whole);
        if (!sent) {
            builder_.reset();
            write_failed(sent.error().message());
            return;
        }
        if (*sent < wire::kFrameHeaderSize + builder_.payload_bytes()) {
            // The socket is full: a coroutine waits for room and writes the rest (deadline:
            // write_timeout, then the session is closed).
            async_writing_ = true;
            asio::co_spawn(
                stream_.socket().get_executor(),
                [self = std::static_pointer_cast<RemoteSession>(shared_from_this()),
                 done = *sent]() { return self->write_rest(done); },
                asio::detached);
            return;
        }
        builder_.reset();
    }
    if (!queue_.empty() || closing) wake();
}

asio::awaitable<void> RemoteSession::write_rest(std::size_t written) {
    auto self = shared_from_this();
    const auto whole = builder_.whole_frame();
    Result<void, wire::IpcError> done;
    if (whole.empty()) {
        auto op = stream_.write_frame_rest(builder_.buffers(), written);
        done = co_await std::move(op);
    } else {
        auto op = stream_.write_raw(whole.subspan(written));
        done = co_await std::move(op);
    }
    builder_.reset();
    async_writing_ = false;
    if (!done) {
        write_failed(done.error().message());
        co_return;
    }
    flush();
}

void RemoteSession::write_failed(const std::string& why) {
    queue_.clear();
    if (!closing) close("write failed: " + why);
    finish_writing();
}

void RemoteSession::finish_writing() {
    if (writer_done_) return;
    writer_done_ = true;
    queue_.clear();
    stream_.close();
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
    // Requests routed here and not yet written are not sent: their callers have just been told
    // that this target went away, so it must not run them.
    const auto unsent = queue_.drop_controls_if([](const OutboundItem& item) {
        return item.kind == OutboundItem::Kind::Envelope && item.bytes &&
               wirefmt::envelope_carries(item.bytes.bytes(), wirefmt::field::kEnvRpcRequest);
    });
    if (unsent > 0) {
        spdlog::info("eventbus: {}: {} RPC request(s) queued for it not sent: it is closing",
                     describe(), unsent);
    }
    // Flush what is queued (an Error, a Goodbye), then close the stream.
    wake();
}

}  // namespace daemoneye::eventbus
