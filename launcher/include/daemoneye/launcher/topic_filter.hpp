// The plugin's declared `publishes` patterns, checked on every emit. Grammar as in DESIGN.md
// (levels [A-Za-z0-9_-]{1,64}, <= 16 levels, <= 255 bytes; '+' one level, '#' trailing levels).
// Kept local and small: emit must not depend on the broker library being linked.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemoneye/result.hpp"

namespace daemoneye::launcher {

// Ok, or a reason naming the offending level.
Status validate_topic(std::string_view topic);
Status validate_pattern(std::string_view pattern);
bool topic_matches(std::string_view pattern, std::string_view topic);

class TopicFilter {
  public:
    explicit TopicFilter(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {}
    // True when `topic` is a valid publish topic inside one of the patterns.
    bool allows(std::string_view topic) const;
    const std::vector<std::string>& patterns() const { return patterns_; }

  private:
    std::vector<std::string> patterns_;
};

}  // namespace daemoneye::launcher
