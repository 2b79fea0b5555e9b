#include "daemoneye/eventbus/bus_client.hpp"

#include <unistd.h>

#include <memory>

#include <google/protobuf/message_lite.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker_core.hpp"
#include "client_core.hpp"
#include "daemoneye/eventbus/broker.hpp"
#include "daemoneye/eventbus/topic.hpp"
#include "local_transport.hpp"
#include "reconnect_backoff.hpp"
#include "remote_transport.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;

namespace {

asio::awaitable<Result<std::unique_ptr<BusClient>, BusError>> connect_remote(
    BusClient::Executor ex, ClientOptions options, std::optional<RemoteTransport::Socket> socket,
    std::function<std::unique_ptr<BusClient>(std::shared_ptr<BusClient::Impl>)> make) {
    auto impl = std::make_shared<BusClient::Impl>(ex, options);
    auto transport = std::make_shared<RemoteTransport>(ex, options, impl);
    const auto hello = impl->make_hello();
    auto op = transport->connect(hello, std::move(socket));
    auto welcome = co_await std::move(op);
    if (!welcome) co_return unexpected(welcome.error());
    impl->transport = transport;
    impl->on_connected(*welcome, false);
    transport->start();
    co_return make(impl);
}

}  // namespace

BusClient::BusClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

BusClient::~BusClient() {
    if (impl_) impl_->close("client closed");
}

asio::awaitable<Result<std::unique_ptr<BusClient>, BusError>> BusClient::connect(
    Executor executor, ClientOptions options) {
    if (options.socket_path.empty()) {
        co_return unexpected(BusError{BusError::Code::Io, "ClientOptions.socket_path is empty"});
    }
    if (options.reconnect.enabled) {
        if (auto ok = validate_reconnect_policy(options.reconnect); !ok)
            co_return unexpected(ok.error());
    }
    // Named first: GCC 12 double-destroys lambdas that share a full-expression with co_await.
    std::function<std::unique_ptr<BusClient>(std::shared_ptr<Impl>)> make =
        [](std::shared_ptr<Impl> i) {
            return std::unique_ptr<BusClient>(new BusClient(std::move(i)));
        };
    auto op = connect_remote(executor, std::move(options), std::nullopt, std::move(make));
    co_return co_await std::move(op);
}

asio::awaitable<Result<std::unique_ptr<BusClient>, BusError>> BusClient::connect_fd(
    Executor executor, int fd, ClientOptions options) {
    RemoteTransport::Socket socket(executor);
    boost::system::error_code ec;
    socket.assign(asio::local::stream_protocol(), fd, ec);
    if (ec) {
        // Ours to close all the same (e.g. epoll refused it): the caller handed it over.
        ::close(fd);
        co_return unexpected(BusError{BusError::Code::Io, "broker fd " + std::to_string(fd) +
                                                              " is not usable: " + ec.message()});
    }
    // Checked though a socketpair is never re-dialled: the same options would fail connect(),
    // and a caller should learn that here (the socket, which owns the fd now, closes it).
    if (options.reconnect.enabled) {
        if (auto ok = validate_reconnect_policy(options.reconnect); !ok) {
            co_return unexpected(ok.error());
        }
    }
    options.reconnect.enabled = false;  // a socketpair cannot be re-dialled
    // Named first: GCC 12 double-destroys lambdas that share a full-expression with co_await.
    std::function<std::unique_ptr<BusClient>(std::shared_ptr<Impl>)> make =
        [](std::shared_ptr<Impl> i) {
            return std::unique_ptr<BusClient>(new BusClient(std::move(i)));
        };
    auto op = connect_remote(executor, std::move(options), std::move(socket), std::move(make));
    co_return co_await std::move(op);
}

Result<std::unique_ptr<BusClient>, BusError> BusClient::connect_local(Broker& broker,
                                                                      ClientOptions options) {
    auto& core = broker.core();
    if (core.stopped) return unexpected(BusError{BusError::Code::NotConnected, "broker stopped"});
    auto impl = std::make_shared<Impl>(broker.get_executor(), std::move(options));
    auto session = core.add_local();
    auto transport = std::make_shared<LocalTransport>(session, impl);
    session->attach(transport);
    auto welcome = core.admit(*session, impl->make_hello());
    if (!welcome) {
        session->close(welcome.error().message());
        return unexpected(BusError{BusError::Code::Protocol, welcome.error().message()});
    }
    impl->transport = transport;
    impl->on_connected(*welcome, false);
    return std::unique_ptr<BusClient>(new BusClient(impl));
}

