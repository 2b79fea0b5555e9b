#include "message_buffer.hpp"

#include <new>

namespace daemoneye::eventbus {

BufferPool::BufferPool(std::size_t max_cached_bytes) : max_cached_bytes_(max_cached_bytes) {}

BufferPool::~BufferPool() {
    for (auto& list : free_) {
        for (MessageBuffer* b : list) ::operator delete(b);
    }
}

MessageRef BufferPool::allocate(std::size_t bytes) {
    std::uint8_t cls = kUnpooled;
    std::size_t capacity = bytes;
    for (std::size_t i = 0; i < kClasses.size(); ++i) {
        if (bytes <= kClasses[i]) {
            cls = static_cast<std::uint8_t>(i);
            capacity = kClasses[i];
            break;
        }
    }
    MessageBuffer* b = nullptr;
    if (cls != kUnpooled && !free_[cls].empty()) {
        b = free_[cls].back();
        free_[cls].pop_back();
        cached_bytes_ -= capacity;
    } else {
        void* mem = ::operator new(sizeof(MessageBuffer) + capacity);
        b = new (mem) MessageBuffer{};
        b->capacity = static_cast<std::uint32_t>(capacity);
        b->size_class = cls;
        b->pool = this;
    }
    b->size = 0;
    b->refs = 0;
    ++live_;
    return MessageRef(b);
}

void BufferPool::release(MessageBuffer* b) {
    --live_;
    if (b->size_class != kUnpooled && cached_bytes_ + b->capacity <= max_cached_bytes_) {
        cached_bytes_ += b->capacity;
        free_[b->size_class].push_back(b);
        return;
    }
    b->~MessageBuffer();
    ::operator delete(b);
}

}  // namespace daemoneye::eventbus
