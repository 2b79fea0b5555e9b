#include "remote_transport.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "client_core.hpp"
#include "daemoneye/eventbus/topic.hpp"
#include "message_encoder.hpp"
#include "reconnect_backoff.hpp"
#include "wire_format.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;
using namespace wirefmt;

namespace {

BusError not_connected() {
    return BusError{BusError::Code::NotConnected, "not connected to the broker"};
}

}  // namespace

RemoteTransport::RemoteTransport(asio::any_io_executor executor, const ClientOptions& options,
                                 std::weak_ptr<BusClient::Impl> core)
    : executor_(std::move(executor)),
      options_(options),
      core_(std::move(core)),
      wake_(executor_, asio::steady_timer::time_point::max()),
      progress_(executor_, asio::steady_timer::time_point::max()),
      rng_(static_cast<std::uint64_t>(::getpid()) ^ unix_now_ns()) {
    out_.reserve(std::size_t{64} << 10);
    writing_.reserve(std::size_t{64} << 10);
}

RemoteTransport::~RemoteTransport() {
    if (stream_) stream_->close();
}

asio::awaitable<Result<bus::v1::Welcome, BusError>> RemoteTransport::connect(
    const bus::v1::Hello& hello, std::optional<Socket> socket) {
    wire::StreamOptions so;
    so.max_frame_bytes = options_.max_frame_bytes;
    so.crc32_variant = options_.crc32_variant;
    so.write_timeout = options_.write_timeout;
    so.read_timeout = std::chrono::milliseconds(30000);
    if (!socket) {
        can_redial_ = options_.reconnect.enabled && !options_.socket_path.empty();
        Socket s(executor_);
        boost::system::error_code ec;
        co_await s.async_connect(asio::local::stream_protocol::endpoint(options_.socket_path),
                                 asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            co_return unexpected(BusError{
                BusError::Code::Io,
                "cannot connect to broker at " + options_.socket_path + ": " + ec.message()});
        }
        socket.emplace(std::move(s));
    }
    auto stream = std::make_shared<wire::FramedStream>(std::move(*socket), so);
    auto op = handshake(stream, hello);
    auto welcome = co_await std::move(op);
    if (!welcome) {
        stream->close();
        co_return welcome;
    }
    stream_ = stream;
    connected_ = true;
    // What we send must fit the broker's limit too, or the broker drops the connection.
    send_limit_ = options_.max_frame_bytes;
    if (welcome->max_frame_bytes() > 0) {
        send_limit_ = std::min<std::size_t>(send_limit_, welcome->max_frame_bytes());
    }
    co_return welcome;
}

asio::awaitable<Result<bus::v1::Welcome, BusError>> RemoteTransport::handshake(
    std::shared_ptr<wire::FramedStream> stream, const bus::v1::Hello& hello) {
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer deadline(executor_, options_.handshake_timeout);
    deadline.async_wait([stream, timed_out](const boost::system::error_code& ec) {
        if (ec) return;
        *timed_out = true;
        stream->close();
    });
    bus::v1::Batch batch;
    *batch.add_items()->mutable_hello() = hello;
    // A refusing broker writes its Error and closes, maybe before our Hello is out: read anyway.
    auto sent = co_await stream->write_message(batch);
    bus::v1::Batch reply;
    auto r = co_await stream->read_message(reply);
    if (!r && !sent) {
        deadline.cancel();
        co_return unexpected(
            BusError{BusError::Code::Io, "sending Hello: " + sent.error().message()});
    }
    deadline.cancel();
    if (*timed_out) {
        co_return unexpected(BusError{BusError::Code::Timeout,
                                      "no Welcome from the broker within " +
                                          std::to_string(options_.handshake_timeout.count()) +
                                          " ms"});
    }
    if (!r) {
        co_return unexpected(
            BusError{BusError::Code::Io, "waiting for Welcome: " + r.error().message()});
    }
    for (const auto& item : reply.items()) {
        if (item.has_welcome()) co_return item.welcome();
        if (item.has_error()) {
            const auto code = item.error().code();
            BusError::Code c = BusError::Code::Protocol;
            if (code == bus::v1::ERROR_CODE_DENIED ||
                code == bus::v1::ERROR_CODE_PEER_CREDENTIALS) {
                c = BusError::Code::Denied;
            } else if (code == bus::v1::ERROR_CODE_LIMIT) {
                c = BusError::Code::Limit;
            }
            co_return unexpected(
                BusError{c, "broker refused the session: " + item.error().message()});
        }
    }
    co_return unexpected(
        BusError{BusError::Code::Protocol, "broker answered Hello without Welcome"});
}

