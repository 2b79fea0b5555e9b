#include "gap_tracker.hpp"

#include <cstring>

namespace daemoneye::eventbus {

void GapTracker::observe(std::uint64_t source, std::string_view topic, std::uint64_t seq) {
    ++received_;
    if (!(cached_last_ && source == cached_source_ && topic == cached_topic_)) {
        key_.resize(sizeof source);
        std::memcpy(key_.data(), &source, sizeof source);
        key_.append(topic);
        cached_last_ = &last_.try_emplace(key_, 0).first->second;
        cached_per_source_ = &by_source_[source];
        cached_source_ = source;
        cached_topic_.assign(topic);
    }
    ++cached_per_source_->received;
    if (seq == 0) return;
    const std::uint64_t last = *cached_last_;
    if (last != 0 && seq > last + 1) {
        gaps_ += seq - last - 1;
        cached_per_source_->gaps += seq - last - 1;
    } else if (last == 0 && seq > 1) {
        // Joined mid-stream: numbers before the first message seen are not losses.
    }
    if (seq > last) *cached_last_ = seq;
}

void GapTracker::restart() {
    last_.clear();
    cached_last_ = nullptr;
    cached_per_source_ = nullptr;
}

}  // namespace daemoneye::eventbus
