#include "daemoneye/launcher/bridge/framed_bus_link.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <vector>

#include "daemoneye/launcher/bridge/emit_buffer.hpp"
#include "daemoneye/wire/framed_stream.hpp"

namespace daemoneye::launcher {

namespace asio = boost::asio;
using asio::awaitable;

namespace {
constexpr std::size_t kDefaultMaxFrame = 1024 * 1024;
constexpr std::size_t kFrameMargin = 4096;
}  // namespace

struct FramedBusLink::Impl {
    explicit Impl(int fd, std::atomic<std::uint64_t>& published_counter)
        : published(published_counter) {
        wire::StreamOptions options;
        options.idle_timeout = std::chrono::milliseconds(0);  // a quiet bus is normal
        stream.emplace(wire::FramedStream::Socket(io, asio::local::stream_protocol(), fd), options);
    }

    asio::io_context io;
    std::optional<wire::FramedStream> stream;
    asio::steady_timer wake{io};
    std::atomic<bool> wake_pending{false};
    std::thread thread;

    std::mutex mutex;  // guards everything below
    std::condition_variable idle;
    std::deque<bus::v1::Envelope> control;
    std::vector<bus::v1::Envelope> early;  // arrived with the Welcome
    bool writer_busy = false;
    bool dead = false;
    bool started = false;
    std::uint64_t next_subscription = 1;

    EmitBuffer* events = nullptr;
    BusCallbacks callbacks;
    std::uint64_t sequence = 0;  // writer thread only
    std::size_t max_frame = kDefaultMaxFrame;
    std::atomic<std::uint64_t>& published;

    void report_closed(const std::string& reason) {
        {
            std::lock_guard lock(mutex);
            if (dead) return;
            dead = true;
        }
        idle.notify_all();
        if (callbacks.on_closed) callbacks.on_closed(reason);
    }

    void enqueue(bus::v1::Envelope env) {
        {
            std::lock_guard lock(mutex);
            control.push_back(std::move(env));
        }
        poke();
    }

    void poke() {
        if (!wake_pending.exchange(true)) asio::post(io, [this] { wake.cancel(); });
    }

    bool has_work() {
        std::lock_guard lock(mutex);
        return !control.empty() || (events != nullptr && !events->empty());
    }

    void dispatch(bus::v1::Envelope& env) {
        switch (env.body_case()) {
            case bus::v1::Envelope::kRpcRequest:
                if (callbacks.on_rpc) callbacks.on_rpc(std::move(*env.mutable_rpc_request()));
                break;
            case bus::v1::Envelope::kDeliver: {
                const auto& m = env.deliver().message();
                if (m.payload_type() == rpc::v1::RpcRequest::descriptor()->full_name()) {
                    rpc::v1::RpcRequest req;
                    if (req.ParseFromString(m.payload()) && callbacks.on_rpc) {
                        callbacks.on_rpc(std::move(req));
                    } else {
                        spdlog::warn("bus: undecodable RpcRequest delivered on {}", m.topic());
                    }
                }
                break;
            }
            case bus::v1::Envelope::kError:
                spdlog::warn("bus: broker error {} (ref {}): {}",
                             static_cast<int>(env.error().code()), env.error().ref(),
                             env.error().message());
                break;
            case bus::v1::Envelope::kGoodbye:
                report_closed("broker said goodbye: " + env.goodbye().reason());
                break;
            default:
                break;  // Ack, Heartbeat: nothing to do
        }
    }

    awaitable<void> reader() {
        for (;;) {
            auto frame = co_await stream->read_frame();
            if (!frame) {
                report_closed("bus read failed: " + frame.error().message());
                co_return;
            }
            bus::v1::Batch batch;
            if (!batch.ParseFromArray(frame->data(), static_cast<int>(frame->size()))) {
                report_closed("undecodable Batch from the broker (" +
                              std::to_string(frame->size()) + " bytes)");
                co_return;
            }
            for (auto& env : *batch.mutable_items()) dispatch(env);
        }
    }

