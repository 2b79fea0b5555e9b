// A FIFO over one growable power-of-two ring: push/pop without per-element allocation (std::deque
// allocates a block every few elements). Grows by doubling; shrink() gives memory back when idle.
#pragma once

#include <cassert>
#include <cstddef>
#include <utility>
#include <vector>

namespace daemoneye::eventbus {

template <class T>
class RingQueue {
  public:
    explicit RingQueue(std::size_t initial_capacity = 16) {
        slots_.resize(round_up(initial_capacity));
    }

    bool empty() const { return count_ == 0; }
    std::size_t size() const { return count_; }
    std::size_t capacity() const { return slots_.size(); }

    void push_back(T value) {
        if (count_ == slots_.size()) grow(slots_.size() * 2);
        slots_[(head_ + count_) & (slots_.size() - 1)] = std::move(value);
        ++count_;
    }
    T& front() {
        assert(count_ > 0);
        return slots_[head_];
    }
    T& back() {
        assert(count_ > 0);
        return slots_[(head_ + count_ - 1) & (slots_.size() - 1)];
    }
    T& operator[](std::size_t i) { return slots_[(head_ + i) & (slots_.size() - 1)]; }
    const T& operator[](std::size_t i) const { return slots_[(head_ + i) & (slots_.size() - 1)]; }
    void pop_front() {
        assert(count_ > 0);
        slots_[head_] = T{};  // drop what the slot holds (references) now, not at overwrite
        head_ = (head_ + 1) & (slots_.size() - 1);
        --count_;
    }
    void clear() {
        while (!empty()) pop_front();
    }
    // When empty and larger than `keep`, give the memory back.
    void shrink(std::size_t keep) {
        if (count_ == 0 && slots_.size() > round_up(keep)) {
            std::vector<T>(round_up(keep)).swap(slots_);
            head_ = 0;
        }
    }

  private:
    static std::size_t round_up(std::size_t n) {
        std::size_t c = 1;
        while (c < n) c <<= 1;
        return c;
    }
    void grow(std::size_t cap) {
        std::vector<T> next(cap);
        for (std::size_t i = 0; i < count_; ++i) next[i] = std::move((*this)[i]);
        slots_.swap(next);
        head_ = 0;
    }
    std::vector<T> slots_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

}  // namespace daemoneye::eventbus
