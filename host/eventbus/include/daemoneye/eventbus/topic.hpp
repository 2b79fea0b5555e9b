// Topic grammar (DESIGN.md "EventBus"): dot-separated levels of [A-Za-z0-9_-]{1,64}, at most 16
// levels and 255 bytes, no empty levels. Publish topics have no wildcards. Patterns may use `+`
// (exactly one level) and `#` (zero or more trailing levels, last level only; `events.#` matches
// `events`; `#` alone matches every topic).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "daemoneye/result.hpp"

namespace daemoneye::eventbus {

inline constexpr std::size_t kMaxTopicBytes = 255;
inline constexpr std::size_t kMaxTopicLevels = 16;
inline constexpr std::size_t kMaxLevelBytes = 64;

// Why a topic or pattern was refused, naming the offending level (1-based), e.g.
// "level 3 'pro+cess' mixes a wildcard with text". The message is printable ASCII (bytes outside
// it are shown as \xNN) and ready to put in an Error frame or on a terminal.
struct TopicError {
    std::size_t level = 0;  // 0 when the problem is not one level (empty, too long, too deep)
    std::string message;
};

// A publish topic: no wildcards.
Result<void, TopicError> validate_topic(std::string_view topic);
// A subscription pattern: wildcards allowed as whole levels, `#` only last.
Result<void, TopicError> validate_pattern(std::string_view pattern);

// True when `pattern` matches `topic`. Both must already be valid (asserted in debug builds);
// use topic_match() for untrusted input. Allocates nothing.
bool pattern_matches(std::string_view pattern, std::string_view topic);

// Validates both, then matches: the offline `daemoneye-cli topics match` path. The error message
// starts with the side at fault: "pattern: level 2 ...", "topic: level 3 ...", "pattern is empty".
Result<bool, TopicError> topic_match(std::string_view pattern, std::string_view topic);

// Why a valid `pattern` does not match a valid `topic`, for people, e.g. "level 2: the pattern
// wants 'process', the topic has 'network'". Empty when it matches.
std::string mismatch_reason(std::string_view pattern, std::string_view topic);

// True when every topic `covered` matches is also matched by `covering` (e.g. a publish grant
// `events.process.#` covers a requested `events.process.+`). Both must be valid patterns
// (asserted in debug builds). Allocates nothing.
bool pattern_covers(std::string_view covering, std::string_view covered);

// The levels of a topic or pattern as views into it, split by scanning (no allocation).
// Returns the number of levels, or 0 when there are more than kMaxTopicLevels (never valid).
using TopicLevels = std::array<std::string_view, kMaxTopicLevels>;
std::size_t split_levels(std::string_view topic, TopicLevels& out);

// The first level ("events" for "events.process.lifecycle"): the key for per-root metrics.
std::string_view topic_root(std::string_view topic);

}  // namespace daemoneye::eventbus