void RemoteTransport::start() {
    auto self = shared_from_this();
    asio::co_spawn(
        executor_, [self] { return self->run(); }, asio::detached);
}

asio::awaitable<void> RemoteTransport::run() {
    auto self = shared_from_this();
    for (;;) {
        const auto gen = ++generation_;
        auto stream = stream_;
        asio::co_spawn(executor_, writer(stream, gen), asio::detached);
        asio::co_spawn(executor_, heartbeats(gen), asio::detached);
        bool undecodable = false;
        wire::FramedStream::FrameSink sink;
        sink.on_frame = [this, &undecodable](std::span<const std::uint8_t> frame) {
            dispatching_ = true;
            const bool ok = dispatch(frame);
            dispatching_ = false;
            if (!ok) {
                undecodable = true;
                return false;
            }
            if (flush_wanted_) {
                flush_wanted_ = false;
                flush_now();
            }
            return true;
        };
        auto op = stream->read_frames(std::move(sink));
        auto ended = co_await std::move(op);
        const std::string reason = undecodable ? "undecodable frame from the broker"
                                   : ended     ? "reading stopped"
                                               : ended.error().message();
        connected_ = false;
        ++generation_;
        stream->close();
        bytes_done_ = bytes_queued_;  // what was not written is gone with the connection
        out_.clear();
        writing_offset_ = 0;
        frame_start_ = SIZE_MAX;
        wake_writer();
        progress_.cancel();
        const bool redial = can_redial_ && !closed_;
        if (auto core = core_.lock()) core->on_disconnected(closed_ ? "closed" : reason, redial);
        // Closed meanwhile by a completion the disconnect ran (the client reported it Closed).
        if (!redial || closed_) co_return;

        // Re-dial with exponential backoff and jitter until it works (or attempts run out). The
        // policy was validated at connect (reconnect_backoff.hpp).
        std::size_t attempt = 0;
        bool back = false;
        while (!closed_) {
            ++attempt;
            std::uniform_real_distribution<double> random01(0.0, 1.0);
            asio::steady_timer t(executor_,
                                 reconnect_delay(attempt, options_.reconnect, random01(rng_)));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            if (closed_) break;
            auto core = core_.lock();
            if (!core) co_return;
            const auto hello = core->make_hello();
            auto op = connect(hello, std::nullopt);
            auto welcome = co_await std::move(op);
            if (closed_) {
                // Closed while the handshake ran: the client has reported Closed (close() found
                // no connection to say Goodbye on), so this one is told so and dropped, unused.
                if (welcome) {
                    connected_ = false;
                    // Best effort, as close() does: a fresh socket takes a Goodbye at once.
                    bus::v1::Batch bye;
                    bye.add_items()->mutable_goodbye()->set_reason(close_reason_);
                    std::vector<std::uint8_t> frame;
                    if (wire::append_message_frame(frame, bye, options_.crc32_variant,
                                                   send_limit_)) {
                        (void)stream_->try_write_raw(frame);
                    }
                    stream_->close();
                }
                co_return;
            }
            if (welcome) {
                core->on_connected(*welcome, true);
                back = true;
                break;
            }
            spdlog::info("eventbus client '{}': reconnect attempt {} failed: {}",
                         options_.client_name, attempt, welcome.error().message);
            if (options_.reconnect.max_attempts && attempt >= options_.reconnect.max_attempts)
                break;
        }
        if (!back) {
            if (auto core = core_.lock()) core->on_disconnected("gave up reconnecting", false);
            co_return;
        }
    }
}

