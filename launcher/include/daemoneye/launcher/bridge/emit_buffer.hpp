// The bounded buffer between a plugin's emit() (any thread) and the bus writer. A full buffer
// refuses with DE_ERR_BACKPRESSURE instead of growing; nothing accepted is ever dropped later.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "daemoneye/plugin_api.h"

namespace daemoneye::launcher {

struct PendingEvent {
    std::string topic;
    std::string type;
    std::string payload;
    std::uint64_t timestamp_unix_nanos = 0;
};

class EmitBuffer {
  public:
    EmitBuffer(std::size_t max_messages, std::size_t max_bytes);

    // Copies the event in, or refuses: DE_ERR_BACKPRESSURE (full), DE_ERR_CLOSED (closed).
    de_status push(std::string_view topic, std::string_view type, const std::uint8_t* data,
                   std::size_t len, std::uint64_t timestamp_unix_nanos);

    // Moves queued events to `out` in order, stopping before `max_bytes` would be exceeded (but
    // always at least one when any is queued). Returns how many were moved.
    std::size_t drain(std::vector<PendingEvent>& out, std::size_t max_bytes);

    // Called (outside the lock) when a push makes the buffer non-empty: wakes the writer.
    void set_on_ready(std::function<void()> on_ready);
    void close();

    bool empty() const;
    std::size_t size() const;
    std::uint64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }
    std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
    std::size_t max_messages() const { return max_messages_; }

    static std::size_t cost(const PendingEvent& e) {
        return e.topic.size() + e.type.size() + e.payload.size() + 32;
    }

  private:
    const std::size_t max_messages_;
    const std::size_t max_bytes_;
    mutable std::mutex mutex_;
    std::deque<PendingEvent> queue_;
    std::size_t bytes_ = 0;
    bool closed_ = false;
    std::function<void()> on_ready_;
    std::atomic<std::uint64_t> accepted_{0};
    std::atomic<std::uint64_t> refused_{0};
};

}  // namespace daemoneye::launcher
