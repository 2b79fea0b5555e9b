#include "local_session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "broker_core.hpp"

namespace daemoneye::eventbus {

namespace {
constexpr std::size_t kDrainBatch = 1024;  // items per dispatcher run, then yield to others
}

LocalSession::LocalSession(std::uint64_t id, BrokerCore* broker, QueueLimits limits)
    : Session(id, Transport::InProcess, broker, limits), pool_(broker->pool) {}

LocalSession::~LocalSession() {
    queue_.clear();
}

void LocalSession::wake() {
    if (drain_posted_ || drain_listed_ || !broker_) return;
    // Inside an inbound frame's handling: deliver right after it (once per round, so a client
    // that keeps feeding itself still yields to everyone else through the posted path).
    if (broker_->deferring_flush && inline_round_ != broker_->flush_round + 1) {
        drain_listed_ = true;
        inline_round_ = broker_->flush_round + 1;
        broker_->flush_pending.push_back(shared_from_this());
        return;
    }
    drain_posted_ = true;
    boost::asio::post(broker_->executor,
                      [self = std::static_pointer_cast<LocalSession>(shared_from_this())] {
                          self->drain_posted_ = false;
                          if (auto* b = self->broker_) {
                              b->with_deferred_flush([&] { self->drain(); });
                          } else {
                              self->drain();
                          }
                      });
}

void LocalSession::flush_now() {
    drain_listed_ = false;
    drain();
}

void LocalSession::drain() {
    auto endpoint = endpoint_.lock();
    if (!endpoint) {
        queue_.clear();
        return;
    }
    // Keep ourselves alive: a handler may close the client (and with it this session).
    auto self = shared_from_this();
    for (std::size_t n = 0; n < kDrainBatch && !queue_.empty(); ++n) {
        OutboundItem item = std::move(queue_.front());
        queue_.pop();
        if (item.kind == OutboundItem::Kind::Deliver) {
            auto view = MessageView::parse(item.bytes.bytes(), MessageView::Check::Structure);
            if (!view) {
                spdlog::error("eventbus: undecodable delivery for {}: {}", describe(),
                              view.error().message);
                continue;
            }
            endpoint->deliver(*view, {item.subscription_ids.data(), item.subscription_ids.size()});
        } else if (item.kind == OutboundItem::Kind::Object) {
            endpoint->control(item.object);
        }
        if (endpoint_.expired()) break;
    }
    if (!queue_.empty()) wake();
}

void LocalSession::close(std::string reason) {
    if (closing) return;
    closing = true;
    close_reason = reason;
    if (broker_) broker_->session_closed(*this, reason);
    queue_.clear();
    if (auto endpoint = endpoint_.lock()) endpoint->disconnected(reason);
}

}  // namespace daemoneye::eventbus
