// One session's bounded outbound queue. Deliveries are capped by count and bytes (a full queue
// refuses the copy: the caller counts the drop); control messages (Ack, Error, RPC) have their
// own cap, so a flood of deliveries never crowds out an RPC reply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include <boost/container/small_vector.hpp>

#include "daemoneye/bus/v1/bus.pb.h"
#include "message_buffer.hpp"
#include "ring_queue.hpp"

namespace daemoneye::eventbus {

struct OutboundItem {
    enum class Kind : std::uint8_t { Empty, Deliver, Envelope, Object };
    Kind kind = Kind::Empty;
    std::uint32_t accounted_bytes = 0;  // what the queue counted for it (survives a move)
    MessageRef bytes;  // Deliver: the shared Message bytes; Envelope: one encoded Envelope
    boost::container::small_vector<std::uint64_t, 2> subscription_ids;  // Deliver
    std::shared_ptr<bus::v1::Envelope>
        object;  // Object: control for an in-process session (its own)
};

struct QueueLimits {
    std::size_t max_messages = 10000;
    std::size_t max_bytes = std::size_t{64} << 20;
    std::size_t max_control = 4096;
};

class OutboundQueue {
  public:
    explicit OutboundQueue(QueueLimits limits) : limits_(limits) {}

    // False when the delivery caps are reached (nothing queued).
    bool push_delivery(const MessageRef& message, std::span<const std::uint64_t> subscription_ids);
    // False when the control cap is reached.
    bool push_control(OutboundItem item);

    // Removes the control items `drop` picks, keeping the order of the rest; how many it removed.
    template <class Pred>
    std::size_t drop_controls_if(Pred drop) {
        std::size_t dropped = 0;
        for (std::size_t n = ring_.size(); n > 0; --n) {
            OutboundItem item = std::move(ring_.front());
            ring_.pop_front();
            if (item.kind != OutboundItem::Kind::Deliver && drop(item)) {
                --controls_;
                ++dropped;
            } else {
                ring_.push_back(std::move(item));
            }
        }
        return dropped;
    }

    bool empty() const { return ring_.empty(); }
    OutboundItem& front() { return ring_.front(); }
    void pop();
    void clear();

    std::size_t messages() const { return messages_; }
    std::size_t bytes() const { return bytes_; }
    std::size_t controls() const { return controls_; }
    const QueueLimits& limits() const { return limits_; }

  private:
    QueueLimits limits_;
    RingQueue<OutboundItem> ring_;
    std::size_t messages_ = 0;
    std::size_t bytes_ = 0;
    std::size_t controls_ = 0;
};

}  // namespace daemoneye::eventbus