bool RemoteTransport::dispatch(std::span<const std::uint8_t> frame) {
    auto core = core_.lock();
    if (!core) return false;
    Reader batch(frame);
    while (!batch.done()) {
        std::uint32_t f = 0;
        WireType wt{};
        std::span<const std::uint8_t> item;
        if (!batch.key(f, wt) || f != field::kBatchItems || wt != kLen || !batch.bytes(item)) {
            return false;
        }
        Reader env(item);
        std::uint32_t body = 0;
        WireType bwt{};
        std::span<const std::uint8_t> bytes;
        if (!env.key(body, bwt)) continue;
        if (body == field::kEnvDeliver && bwt == kLen && env.bytes(bytes)) {
            Reader d(bytes);
            std::span<const std::uint8_t> msg;
            ids_.clear();
            while (!d.done()) {
                std::uint32_t df = 0;
                WireType dwt{};
                if (!d.key(df, dwt)) break;
                if (df == field::kDeliverMessage && dwt == kLen) {
                    d.bytes(msg);
                } else if (df == field::kDeliverSubscriptionIds && dwt == kLen) {
                    std::span<const std::uint8_t> packed;
                    if (!d.bytes(packed)) break;
                    Reader p(packed);
                    std::uint64_t v = 0;
                    while (!p.done() && p.varint(v)) ids_.push_back(v);
                } else if (df == field::kDeliverSubscriptionIds && dwt == kVarint) {
                    std::uint64_t v = 0;
                    if (d.varint(v)) ids_.push_back(v);
                } else if (!d.skip(dwt)) {
                    break;
                }
            }
            if (!d.ok()) return false;
            // The broker checked it whole; what is left to check is that it can be read.
            auto view = MessageView::parse(msg, MessageView::Check::Structure);
            if (!view) {
                const auto n = ++core->counters.received_malformed;
                if ((n & (n - 1)) == 0) {
                    spdlog::warn("eventbus client '{}': delivery dropped ({} so far): {}",
                                 options_.client_name, n, view.error().message);
                }
                continue;
            }
            core->on_deliver(*view, ids_);
            continue;
        }
        if ((body == field::kEnvRpcRequest || body == field::kEnvRpcResponse) && bwt == kLen &&
            env.bytes(bytes) && env.done()) {
            if (body == field::kEnvRpcResponse) {
                if (response_.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
                    core->on_rpc_response(response_);
                } else {
                    core->on_malformed_rpc(false, bytes);
                }
            } else if (request_.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
                core->serve_request(std::make_shared<rpcv1::RpcRequest>(std::move(request_)));
            } else {
                core->on_malformed_rpc(true, bytes);
            }
            if (!connected_ && closed_) break;
            continue;
        }
        if (!envelope_.ParseFromArray(item.data(), static_cast<int>(item.size()))) return false;
        core->on_envelope(envelope_);
        if (!connected_ && closed_) break;
    }
    return true;
}

// --- outbound -------------------------------------------------------------------------------

std::uint8_t* RemoteTransport::reserve_item(std::size_t item_size) {
    // Frames close at ~64 KiB (or max_frame_bytes if smaller): the broker routes each frame as
    // it arrives instead of waiting for a whole 1 MiB one (see remote_session.cpp).
    const std::size_t max = std::min<std::size_t>(send_limit_, std::size_t{64} << 10);
    if (frame_start_ != SIZE_MAX && out_.size() - frame_start_ > wire::kFrameHeaderSize &&
        out_.size() - frame_start_ - wire::kFrameHeaderSize + item_size > max) {
        finish_frame();
    }
    if (frame_start_ == SIZE_MAX) {
        frame_start_ = out_.size();
        out_.resize(out_.size() + wire::kFrameHeaderSize);
    }
    const std::size_t at = out_.size();
    out_.resize(at + item_size);
    bytes_queued_ += item_size;
    return out_.data() + at;
}

void RemoteTransport::finish_frame() {
    if (frame_start_ == SIZE_MAX) return;
    std::uint8_t* base = out_.data() + frame_start_;
    const std::size_t len = out_.size() - frame_start_ - wire::kFrameHeaderSize;
    const auto crc = wire::crc32(options_.crc32_variant, base + wire::kFrameHeaderSize, len);
    wire::write_header(base, {static_cast<std::uint32_t>(len), crc});
    frame_start_ = SIZE_MAX;
}

