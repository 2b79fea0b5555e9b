// The Envelopes the broker hands RPC requests to in-process servers in, reused. Each slot is a
// protobuf arena whose first block is part of the slot, so parsing a request into it allocates
// nothing once warm (only a string longer than std::string's inline buffer takes a heap buffer),
// and freeing it is an arena reset instead of a free per string and sub-message. A slot is free
// again when the server's job lets go of its request; at most kSlots are kept.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include <google/protobuf/arena.h>

#include "daemoneye/bus/v1/bus.pb.h"

namespace daemoneye::eventbus {

class RequestArenas {
  public:
    static constexpr std::size_t kSlots = 16;
    static constexpr std::size_t kBlockBytes = 2048;  // a typical request is ~100 bytes of wire

    // An empty Envelope on a free slot's arena; the pointer keeps the slot taken.
    std::shared_ptr<bus::v1::Envelope> envelope() {
        for (auto& slot : slots_) {
            if (slot.use_count() == 1) {
                slot->arena.Reset();  // every object made on it before is released
                return make(slot);
            }
        }
        auto slot = std::make_shared<Slot>();
        if (slots_.size() < kSlots) slots_.push_back(slot);  // else used once, then freed
        return make(slot);
    }

  private:
    struct Slot {
        alignas(std::max_align_t) std::array<char, kBlockBytes> block;
        google::protobuf::Arena arena{options(block)};

        static google::protobuf::ArenaOptions options(std::array<char, kBlockBytes>& b) {
            google::protobuf::ArenaOptions o;
            o.initial_block = b.data();
            o.initial_block_size = b.size();
            return o;
        }
    };

    static std::shared_ptr<bus::v1::Envelope> make(const std::shared_ptr<Slot>& slot) {
        auto* env = google::protobuf::Arena::CreateMessage<bus::v1::Envelope>(&slot->arena);
        return std::shared_ptr<bus::v1::Envelope>(slot, env);  // shares the slot's count
    }

    std::vector<std::shared_ptr<Slot>> slots_;
};

}  // namespace daemoneye::eventbus
