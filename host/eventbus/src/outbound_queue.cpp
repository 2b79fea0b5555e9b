#include "outbound_queue.hpp"

namespace daemoneye::eventbus {

namespace {
constexpr std::size_t kKeepSlots = 16384;  // ~1 MiB of OutboundItem
}  // namespace

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
    // Give memory back only past a burst well above the default 10 000-message buffer: freeing
    // and re-growing the ring on every drain cost page faults and mprotect calls per burst.
    if (ring_.empty() && ring_.capacity() > kKeepSlots) ring_.shrink(kKeepSlots);
}

void OutboundQueue::clear() {
    while (!empty()) pop();
}

}  // namespace daemoneye::eventbus