void RemoteTransport::wake_writer() {
    if (writer_waiting_) {
        writer_waiting_ = false;
        wake_.cancel();
    }
}

void RemoteTransport::schedule_flush() {
    if (dispatching_) {
        flush_wanted_ = true;
        return;
    }
    if (flush_posted_) return;
    flush_posted_ = true;
    // Posted: everything queued by the current handler (a burst of publishes, a handler's
    // replies) goes out in one write.
    asio::post(executor_, [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->flush_now();
    });
}

void RemoteTransport::flush_now() {
    // Only while the writer coroutine is idle: otherwise it is writing and picks up out_ next.
    if (!writer_waiting_ || !stream_) return;
    if (!connected_ || out_.empty()) {
        if (!connected_ || closed_) wake_writer();
        return;
    }
    finish_frame();
    std::swap(out_, writing_);
    out_.clear();
    writing_offset_ = 0;
    auto sent = stream_->try_write_raw(writing_);
    if (sent && *sent == writing_.size()) {
        bytes_done_ += writing_.size();
        writing_.clear();
        progress_.cancel();
        if (closed_) wake_writer();  // the coroutine closes the stream
        return;
    }
    // The socket is full (or failed): the coroutine writes the rest and reports any error.
    writing_offset_ = sent ? *sent : 0;
    progress_.cancel();  // room in out_ again
    wake_writer();
}

Result<void, BusError> RemoteTransport::publish(std::string_view topic,
                                                std::string_view payload_type,
                                                std::span<const std::uint8_t> payload,
                                                const common::v1::CorrelationMetadata* corr) {
    if (!connected_) return unexpected(not_connected());
    // Checked here as the in-process path does, so a bad topic is the caller's error at once
    // (the broker would refuse it too, but only asynchronously, through on_broker_error).
    if (topic != valid_topic_) {
        if (auto v = validate_topic(topic); !v) {
            return unexpected(
                BusError{BusError::Code::InvalidTopic,
                         "invalid topic '" + std::string(topic) + "': " + v.error().message});
        }
        valid_topic_.assign(topic);
    }
    if (out_.size() >= options_.outbound_buffer_bytes) {
        return unexpected(BusError{BusError::Code::Backpressure,
                                   "outbound buffer full (" + std::to_string(out_.size()) +
                                       " bytes queued for the broker)"});
    }
    MessageEncoder enc(topic, payload_type, payload, unix_now_ns(), corr);
    const std::size_t msg = enc.size();
    const std::size_t pub = len_field_size(msg);
    const std::size_t env = len_field_size(pub);
    const std::size_t item = len_field_size(env);
    if (item + 4096 > send_limit_) {
        return unexpected(
            BusError{BusError::Code::Limit, "message of " + std::to_string(msg) +
                                                " bytes does not fit max_frame_bytes " +
                                                std::to_string(send_limit_)});
    }
    const bool was_empty = out_.empty();
    std::uint8_t* p = reserve_item(item);
    p = put_len_header(p, field::kBatchItems, env);
    p = put_len_header(p, field::kEnvPublish, pub);
    p = put_len_header(p, field::kPublishMessage, msg);
    enc.write(p);
    if (was_empty) schedule_flush();
    return {};
}

Result<void, BusError> RemoteTransport::control_fits(std::size_t body, std::size_t item) const {
    if (item <= send_limit_) return {};
    return unexpected(BusError{BusError::Code::Limit, "control message of " + std::to_string(body) +
                                                          " bytes exceeds max_frame_bytes " +
                                                          std::to_string(send_limit_)});
}

Result<void, BusError> RemoteTransport::send(const bus::v1::Envelope& envelope) {
    if (!connected_) return unexpected(not_connected());
    const std::size_t body = envelope.ByteSizeLong();
    const std::size_t item = len_field_size(body);
    if (auto fits = control_fits(body, item); !fits) return fits;
    const bool was_empty = out_.empty();
    std::uint8_t* p = reserve_item(item);
    p = put_len_header(p, field::kBatchItems, body);
    envelope.SerializeWithCachedSizesToArray(p);
    if (was_empty) schedule_flush();
    return {};
}

