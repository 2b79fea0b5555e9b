#include "daemoneye/launcher/bridge/emit_buffer.hpp"

namespace daemoneye::launcher {

EmitBuffer::EmitBuffer(std::size_t max_messages, std::size_t max_bytes)
    : max_messages_(max_messages), max_bytes_(max_bytes) {}

de_status EmitBuffer::push(std::string_view topic, std::string_view type, const std::uint8_t* data,
                           std::size_t len, std::uint64_t timestamp_unix_nanos) {
    std::size_t need = topic.size() + type.size() + len + 32;
    bool was_empty = false;
    std::function<void()> notify;
    {
        std::lock_guard lock(mutex_);
        if (closed_) return DE_ERR_CLOSED;
        if (queue_.size() >= max_messages_ || bytes_ + need > max_bytes_) {
            refused_.fetch_add(1, std::memory_order_relaxed);
            return DE_ERR_BACKPRESSURE;
        }
        was_empty = queue_.empty();
        queue_.push_back(PendingEvent{std::string(topic), std::string(type),
                                      std::string(reinterpret_cast<const char*>(data), len),
                                      timestamp_unix_nanos});
        bytes_ += need;
        if (was_empty) notify = on_ready_;
    }
    accepted_.fetch_add(1, std::memory_order_relaxed);
    if (notify) notify();
    return DE_OK;
}

std::size_t EmitBuffer::drain(std::vector<PendingEvent>& out, std::size_t max_bytes) {
    std::lock_guard lock(mutex_);
    std::size_t moved = 0;
    std::size_t taken = 0;
    while (!queue_.empty()) {
        std::size_t c = cost(queue_.front());
        if (moved > 0 && taken + c > max_bytes) break;
        taken += c;
        bytes_ -= c;
        out.push_back(std::move(queue_.front()));
        queue_.pop_front();
        ++moved;
    }
    return moved;
}

void EmitBuffer::set_on_ready(std::function<void()> on_ready) {
    std::lock_guard lock(mutex_);
    on_ready_ = std::move(on_ready);
}

void EmitBuffer::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
}

bool EmitBuffer::empty() const {
    std::lock_guard lock(mutex_);
    return queue_.empty();
}

std::size_t EmitBuffer::size() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

}  // namespace daemoneye::launcher
