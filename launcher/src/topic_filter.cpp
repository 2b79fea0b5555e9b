#include "daemoneye/launcher/topic_filter.hpp"

namespace daemoneye::launcher {
namespace {

constexpr std::size_t kMaxBytes = 255;
constexpr std::size_t kMaxLevels = 16;
constexpr std::size_t kMaxLevel = 64;

bool level_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (true) {
        auto dot = s.find('.', pos);
        out.push_back(
            s.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
        if (dot == std::string_view::npos) break;
        pos = dot + 1;
    }
    return out;
}

Status check(std::string_view text, bool pattern) {
    const char* what = pattern ? "pattern" : "topic";
    if (text.empty()) return fail(std::string(what) + " is empty");
    if (text.size() > kMaxBytes) {
        return fail(std::string(what) + " is " + std::to_string(text.size()) + " bytes (max 255)");
    }
    auto levels = split(text);
    if (levels.size() > kMaxLevels) {
        return fail(std::string(what) + " has " + std::to_string(levels.size()) +
                    " levels (max 16)");
    }
    for (std::size_t i = 0; i < levels.size(); ++i) {
        auto level = levels[i];
        auto where = "level " + std::to_string(i + 1) + " '" + std::string(level) + "'";
        if (level.empty())
            return fail(std::string(what) + ": level " + std::to_string(i + 1) + " is empty");
        if (level.size() > kMaxLevel)
            return fail(std::string(what) + ": " + where + " is longer than 64");
        if (pattern && level == "+") continue;
        if (pattern && level == "#") {
            if (i + 1 != levels.size()) return fail("pattern: '#' is only valid as the last level");
            continue;
        }
        for (char c : level) {
            if (c == '+' || c == '#') {
                return fail(std::string(what) + ": " + where +
                            (pattern ? " mixes a wildcard with text" : " contains a wildcard"));
            }
            if (!level_char(c))
                return fail(std::string(what) + ": " + where +
                            " has a character outside [A-Za-z0-9_-]");
        }
    }
    return {};
}

}  // namespace

Status validate_topic(std::string_view topic) {
    return check(topic, false);
}
Status validate_pattern(std::string_view pattern) {
    return check(pattern, true);
}

bool topic_matches(std::string_view pattern, std::string_view topic) {
    auto p = split(pattern);
    auto t = split(topic);
    std::size_t i = 0;
    for (; i < p.size(); ++i) {
        if (p[i] == "#") return true;  // zero or more trailing levels
        if (i >= t.size()) return false;
        if (p[i] != "+" && p[i] != t[i]) return false;
    }
    return i == t.size();
}

bool TopicFilter::allows(std::string_view topic) const {
    if (!validate_topic(topic)) return false;
    for (const auto& p : patterns_) {
        if (topic_matches(p, topic)) return true;
    }
    return false;
}

}  // namespace daemoneye::launcher
