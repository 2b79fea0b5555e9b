// Topic and pattern rules of the EventBus, for plugins and the test host.
//
// A topic is dot-separated levels; a level is 1-64 chars of [A-Za-z0-9_-]; at most 16 levels and
// 255 bytes. A pattern may use '+' (exactly one level) and '#' (zero or more trailing levels,
// last level only). The broker (host/eventbus) is the authority; this header-only copy lets a
// plugin and its unit tests check topics without linking the host.
#pragma once

#include <cstddef>
#include <string_view>

namespace daemoneye::sdk::topic {

inline constexpr std::size_t kMaxBytes = 255;
inline constexpr std::size_t kMaxLevels = 16;
inline constexpr std::size_t kMaxLevelChars = 64;

namespace detail {
constexpr bool level_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

constexpr bool valid_level(std::string_view level) {
    if (level.empty() || level.size() > kMaxLevelChars) return false;
    for (char c : level) {
        if (!level_char(c)) return false;
    }
    return true;
}

// Calls f(level, is_last) for each level; returns false on the first f returning false.
template <class F>
constexpr bool for_each_level(std::string_view text, F&& f) {
    std::size_t levels = 0;
    while (true) {
        std::size_t dot = text.find('.');
        std::string_view level = text.substr(0, dot);
        if (++levels > kMaxLevels) return false;
        if (!f(level, dot == std::string_view::npos)) return false;
        if (dot == std::string_view::npos) return true;
        text.remove_prefix(dot + 1);
    }
}
}  // namespace detail

// A concrete publish topic ("events.process.lifecycle"): no wildcards.
constexpr bool valid_topic(std::string_view topic) {
    if (topic.empty() || topic.size() > kMaxBytes) return false;
    return detail::for_each_level(
        topic, [](std::string_view level, bool) { return detail::valid_level(level); });
}

// A subscription / publish-grant pattern ("events.process.#", "events.+.lifecycle").
constexpr bool valid_pattern(std::string_view pattern) {
    if (pattern.empty() || pattern.size() > kMaxBytes) return false;
    return detail::for_each_level(pattern, [](std::string_view level, bool last) {
        if (level == "+") return true;
        if (level == "#") return last;
        return detail::valid_level(level);
    });
}

// Whether `topic` matches `pattern`. Both are assumed valid.
constexpr bool matches(std::string_view pattern, std::string_view topic) {
    while (true) {
        std::size_t pdot = pattern.find('.');
        std::string_view plevel = pattern.substr(0, pdot);
        if (plevel == "#") return true;
        std::size_t tdot = topic.find('.');
        std::string_view tlevel = topic.substr(0, tdot);
        if (plevel != "+" && plevel != tlevel) return false;
        bool plast = pdot == std::string_view::npos;
        bool tlast = tdot == std::string_view::npos;
        if (plast || tlast) {
            // "a.#" also matches "a": the pattern may continue with a final '#'.
            return plast == tlast || (tlast && pattern.substr(pdot + 1) == "#");
        }
        pattern.remove_prefix(pdot + 1);
        topic.remove_prefix(tdot + 1);
    }
}

// Why a plugin may not declare `pattern` in `publishes`, or nullptr when it may: a valid pattern
// that reaches neither control.* (the agent's and the launcher's) nor events.detection.alert (the
// agent's alerts). The one rule: DAEMONEYE_PLUGIN checks it at compile time, the launcher when it
// loads a plugin, the agent when it registers one.
constexpr const char* undeclarable_reason(std::string_view pattern) {
    if (!valid_pattern(pattern)) return "is not a valid topic pattern";
    const std::string_view root = pattern.substr(0, pattern.find('.'));
    if (root == "control" || root == "+" || root == "#") {
        return "reaches control.*, which only the agent and the launcher publish to";
    }
    if (matches(pattern, "events.detection.alert")) {
        return "reaches events.detection.alert, where only the agent publishes alerts";
    }
    return nullptr;
}

constexpr bool declarable(std::string_view pattern) {
    return undeclarable_reason(pattern) == nullptr;
}

}  // namespace daemoneye::sdk::topic
