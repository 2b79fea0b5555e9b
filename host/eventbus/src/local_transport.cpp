#include "local_transport.hpp"

#include "broker_core.hpp"
#include "client_core.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;

LocalTransport::LocalTransport(std::shared_ptr<LocalSession> session,
                               std::weak_ptr<BusClient::Impl> core)
    : session_(std::move(session)), core_(std::move(core)) {}

LocalTransport::~LocalTransport() {
    if (session_ && !session_->closing) session_->close("client destroyed");
}

bool LocalTransport::connected() const {
    return session_ && !session_->closing && session_->broker() != nullptr &&
           !session_->broker()->stopped;
}

Result<void, BusError> LocalTransport::publish(std::string_view topic,
                                               std::string_view payload_type,
                                               std::span<const std::uint8_t> payload,
                                               const common::v1::CorrelationMetadata* correlation) {
    if (!connected()) {
        return unexpected(BusError{BusError::Code::NotConnected, "broker is not running"});
    }
    return session_->broker()->publish_local(*session_, topic, payload_type, payload, correlation);
}

Result<void, BusError> LocalTransport::send(const bus::v1::Envelope& envelope) {
    if (!connected()) {
        return unexpected(BusError{BusError::Code::NotConnected, "broker is not running"});
    }
    session_->broker()->on_envelope(*session_, envelope);
    return {};
}

Result<void, BusError> LocalTransport::send_rpc_request(rpcv1::RpcRequest& request,
                                                        const RequestStamp& stamp,
                                                        bool /*now: routed at once anyway*/) {
    if (!connected()) {
        return unexpected(BusError{BusError::Code::NotConnected, "broker is not running"});
    }
    stamp.apply(request);  // the broker reads an in-process caller's request as an object
    session_->broker()->on_rpc_request(*session_, request);
    return {};
}

Result<void, BusError> LocalTransport::send_rpc_response(const rpcv1::RpcResponse& response,
                                                         const ReplyStamp& stamp) {
    if (!connected()) {
        return unexpected(BusError{BusError::Code::NotConnected, "broker is not running"});
    }
    session_->broker()->on_rpc_response(*session_, response, &stamp);
    return {};
}

asio::awaitable<void> LocalTransport::wait_writable() {
    co_return;
}
asio::awaitable<void> LocalTransport::flush() {
    co_return;
}

void LocalTransport::close(const std::string& reason) {
    // Reported as a socket client's Goodbye is ("goodbye: <reason>", broker.hpp): an in-process
    // client has no frame to send, but closing is the same deliberate goodbye.
    if (session_ && !session_->closing) session_->close("goodbye: " + reason);
}

void LocalTransport::deliver(MessageView& message, std::span<const std::uint64_t> ids) {
    if (auto core = core_.lock()) core->on_deliver(message, ids);
}

void LocalTransport::control(const std::shared_ptr<bus::v1::Envelope>& envelope) {
    auto core = core_.lock();
    if (!core) return;
    if (envelope->has_rpc_request()) {
        // The server's job reads the request where the broker parsed it (no copy, no move).
        core->serve_request(
            std::shared_ptr<const rpcv1::RpcRequest>(envelope, &envelope->rpc_request()));
        return;
    }
    core->on_envelope(*envelope);
}

void LocalTransport::disconnected(const std::string& reason) {
    auto core = core_.lock();
    if (core && !core->closed) core->on_disconnected(reason, false);
}

}  // namespace daemoneye::eventbus
