#include "topic_sequencer.hpp"

namespace daemoneye::eventbus {

std::optional<std::uint64_t> TopicSequencer::next(std::string_view topic) {
    if (last_ && topic == last_topic_) return ++*last_;
    auto it = counters_.find(topic);
    if (it == counters_.end()) {
        if (counters_.size() >= max_topics_) return std::nullopt;
        it = counters_.emplace(std::string(topic), 0).first;
    }
    last_topic_.assign(topic);
    last_ = &it->second;
    return ++*last_;
}

}  // namespace daemoneye::eventbus