    awaitable<void> writer() {
        std::vector<PendingEvent> drained;
        for (;;) {
            bus::v1::Batch batch;
            std::size_t budget = max_frame - kFrameMargin;
            {
                std::lock_guard lock(mutex);
                if (dead) co_return;
                writer_busy = true;
                while (!control.empty()) {
                    std::size_t size = control.front().ByteSizeLong();
                    if (batch.items_size() > 0 && size + 16 > budget) break;
                    if (size + 16 > max_frame - kFrameMargin) {
                        spdlog::error(
                            "bus: control message of {} bytes exceeds the frame limit; dropped",
                            size);
                        control.pop_front();
                        continue;
                    }
                    budget -= std::min(budget, size + 16);
                    *batch.add_items() = std::move(control.front());
                    control.pop_front();
                }
            }
            drained.clear();
            if (events != nullptr && budget > 256) events->drain(drained, budget);
            for (auto& e : drained) {
                auto* m = batch.add_items()->mutable_publish()->mutable_message();
                m->set_topic(std::move(e.topic));
                m->set_payload_type(std::move(e.type));
                m->set_payload(std::move(e.payload));
                m->mutable_timestamp()->set_unix_nanos(e.timestamp_unix_nanos);
            }
            std::uint64_t publishes = 0;
            for (auto& env : *batch.mutable_items()) {
                if (env.has_publish()) {
                    env.mutable_publish()
                        ->mutable_message()
                        ->mutable_correlation()
                        ->set_sequence_number(++sequence);
                    ++publishes;
                }
            }
            if (batch.items_size() == 0) {
                {
                    std::lock_guard lock(mutex);
                    writer_busy = false;
                }
                idle.notify_all();
                wake_pending.store(false);
                if (has_work()) continue;
                wake.expires_at(asio::steady_timer::time_point::max());
                co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
                continue;
            }
            auto written = co_await stream->write_message(batch);
            {
                std::lock_guard lock(mutex);
                writer_busy = false;
            }
            idle.notify_all();
            if (!written) {
                report_closed("bus write failed: " + written.error().message());
                co_return;
            }
            published.fetch_add(publishes, std::memory_order_relaxed);
        }
    }
};

FramedBusLink::FramedBusLink(int fd) : impl_(std::make_unique<Impl>(fd, published_)) {}

FramedBusLink::~FramedBusLink() {
    close("launcher shutting down", std::chrono::milliseconds(0));
}

Result<bus::v1::Welcome> FramedBusLink::handshake(const bus::v1::Hello& hello,
                                                  std::chrono::milliseconds timeout) {
    auto& impl = *impl_;
    std::optional<Result<bus::v1::Welcome>> out;
    asio::co_spawn(
        impl.io,
        [&]() -> awaitable<void> {
            bus::v1::Batch batch;
            *batch.add_items()->mutable_hello() = hello;
            auto w = co_await impl.stream->write_message(batch);
            if (!w) {
                out.emplace(fail("sending Hello failed: " + w.error().message()));
                co_return;
            }
            for (;;) {
                auto frame = co_await impl.stream->read_frame();
                if (!frame) {
                    out.emplace(fail("waiting for Welcome: " + frame.error().message()));
                    co_return;
                }
                bus::v1::Batch in;
                if (!in.ParseFromArray(frame->data(), static_cast<int>(frame->size()))) {
                    out.emplace(fail("undecodable Batch while waiting for Welcome"));
                    co_return;
                }
                for (int i = 0; i < in.items_size(); ++i) {
                    auto& env = *in.mutable_items(i);
                    if (out) {
                        impl.early.push_back(std::move(env));
                    } else if (env.has_welcome()) {
                        out.emplace(std::move(*env.mutable_welcome()));
                    } else if (env.has_error()) {
                        out.emplace(fail("broker refused Hello: " + env.error().message()));
                    }
                }
                if (out) co_return;
            }
        },
        asio::detached);
    // Run until the answer is in, not until the io_context is out of work: the stream's deadline
    // timer stays armed and is served later by the link's thread.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!out && std::chrono::steady_clock::now() < deadline) impl.io.run_one_until(deadline);
    if (!out) {
        impl.stream->close();
        impl.io.poll();  // lets the handshake coroutine see the close and finish
        out.reset();
        out.emplace(
            fail("no Welcome from the broker within " + std::to_string(timeout.count()) + " ms"));
    }
    impl.io.restart();
    if (out->ok() && out->value().max_frame_bytes() >= 64 * 1024) {
        impl.max_frame = out->value().max_frame_bytes();
    }
    return std::move(*out);
}

void FramedBusLink::start(BusCallbacks callbacks, EmitBuffer& events) {
    auto& impl = *impl_;
    impl.callbacks = std::move(callbacks);
    impl.events = &events;
    impl.started = true;
    events.set_on_ready([this] { events_ready(); });
    for (auto& env : impl.early) impl.dispatch(env);
    impl.early.clear();
    asio::co_spawn(impl.io, impl.reader(), asio::detached);
    asio::co_spawn(impl.io, impl.writer(), asio::detached);
    impl.thread = std::thread([&impl] { impl.io.run(); });
}

void FramedBusLink::subscribe(const std::string& pattern) {
    bus::v1::Envelope env;
    {
        std::lock_guard lock(impl_->mutex);
        env.mutable_subscribe()->set_subscription_id(impl_->next_subscription++);
    }
    env.mutable_subscribe()->set_pattern(pattern);
    impl_->enqueue(std::move(env));
}

void FramedBusLink::publish(bus::v1::Message message) {
    bus::v1::Envelope env;
    *env.mutable_publish()->mutable_message() = std::move(message);
    impl_->enqueue(std::move(env));
}

void FramedBusLink::respond(rpc::v1::RpcResponse response) {
    bus::v1::Envelope env;
    *env.mutable_rpc_response() = std::move(response);
    impl_->enqueue(std::move(env));
}

void FramedBusLink::events_ready() {
    impl_->poke();
}

bool FramedBusLink::flush(std::chrono::milliseconds timeout) {
    auto& impl = *impl_;
    if (!impl.started) return true;
    std::unique_lock lock(impl.mutex);
    return impl.idle.wait_for(lock, timeout, [&] {
        return impl.dead || (impl.control.empty() && !impl.writer_busy &&
                             (impl.events == nullptr || impl.events->empty()));
    }) && !impl.dead;
}

void FramedBusLink::close(const std::string& reason, std::chrono::milliseconds timeout) {
    auto& impl = *impl_;
    if (!impl.started) {
        impl.stream->close();
        return;
    }
    if (!impl.thread.joinable()) return;
    bool alive = false;
    {
        std::lock_guard lock(impl.mutex);
        alive = !impl.dead;
    }
    if (alive && timeout.count() > 0) {
        bus::v1::Envelope bye;
        bye.mutable_goodbye()->set_reason(reason);
        impl.enqueue(std::move(bye));
        flush(timeout);
    }
    {
        std::lock_guard lock(impl.mutex);
        impl.dead = true;  // no on_closed for a close we asked for
    }
    asio::post(impl.io, [&impl] {
        impl.stream->close();
        impl.wake.cancel();
        impl.io.stop();
    });
    impl.thread.join();
}

}  // namespace daemoneye::launcher
