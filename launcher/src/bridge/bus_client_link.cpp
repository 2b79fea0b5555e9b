#include "daemoneye/launcher/bridge/bus_client_link.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "daemoneye/eventbus/bus_client.hpp"
#include "daemoneye/launcher/bridge/emit_buffer.hpp"

namespace daemoneye::launcher {

namespace asio = boost::asio;
using asio::awaitable;
using eventbus::BusClient;
using eventbus::BusError;

namespace {
constexpr std::size_t kDrainBytes = std::size_t{256}
                                    << 10;  // per pump round, so control messages interleave
}

struct BusClientLink::Impl {
    explicit Impl(int fd) : fd(fd) {}

    int fd;
    asio::io_context io;
    asio::steady_timer wake{io};
    std::atomic<bool> wake_pending{false};
    std::unique_ptr<BusClient> client;
    std::thread thread;
    BusCallbacks callbacks;
    EmitBuffer* events = nullptr;
    std::uint64_t sequence = 0;  // io thread

    // RPCs waiting for the control thread's answer (io thread only).
    struct Waiter {
        explicit Waiter(asio::io_context& io) : timer(io) {}
        asio::steady_timer timer;
        std::optional<rpc::v1::RpcResponse> response;
    };
    std::map<std::string, std::shared_ptr<Waiter>> waiting;

    std::mutex mutex;  // guards the fields below
    std::condition_variable idle;
    std::deque<bus::v1::Message> control;
    bool pumping = false;
    bool dead = false;
    bool started = false;

    void report_closed(const std::string& reason) {
        {
            std::lock_guard lock(mutex);
            if (dead) return;
            dead = true;
        }
        idle.notify_all();
        if (callbacks.on_closed) callbacks.on_closed(reason);
    }

    void poke() {
        if (!wake_pending.exchange(true)) asio::post(io, [this] { wake.cancel(); });
    }

    bool has_work() {
        std::lock_guard lock(mutex);
        return !control.empty() || (events != nullptr && !events->empty());
    }

    // Publishes one message, waiting for room when the client's outbound buffer is full.
    awaitable<bool> send(std::string_view topic, std::string_view type, std::string_view payload) {
        common::v1::CorrelationMetadata correlation;
        correlation.set_sequence_number(
            ++sequence);  // the broker restamps; a direct peer sees ours
        eventbus::PublishOptions options;
        options.correlation = &correlation;
        std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                            payload.size());
        for (;;) {
            auto r = client->publish(topic, type, bytes, options);
            if (r) co_return true;
            if (r.error().code == BusError::Code::Backpressure) {
                co_await client->wait_writable();
                continue;
            }
            spdlog::error("bus: publish on {} failed: {}", topic, r.error().message);
            co_return r.error().code != BusError::Code::NotConnected;
        }
    }

