// The children of one trie node, keyed by level text: an open-addressing table of
// (hash, owning pointer) slots with linear probing. A lookup costs one cache line for the slot
// and one for the child it lands on (the child keeps its key in its first bytes), where
// std::unordered_map costs a bucket, a link node and the element on top: with 100k
// subscriptions those misses are the whole match cost. Internal to subscription_trie.cpp.
#pragma once

#include <cassert>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

namespace daemoneye::eventbus::detail {

inline std::size_t level_hash(std::string_view level) {
    return std::hash<std::string_view>{}(level);
}

// Node must have a `key` member comparable with std::string_view.
template <class Node>
class LevelTable {
  public:
    LevelTable() = default;
    LevelTable(LevelTable&&) noexcept = default;
    LevelTable& operator=(LevelTable&&) noexcept = default;

    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }

    Node* find(std::string_view key, std::size_t hash) const {
        if (size_ == 0) return nullptr;
        for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (!s.node) return nullptr;
            if (s.hash == hash && s.node->key == key) return s.node.get();
        }
    }

    // `node->key` must not be present yet. Returns the stored node.
    Node* insert(std::size_t hash, std::unique_ptr<Node> node) {
        assert(!find(node->key, hash));
        if ((size_ + 1) * 2 > capacity()) grow();
        place(hash, std::move(node));
        ++size_;
        return slots_[last_placed_].node.get();
    }

    // Removes (and destroys) `node`, which must be in the table.
    void erase(const Node* node, std::size_t hash) {
        std::size_t i = hash & mask_;
        while (slots_[i].node.get() != node) {
            assert(slots_[i].node);
            i = (i + 1) & mask_;
        }
        slots_[i].node.reset();
        --size_;
        // Backward-shift deletion: pull later entries of the probe run into the hole so lookups
        // never need tombstones.
        for (std::size_t hole = i, j = (i + 1) & mask_; slots_[j].node; j = (j + 1) & mask_) {
            const std::size_t home = slots_[j].hash & mask_;
            // Move slot j into the hole unless its home lies cyclically in (hole, j].
            const bool home_between =
                hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
            if (!home_between) {
                slots_[hole] = std::move(slots_[j]);
                hole = j;
            }
        }
        if (size_ == 0) {
            slots_.reset();
            mask_ = 0;
        }
    }

    template <class F>
    void for_each(F&& f) const {
        for (std::size_t i = 0; i < capacity(); ++i) {
            if (slots_[i].node) f(*slots_[i].node);
        }
    }

  private:
    struct Slot {
        std::size_t hash = 0;
        std::unique_ptr<Node> node;  // null = empty
    };

    std::size_t capacity() const { return slots_ ? mask_ + 1 : 0; }

    void place(std::size_t hash, std::unique_ptr<Node> node) {
        std::size_t i = hash & mask_;
        while (slots_[i].node) i = (i + 1) & mask_;
        slots_[i].hash = hash;
        slots_[i].node = std::move(node);
        last_placed_ = i;
    }

    void grow() {
        const std::size_t old_capacity = capacity();
        const std::size_t new_capacity = old_capacity ? old_capacity * 2 : 4;
        std::unique_ptr<Slot[]> old = std::move(slots_);
        slots_ = std::make_unique<Slot[]>(new_capacity);
        mask_ = new_capacity - 1;
        for (std::size_t i = 0; i < old_capacity; ++i) {
            if (old[i].node) place(old[i].hash, std::move(old[i].node));
        }
    }

    std::unique_ptr<Slot[]> slots_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
    std::size_t last_placed_ = 0;
};

}  // namespace daemoneye::eventbus::detail