const bus::v1::Welcome& BusClient::welcome() const {
    return impl_->welcome;
}
std::uint64_t BusClient::session_id() const {
    return impl_->welcome.session_id();
}
ConnectionState BusClient::state() const {
    return impl_->state;
}
void BusClient::on_state_change(std::function<void(ConnectionState)> cb) {
    impl_->state_callback = std::move(cb);
}
void BusClient::on_broker_error(std::function<void(const bus::v1::Error&)> cb) {
    impl_->error_callback = std::move(cb);
}

asio::awaitable<Result<std::uint64_t, BusError>> BusClient::subscribe(std::string pattern,
                                                                      MessageHandler handler) {
    if (!handler) {
        co_return unexpected(BusError{BusError::Code::Protocol, "subscribe: handler is empty"});
    }
    RpcHandler none;
    auto op = impl_->add_subscription(pattern, handler, none);
    co_return co_await std::move(op);
}

asio::awaitable<Result<void, BusError>> BusClient::unsubscribe(std::uint64_t id) {
    auto op = impl_->remove_subscription(id);
    co_return co_await std::move(op);
}

Result<void, BusError> BusClient::publish(std::string_view topic, std::string_view payload_type,
                                          std::span<const std::uint8_t> payload,
                                          const PublishOptions& options) {
    auto& i = *impl_;
    if (!i.transport) {
        ++i.counters.publish_refused;
        return unexpected(BusError{BusError::Code::NotConnected, "not connected"});
    }
    auto r = i.transport->publish(topic, payload_type, payload, options.correlation);
    if (!r && r.error().code == BusError::Code::InvalidTopic) {
        ++i.counters.publish_refused;
        return r;
    }
    if (r) {
        ++i.counters.published;
        return r;
    }
    ++i.counters.publish_refused;
    return r;
}

Result<void, BusError> BusClient::publish(std::string_view topic,
                                          const google::protobuf::MessageLite& message,
                                          const PublishOptions& options) {
    const std::string bytes = message.SerializeAsString();
    return publish(topic, message.GetTypeName(),
                   {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, options);
}

asio::awaitable<void> BusClient::wait_writable() {
    if (auto t = impl_->transport) co_await t->wait_writable();
}

asio::awaitable<void> BusClient::flush() {
    if (auto t = impl_->transport) co_await t->flush();
}

asio::awaitable<Result<rpcv1::RpcResponse, RpcError>> BusClient::call(
    RpcRequest request, std::chrono::milliseconds timeout) {
    // Not a coroutine itself: the caller awaits the initiation directly (one frame less), and
    // the pending call holds the coroutine's own handler (no callback bridge, no shared state).
    // The request travels through the initiation behind a pointer: asio moves its arguments a
    // few times, and every moved-from protobuf message still pays a full destructor.
    using R = Result<rpcv1::RpcResponse, RpcError>;
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(
        [impl = impl_, timeout](auto handler, std::unique_ptr<RpcRequest> req) {
            impl->async_call(std::move(*req), timeout, std::move(handler));
        },
        asio::use_awaitable, std::make_unique<RpcRequest>(std::move(request)));
}

void BusClient::async_call(RpcRequest request, std::chrono::milliseconds timeout,
                           std::function<void(Result<rpcv1::RpcResponse, RpcError>)> done) {
    impl_->async_call(std::move(request), timeout, std::move(done));
}

asio::awaitable<Result<std::uint64_t, BusError>> BusClient::serve(std::string pattern,
                                                                  RpcHandler handler) {
    if (!handler) {
        co_return unexpected(BusError{BusError::Code::Protocol, "serve: handler is empty"});
    }
    MessageHandler none;
    auto op = impl_->add_subscription(pattern, none, handler);
    co_return co_await std::move(op);
}

ClientStats BusClient::stats() const {
    ClientStats s = impl_->counters;
    s.outbound_bytes = impl_->transport ? impl_->transport->outbound_bytes() : 0;
    return s;
}

std::vector<ClientSubscriptionStats> BusClient::subscription_stats() const {
    return impl_->subscription_stats();
}

std::size_t BusClient::pending_requests() const {
    return impl_->pending_calls();
}

void BusClient::close(const std::string& reason) {
    impl_->close(reason);
}

BusClient::Executor BusClient::get_executor() const {
    return impl_->executor;
}

}  // namespace daemoneye::eventbus