    awaitable<void> pump() {
        std::vector<PendingEvent> drained;
        for (;;) {
            std::deque<bus::v1::Message> batch;
            {
                std::lock_guard lock(mutex);
                if (dead) co_return;
                pumping = true;
                batch.swap(control);
            }
            bool alive = true;
            for (auto& m : batch)
                alive = alive && co_await send(m.topic(), m.payload_type(), m.payload());
            drained.clear();
            if (events != nullptr) events->drain(drained, kDrainBytes);
            for (auto& e : drained) alive = alive && co_await send(e.topic, e.type, e.payload);
            if (!alive) {
                report_closed("the bus connection is gone");
                co_return;
            }
            if (!batch.empty() || !drained.empty()) continue;
            {
                std::lock_guard lock(mutex);
                pumping = false;
            }
            idle.notify_all();
            wake_pending.store(false);
            if (has_work()) continue;
            wake.expires_at(asio::steady_timer::time_point::max());
            co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    awaitable<rpc::v1::RpcResponse> serve_one(rpc::v1::RpcRequest request) {
        auto waiter = std::make_shared<Waiter>(io);
        const std::string id = request.correlation_id();
        waiting[id] = waiter;
        if (callbacks.on_rpc) callbacks.on_rpc(std::move(request));
        while (!waiter->response) {
            waiter->timer.expires_at(asio::steady_timer::time_point::max());
            co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        waiting.erase(id);
        co_return std::move(*waiter->response);
    }
};

BusClientLink::BusClientLink(int fd) : impl_(std::make_unique<Impl>(fd)) {}

BusClientLink::~BusClientLink() {
    close("launcher shutting down", std::chrono::milliseconds(0));
}

std::optional<BusLinkStats> BusClientLink::stats() const {
    // The client belongs to the link's thread: its counters are read there.
    Impl* impl = impl_.get();
    if (!impl->started || !impl->client) return std::nullopt;
    auto read = std::make_shared<std::promise<BusLinkStats>>();
    auto future = read->get_future();
    asio::post(impl->io, [impl, read] {
        const auto c = impl->client->stats();
        read->set_value(BusLinkStats{c.published, c.rpc_served, c.rpc_malformed,
                                     c.errors_from_broker, c.outbound_bytes});
    });
    if (future.wait_for(std::chrono::milliseconds(500)) != std::future_status::ready) {
        return std::nullopt;
    }
    return future.get();
}

Result<bus::v1::Welcome> BusClientLink::handshake(const bus::v1::Hello& hello,
                                                  std::chrono::milliseconds timeout) {
    auto& impl = *impl_;
    eventbus::ClientOptions options;
    options.role = hello.role();
    options.client_name = hello.client_name();
    options.instance_id = hello.instance_id();
    options.manifest = hello.manifest();
    options.sandbox.assign(hello.sandbox().begin(), hello.sandbox().end());
    options.handshake_timeout = timeout;
    // The emit buffer is the bound the plugin sees; the client's own queue only needs a few
    // frames' worth for batching (and counts against the launcher's RLIMIT_AS).
    options.outbound_buffer_bytes = 2 * options.max_frame_bytes;

    std::optional<Result<std::unique_ptr<BusClient>, BusError>> connected;
    asio::co_spawn(
        impl.io,
        [&]() -> awaitable<void> {
            auto r =
                co_await BusClient::connect_fd(impl.io.get_executor(), impl.fd, std::move(options));
            connected.emplace(std::move(r));
        },
        [&](const std::exception_ptr& e) {
            if (e && !connected)
                connected.emplace(
                    unexpected(BusError{BusError::Code::Protocol, "handshake threw"}));
        });
    // Run until the answer is in, not until the io_context is out of work (the client keeps
    // timers and a reader armed, served later by the link's thread).
    const auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(1);
    while (!connected && std::chrono::steady_clock::now() < deadline)
        impl.io.run_one_until(deadline);
    impl.io.restart();
    if (!connected)
        return fail("no Welcome from the broker within " + std::to_string(timeout.count()) + " ms");
    if (!*connected) return fail("bus handshake: " + connected->error().message);
    impl.client = std::move(connected->value());
    return impl.client->welcome();
}

void BusClientLink::start(BusCallbacks callbacks, EmitBuffer& events) {
    auto& impl = *impl_;
    impl.callbacks = std::move(callbacks);
    impl.events = &events;
    impl.started = true;
    events.set_on_ready([this] { events_ready(); });
    impl.client->on_state_change([&impl](eventbus::ConnectionState s) {
        if (s != eventbus::ConnectionState::Connected)
            impl.report_closed("connection to the broker lost");
    });
    impl.client->on_broker_error([](const bus::v1::Error& e) {
        spdlog::warn("bus: broker error {} (ref {}): {}", static_cast<int>(e.code()), e.ref(),
                     e.message());
    });
    asio::co_spawn(impl.io, impl.pump(), asio::detached);
    impl.thread = std::thread([&impl] { impl.io.run(); });
}

void BusClientLink::serve_rpc(const std::string& topic) {
    Impl* impl = impl_.get();  // outlives every handler: close() joins the loop before it goes
    asio::co_spawn(
        impl->io,
        [impl, topic]() -> awaitable<void> {
            auto r = co_await impl->client->serve(
                topic, [impl](const rpc::v1::RpcRequest& req) { return impl->serve_one(req); });
            if (!r) impl->report_closed("cannot serve RPCs on " + topic + ": " + r.error().message);
        },
        asio::detached);
}

void BusClientLink::publish(bus::v1::Message message) {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->control.push_back(std::move(message));
    }
    impl_->poke();
}

void BusClientLink::respond(rpc::v1::RpcResponse response) {
    Impl* impl = impl_.get();
    asio::post(impl->io, [impl, response = std::move(response)]() mutable {
        auto it = impl->waiting.find(response.correlation_id());
        if (it == impl->waiting.end()) return;  // the call was abandoned
        it->second->response = std::move(response);
        it->second->timer.cancel();
    });
}

void BusClientLink::events_ready() {
    impl_->poke();
}

bool BusClientLink::flush(std::chrono::milliseconds timeout) {
    auto& impl = *impl_;
    if (!impl.started) return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    {
        std::unique_lock lock(impl.mutex);
        bool drained = impl.idle.wait_until(lock, deadline, [&] {
            return impl.dead || (impl.control.empty() && !impl.pumping &&
                                 (impl.events == nullptr || impl.events->empty()));
        });
        if (!drained || impl.dead) return false;
    }
    // Everything is queued in the client; wait until it is on the socket.
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    Impl* keep = impl_.get();
    asio::co_spawn(
        impl.io,
        [keep, done]() -> awaitable<void> {
            co_await keep->client->flush();
            done->set_value();
        },
        asio::detached);
    return future.wait_until(deadline) == std::future_status::ready;
}

void BusClientLink::close(const std::string& reason, std::chrono::milliseconds timeout) {
    auto& impl = *impl_;
    if (!impl.started) {
        if (impl.client) impl.client->close(reason);
        return;
    }
    if (!impl.thread.joinable()) return;
    bool alive = false;
    {
        std::lock_guard lock(impl.mutex);
        alive = !impl.dead;
    }
    if (alive && timeout.count() > 0) flush(timeout);
    {
        std::lock_guard lock(impl.mutex);
        impl.dead = true;  // no on_closed for a close we asked for
    }
    // The client's Goodbye is written asynchronously: let the loop run out of work, but never
    // wait on it for more than a moment.
    auto stop_timer = std::make_shared<asio::steady_timer>(impl.io);
    asio::post(impl.io, [&impl, reason, stop_timer] {
        impl.client->close(reason);
        impl.wake.cancel();
        for (auto& [id, w] : impl.waiting) w->timer.cancel();
        stop_timer->expires_after(std::chrono::milliseconds(500));
        stop_timer->async_wait([&impl](const boost::system::error_code&) { impl.io.stop(); });
    });
    impl.thread.join();
}

}  // namespace daemoneye::launcher
