#include "outbound_queue.hpp"

namespace daemoneye::eventbus {

bool OutboundQueue::push_delivery(const MessageRef& message,
                                  std::span<const std::uint64_t> subscription_ids) {
    const std::size_t size = message.size();
    if (messages_ >= limits_.max_messages || bytes_ + size > limits_.max_bytes) return false;
    OutboundItem item;
    item.kind = OutboundItem::Kind::Deliver;
    item.accounted_bytes = static_cast<std::uint32_t>(size);
    item.bytes = message;
    item.subscription_ids.assign(subscription_ids.begin(), subscription_ids.end());
    ring_.push_back(std::move(item));
    ++messages_;
    bytes_ += size;
    return true;
}

bool OutboundQueue::push_control(OutboundItem item) {
    if (controls_ >= limits_.max_control) return false;
    ring_.push_back(std::move(item));
    ++controls_;
    return true;
}

void OutboundQueue::pop() {
    OutboundItem& item = ring_.front();
    if (item.kind == OutboundItem::Kind::Deliver) {
        --messages_;
        bytes_ -= item.accounted_bytes;
    } else {
        --controls_;
    }
    ring_.pop_front();
    if (ring_.empty()) ring_.shrink(1024);
}

void OutboundQueue::clear() {
    while (!empty()) pop();
}

}  // namespace daemoneye::eventbus
