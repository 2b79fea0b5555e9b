// Debounce: created/modified/attrib bursts on one path within the window become one change that
// says how many raw events it stands for. Deletes, moves and overflows are never delayed, and
// flush what is pending for their paths first so order is kept.
#pragma once

#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "change.hpp"

namespace daemoneye::fsmond {

struct ReadyChange {
    Change change;
    uint32_t coalesced = 1;
};

class ChangeCoalescer {
  public:
    // A path written without pause is still reported every max_delay_factor windows.
    explicit ChangeCoalescer(std::chrono::milliseconds window, unsigned max_delay_factor = 10);

    void add(Change c, Clock::time_point now, std::vector<ReadyChange>& ready);
    void flush_due(Clock::time_point now, std::vector<ReadyChange>& ready);
    void flush_all(std::vector<ReadyChange>& ready);
    std::optional<Clock::time_point> next_deadline() const;
    size_t pending() const { return pending_.size(); }

  private:
    struct Pending {
        Change change;
        uint32_t count = 0;
        Clock::time_point first, last;
        uint64_t order = 0;
    };
    Clock::time_point due(const Pending& p) const;
    void flush_path(const std::string& path, std::vector<ReadyChange>& ready);

    std::chrono::milliseconds window_;
    unsigned max_delay_factor_;
    std::unordered_map<std::string, Pending> pending_;
    // Deadlines, earliest first, each at or before the path's real deadline (a later event only
    // moves it back): popped entries whose path is not due yet are pushed again with the real
    // one. Keeps a burst over thousands of paths O(log n) per event instead of O(n) per wakeup.
    using Deadline = std::pair<Clock::time_point, std::string>;
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
    uint64_t next_order_ = 0;
};

}  // namespace daemoneye::fsmond
