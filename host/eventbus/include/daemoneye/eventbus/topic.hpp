// Topic grammar (DESIGN.md "EventBus"): dot-separated levels of [A-Za-z0-9_-]{1,64}, at most 16
// levels and 255 bytes, no empty levels. Publish topics have no wildcards. Patterns may use `+`
// (exactly one level) and `#` (zero or more trailing levels, last level only; `events.#` matches
// `events`).
#pragma once

#include <string>
#include <string_view>

#include "daemoneye/result.hpp"

namespace daemoneye::eventbus {

inline constexpr std::size_t kMaxTopicBytes = 255;
inline constexpr std::size_t kMaxTopicLevels = 16;
inline constexpr std::size_t kMaxLevelBytes = 64;

// Why a topic or pattern was refused, naming the offending level (1-based), e.g.
// "level 3 'pro+cess' mixes a wildcard with text".
struct TopicError {
    std::size_t level = 0;  // 0 when the problem is not one level (empty, too long overall)
    std::string message;
};

// A publish topic: no wildcards.
Result<void, TopicError> validate_topic(std::string_view topic);
// A subscription pattern: wildcards allowed as whole levels, `#` only last.
Result<void, TopicError> validate_pattern(std::string_view pattern);

// True when `pattern` matches `topic`. Both must already be valid (asserted in debug builds);
// use topic_match() for untrusted input.
bool pattern_matches(std::string_view pattern, std::string_view topic);

// Validates both, then matches: the offline `daemoneye-cli topics match` path.
Result<bool, TopicError> topic_match(std::string_view pattern, std::string_view topic);

}  // namespace daemoneye::eventbus
