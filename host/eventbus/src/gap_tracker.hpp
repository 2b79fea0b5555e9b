// Counts what one subscription received and the gaps in the broker-stamped sequence numbers, per
// (source session, topic): the broker numbers each session's messages per topic, and a pattern
// either matches a topic or not, so every missing number is a copy dropped for this subscriber.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

namespace daemoneye::eventbus {

class GapTracker {
  public:
    struct PerSource {
        std::uint64_t received = 0;
        std::uint64_t gaps = 0;
    };

    // seq 0 means "not stamped" and is only counted as received.
    void observe(std::uint64_t source, std::string_view topic, std::uint64_t seq);
    // A new connection: every (source, topic) starts over, as if first seen (what was published
    // meanwhile was no copy for this subscriber; a restarted broker reuses session ids and
    // numbers afresh). The counts carry on.
    void restart();

    std::uint64_t received() const { return received_; }
    std::uint64_t gaps() const { return gaps_; }
    const std::map<std::uint64_t, PerSource>& by_source() const { return by_source_; }

  private:
    std::unordered_map<std::string, std::uint64_t> last_;  // key: 8-byte source + topic
    std::map<std::uint64_t, PerSource> by_source_;
    std::uint64_t received_ = 0;
    std::uint64_t gaps_ = 0;
    std::string key_;
    // The last (source, topic) seen: its counters without hashing (node pointers are stable).
    std::uint64_t cached_source_ = 0;
    std::string cached_topic_;
    std::uint64_t* cached_last_ = nullptr;
    PerSource* cached_per_source_ = nullptr;
};

}  // namespace daemoneye::eventbus
