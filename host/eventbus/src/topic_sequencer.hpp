// Stamps sequence numbers for one publishing session: +1 per message on each topic, so every
// subscriber (whose pattern either matches a topic or not) can count exactly the copies it lost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "string_map.hpp"

namespace daemoneye::eventbus {

class TopicSequencer {
  public:
    explicit TopicSequencer(std::size_t max_topics = 65536) : max_topics_(max_topics) {}

    // The next sequence number for `topic` (1 for its first message), or nullopt when the
    // session already publishes on max_topics distinct topics.
    std::optional<std::uint64_t> next(std::string_view topic);
    std::size_t topics() const { return counters_.size(); }

  private:
    StringMap<std::uint64_t> counters_;
    std::size_t max_topics_;
    // The last topic's counter (node-based map: the pointer survives rehashing).
    std::string last_topic_;
    std::uint64_t* last_ = nullptr;
};

}  // namespace daemoneye::eventbus