Result<void, BusError> RemoteTransport::send_rpc_request(rpcv1::RpcRequest& request,
                                                         const RequestStamp& stamp, bool now) {
    auto queued = send_body(field::kEnvRpcRequest, request, stamp);
    if (queued && now) flush_now();  // a no-op while the writer coroutine is busy
    return queued;
}

Result<void, BusError> RemoteTransport::send_rpc_response(const rpcv1::RpcResponse& response,
                                                          const ReplyStamp& stamp) {
    return send_body(field::kEnvRpcResponse, response, stamp);
}

template <class Stamp>
Result<void, BusError> RemoteTransport::send_body(std::uint32_t envelope_field,
                                                  const google::protobuf::MessageLite& body,
                                                  const Stamp& stamp) {
    if (!connected_) return unexpected(not_connected());
    const std::size_t size = body.ByteSizeLong() + stamp.size();
    const std::size_t env = len_field_size(size);
    const std::size_t item = len_field_size(env);
    if (auto fits = control_fits(size, item); !fits) return fits;
    const bool was_empty = out_.empty();
    std::uint8_t* p = reserve_item(item);
    p = put_len_header(p, field::kBatchItems, env);
    p = put_len_header(p, envelope_field, size);
    p = body.SerializeWithCachedSizesToArray(p);
    stamp.write(p);
    if (was_empty) schedule_flush();
    return {};
}

asio::awaitable<void> RemoteTransport::writer(std::shared_ptr<wire::FramedStream> stream,
                                              std::uint64_t gen) {
    auto self = shared_from_this();
    while (gen == generation_) {
        if (!writing_.empty()) {
            const std::size_t n = writing_.size();
            auto r = co_await stream->write_raw(
                std::span<const std::uint8_t>(writing_).subspan(writing_offset_));
            writing_.clear();
            writing_offset_ = 0;
            if (gen != generation_) break;
            bytes_done_ += n;
            progress_.cancel();
            if (!r) {
                spdlog::warn("eventbus client '{}': write failed: {}", options_.client_name,
                             r.error().message());
                stream->close();  // the reader sees it and handles reconnecting
                break;
            }
            continue;
        }
        if (out_.empty()) {
            if (closed_) {
                stream->close();
                break;
            }
            writer_waiting_ = true;
            co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        finish_frame();
        std::swap(out_, writing_);
        out_.clear();
        writing_offset_ = 0;
        progress_.cancel();  // room in out_ again
    }
}

asio::awaitable<void> RemoteTransport::heartbeats(std::uint64_t gen) {
    auto self = shared_from_this();
    std::uint64_t seq = 0;
    for (;;) {
        auto core = core_.lock();
        if (!core) co_return;
        const auto interval = std::chrono::milliseconds(core->welcome.heartbeat_interval_ms());
        core.reset();
        if (interval.count() == 0) co_return;
        asio::steady_timer t(executor_, interval);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        if (gen != generation_ || !connected_ || closed_) co_return;
        bus::v1::Envelope hb;
        hb.mutable_heartbeat()->set_sequence(++seq);
        hb.mutable_heartbeat()->mutable_timestamp()->set_unix_nanos(unix_now_ns());
        (void)send(hb);
    }
}

asio::awaitable<void> RemoteTransport::wait_writable() {
    auto self = shared_from_this();
    while (connected_ && out_.size() >= options_.outbound_buffer_bytes) {
        co_await progress_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> RemoteTransport::flush() {
    auto self = shared_from_this();
    const auto target = bytes_queued_;
    while (connected_ && bytes_done_ < target) {
        co_await progress_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

void RemoteTransport::close(const std::string& reason) {
    if (closed_) return;
    close_reason_ = reason;
    if (connected_) {
        bus::v1::Envelope bye;
        bye.mutable_goodbye()->set_reason(reason);
        (void)send(bye);
    }
    closed_ = true;
    wake_writer();
    if (!connected_ && stream_) stream_->close();
}

}  // namespace daemoneye::eventbus
