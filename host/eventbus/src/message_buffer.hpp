// The broker's single encoding of one routed message (or one encoded control envelope):
// reference-counted (single-threaded: the broker's loop) and recycled through a size-class pool,
// so routing a message costs no heap allocation once the pool is warm.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace daemoneye::eventbus {

class BufferPool;

struct MessageBuffer {
    std::uint32_t refs = 0;
    std::uint32_t size = 0;      // bytes in use
    std::uint32_t capacity = 0;  // bytes after the header
    std::uint8_t size_class = 0;
    BufferPool* pool = nullptr;

    std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(this + 1); }
    const std::uint8_t* data() const { return reinterpret_cast<const std::uint8_t*>(this + 1); }
    std::span<const std::uint8_t> bytes() const { return {data(), size}; }
};

// Owning handle; copying adds a reference.
class MessageRef {
  public:
    MessageRef() = default;
    explicit MessageRef(MessageBuffer* b) : b_(b) {
        if (b_) ++b_->refs;
    }
    MessageRef(const MessageRef& o) : MessageRef(o.b_) {}
    MessageRef(MessageRef&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
    MessageRef& operator=(MessageRef o) noexcept {
        std::swap(b_, o.b_);
        return *this;
    }
    ~MessageRef() { reset(); }
    void reset();

    explicit operator bool() const { return b_ != nullptr; }
    MessageBuffer* get() const { return b_; }
    MessageBuffer* operator->() const { return b_; }
    std::span<const std::uint8_t> bytes() const { return b_->bytes(); }
    std::size_t size() const { return b_->size; }

  private:
    MessageBuffer* b_ = nullptr;
};

class BufferPool {
  public:
    // Keeps at most `max_cached_bytes` of free buffers for reuse; the rest go back to the heap.
    explicit BufferPool(std::size_t max_cached_bytes = std::size_t{64} << 20);
    ~BufferPool();
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    // A buffer with room for `bytes` (size 0, one reference held by the returned handle).
    MessageRef allocate(std::size_t bytes);

    std::size_t cached_bytes() const { return cached_bytes_; }
    std::size_t live_buffers() const { return live_; }

  private:
    friend class MessageRef;
    void release(MessageBuffer* b);

    static constexpr std::array<std::size_t, 6> kClasses{256, 512, 2048, 8192, 32768, 131072};
    static constexpr std::uint8_t kUnpooled = 0xFF;
    std::array<std::vector<MessageBuffer*>, kClasses.size()> free_;
    std::size_t cached_bytes_ = 0;
    std::size_t max_cached_bytes_;
    std::size_t live_ = 0;
};

inline void MessageRef::reset() {
    if (b_ && --b_->refs == 0) b_->pool->release(b_);
    b_ = nullptr;
}

}  // namespace daemoneye::eventbus
