#include "session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "daemoneye/eventbus/protocol.hpp"

#include "broker_core.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;

Session::Session(std::uint64_t id, Transport transport, BrokerCore* broker, QueueLimits limits)
    : broker_(broker),
      queue_(limits),
      id_(id),
      reply_topic_(eventbus::reply_topic(id)),
      transport_(transport) {}

Session::~Session() = default;

const char* Session::transport_name() const {
    switch (transport_) {
        case Transport::Socket:
            return "socket";
        case Transport::Adopted:
            return "adopted";
        case Transport::InProcess:
            return "in-process";
    }
    return "?";
}

std::string Session::describe() const {
    std::string d = "session " + std::to_string(id_);
    if (!name.empty() || !instance_id.empty()) {
        d += " (" + name;
        if (!instance_id.empty() && instance_id != name) d += "/" + instance_id;
        d += ")";
    }
    return d;
}

bool Session::enqueue_delivery(const MessageRef& message, std::span<const std::uint64_t> ids) {
    const bool was_empty = queue_.empty();
    if (!queue_.push_delivery(message, ids)) return false;
    if (was_empty) wake();
    return true;
}

bool Session::push_control(OutboundItem item) {
    const bool was_empty = queue_.empty();
    if (!queue_.push_control(std::move(item))) {
        control_overflow();
        return false;
    }
    if (was_empty) wake();
    return true;
}

void Session::control_overflow() {
    if (!broker_) return;
    ++broker_->counters.control_overflows;
    // An in-process client drains on this loop and cannot be left behind for long; its caller
    // gets the error the call site reports. A socket peer that lets control messages pile up
    // is not reading: it is closed (later, not inside whatever routing called us) so that it
    // learns, rather than waiting for replies and acks that were never queued.
    if (in_process() || closing || overflow_close_posted_) return;
    overflow_close_posted_ = true;
    spdlog::warn("eventbus: {}: control queue full ({} messages): closing the session", describe(),
                 queue_.controls());
    asio::post(broker_->executor, [weak = weak_from_this()] {
        if (auto self = weak.lock()) {
            if (!self->closing) self->close("control queue full: not reading its messages");
        }
    });
}

bool Session::enqueue_control(std::shared_ptr<bus::v1::Envelope> envelope) {
    OutboundItem item;
    item.kind = OutboundItem::Kind::Object;
    item.object = std::move(envelope);
    return push_control(std::move(item));
}

bool Session::enqueue_control(const bus::v1::Envelope& envelope) {
    if (in_process()) return enqueue_control(std::make_shared<bus::v1::Envelope>(envelope));
    if (!broker_) return false;
    const std::size_t size = envelope.ByteSizeLong();
    auto bytes = broker_->pool->allocate(size);
    envelope.SerializeWithCachedSizesToArray(bytes->data());
    bytes->size = static_cast<std::uint32_t>(size);
    return enqueue_control_encoded(std::move(bytes));
}

bool Session::enqueue_control_encoded(MessageRef envelope) {
    OutboundItem item;
    item.kind = OutboundItem::Kind::Envelope;
    item.bytes = std::move(envelope);
    return push_control(std::move(item));
}

bool Session::enqueue_error(bus::v1::ErrorCode code, std::string message, std::uint64_t ref) {
    bus::v1::Envelope env;
    auto* e = env.mutable_error();
    e->set_code(code);
    e->set_message(std::move(message));
    e->set_ref(ref);
    return enqueue_control(env);
}

SessionStats Session::stats() const {
    SessionStats s;
    s.session_id = id_;
    switch (role) {
        case bus::v1::ROLE_COLLECTOR:
            s.role = "collector";
            break;
        case bus::v1::ROLE_CLIENT:
            s.role = "client";
            break;
        case bus::v1::ROLE_AGENT:
            s.role = "agent";
            break;
        default:
            s.role = "unspecified";
    }
    s.name = name;
    s.instance_id = instance_id;
    s.transport = transport_name();
    s.pid = peer.pid;
    s.uid = peer.uid;
    s.publish_grants = acl.grants();
    s.published = published;
    s.denied = denied;
    s.delivered = delivered;
    s.dropped = dropped;
    s.queued_messages = queue_.messages();
    s.queued_bytes = queue_.bytes();
    for (const auto& [id, sub] : subscriptions) {
        s.subscriptions.push_back({id, sub.pattern, sub.rpc_server, sub.delivered, sub.dropped});
    }
    std::sort(s.subscriptions.begin(), s.subscriptions.end(),
              [](const auto& a, const auto& b) { return a.subscription_id < b.subscription_id; });
    return s;
}

}  // namespace daemoneye::eventbus
