#include "daemoneye/eventbus/topic.hpp"

#include <array>
#include <cassert>
#include <cstdint>
#include <cstdio>

namespace daemoneye::eventbus {
namespace {

enum class Kind { Topic, Pattern };

const char* noun(Kind kind) {
    return kind == Kind::Topic ? "topic" : "pattern";
}

constexpr bool is_level_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

// Printable rendering of (part of) untrusted input for an error message.
std::string quoted(std::string_view text) {
    constexpr std::size_t kShown = 40;
    std::string out = "'";
    for (std::size_t i = 0; i < text.size() && i < kShown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        }
    }
    if (text.size() > kShown) out += "...";
    out += "'";
    return out;
}

std::string describe_char(unsigned char c) {
    char buf[32];
    if (c >= 0x21 && c < 0x7f) {
        std::snprintf(buf, sizeof buf, "'%c'", c);
    } else if (c == ' ') {
        std::snprintf(buf, sizeof buf, "a space");
    } else {
        std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
    }
    return buf;
}

Unexpected<TopicError> level_error(std::size_t level, std::string what) {
    return unexpected(TopicError{level, "level " + std::to_string(level) + " " + std::move(what)});
}

// Cursor over the levels of a topic or pattern; empty levels come out as empty views.
struct LevelReader {
    std::string_view text;
    std::size_t pos = 0;
    bool done = false;

    std::string_view next() {
        const std::size_t dot = text.find('.', pos);
        std::string_view level;
        if (dot == std::string_view::npos) {
            level = text.substr(pos);
            done = true;
        } else {
            level = text.substr(pos, dot - pos);
            pos = dot + 1;
        }
        return level;
    }
};

// One pass with a character table: true iff `text` is valid. It runs on every publish and RPC,
// so the common (valid) case costs no search per level; explain() says what is wrong otherwise.
bool valid_fast(std::string_view text, Kind kind) {
    enum : std::uint8_t { kOther, kLevel, kDot, kPlus, kHash };
    static constexpr auto table = [] {
        std::array<std::uint8_t, 256> t{};
        for (int c = 0; c < 256; ++c) {
            t[static_cast<std::size_t>(c)] =
                is_level_char(static_cast<unsigned char>(c)) ? kLevel : kOther;
        }
        t['.'] = kDot;
        t['+'] = kPlus;
        t['#'] = kHash;
        return t;
    }();
    if (text.empty() || text.size() > kMaxTopicBytes) return false;
    std::size_t levels = 1, level_len = 0;
    bool wildcard = false;  // the current level is '+' or '#'
    bool hash = false;      // ... and it is '#'
    for (const char ch : text) {
        switch (table[static_cast<unsigned char>(ch)]) {
            case kLevel:
                if (wildcard || ++level_len > kMaxLevelBytes) return false;
                break;
            case kDot:
                if (level_len == 0 && !wildcard) return false;
                if (hash || ++levels > kMaxTopicLevels) return false;
                level_len = 0;
                wildcard = false;
                break;
            case kPlus:
            case kHash:
                if (kind == Kind::Topic || wildcard || level_len != 0) return false;
                wildcard = true;
                hash = table[static_cast<unsigned char>(ch)] == kHash;
                break;
            default:
                return false;
        }
    }
    return level_len != 0 || wildcard;
}

Result<void, TopicError> explain(std::string_view text, Kind kind) {
    if (text.empty()) return unexpected(TopicError{0, std::string(noun(kind)) + " is empty"});
    if (text.size() > kMaxTopicBytes) {
        return unexpected(TopicError{0, std::string(noun(kind)) + " is " +
                                            std::to_string(text.size()) + " bytes, over the " +
                                            std::to_string(kMaxTopicBytes) + "-byte limit"});
    }
    std::size_t levels = 1;
    for (char c : text) levels += c == '.' ? 1 : 0;
    if (levels > kMaxTopicLevels) {
        return unexpected(TopicError{0, std::string(noun(kind)) + " has " + std::to_string(levels) +
                                            " levels, over the " + std::to_string(kMaxTopicLevels) +
                                            "-level limit"});
    }

    LevelReader reader{text};
    for (std::size_t n = 1; !reader.done; ++n) {
        const std::string_view level = reader.next();
        if (level.empty()) {
            const std::string where = n == 1 ? std::string("the ") + noun(kind) + " starts with '.'"
                                      : reader.done
                                          ? std::string("the ") + noun(kind) + " ends with '.'"
                                          : std::string("two dots in a row");
            return level_error(n, "is empty (" + where + ")");
        }
        if (level.size() > kMaxLevelBytes) {
            return level_error(n, quoted(level) + " is " + std::to_string(level.size()) +
                                      " bytes, over the " + std::to_string(kMaxLevelBytes) +
                                      "-byte limit");
        }
        const bool has_wildcard = level.find_first_of("+#") != std::string_view::npos;
        if (has_wildcard && kind == Kind::Topic) {
            return level_error(
                n, quoted(level) + " contains a wildcard; a publish topic cannot have wildcards");
        }
        if (has_wildcard && level.size() > 1) {
            return level_error(n, quoted(level) + " mixes a wildcard with text");
        }
        if (level == "#") {
            if (!reader.done)
                return level_error(n, "'#' is not the last level; '#' may only end a pattern");
            continue;
        }
        if (level == "+") continue;
        for (char c : level) {
            const auto uc = static_cast<unsigned char>(c);
            if (!is_level_char(uc)) {
                return level_error(n, quoted(level) + " contains " + describe_char(uc) +
                                          "; a level may contain only A-Z a-z 0-9 _ -");
            }
        }
    }
    return {};
}

Result<void, TopicError> validate(std::string_view text, Kind kind) {
    if (valid_fast(text, kind)) {
        assert(explain(text, kind) && "valid_fast() accepted what explain() rejects");
        return {};
    }
    auto why = explain(text, kind);
    assert(!why && "valid_fast() and explain() disagree");
    return why;
}

}  // namespace

Result<void, TopicError> validate_topic(std::string_view topic) {
    return validate(topic, Kind::Topic);
}

Result<void, TopicError> validate_pattern(std::string_view pattern) {
    return validate(pattern, Kind::Pattern);
}

bool pattern_matches(std::string_view pattern, std::string_view topic) {
    assert(validate_pattern(pattern).ok());
    assert(validate_topic(topic).ok());
    LevelReader p{pattern};
    LevelReader t{topic};
    for (;;) {
        const std::string_view pl = p.next();
        if (pl == "#") return true;  // zero or more remaining levels
        if (t.done) return false;    // the pattern wants a level the topic does not have
        const std::string_view tl = t.next();
        if (pl != "+" && pl != tl) return false;
        if (p.done) return t.done;
    }
}

Result<bool, TopicError> topic_match(std::string_view pattern, std::string_view topic) {
    // A level error gets the side as a prefix; a whole-input error already starts with it.
    auto side = [](const char* name, TopicError e) {
        if (e.level != 0) e.message = std::string(name) + ": " + e.message;
        return unexpected(std::move(e));
    };
    if (auto r = validate_pattern(pattern); !r) return side("pattern", std::move(r.error()));
    if (auto r = validate_topic(topic); !r) return side("topic", std::move(r.error()));
    return pattern_matches(pattern, topic);
}

std::string mismatch_reason(std::string_view pattern, std::string_view topic) {
    assert(validate_pattern(pattern).ok());
    assert(validate_topic(topic).ok());
    LevelReader p{pattern};
    LevelReader t{topic};
    for (std::size_t n = 1;; ++n) {
        const std::string_view pl = p.next();
        if (pl == "#") return {};
        if (t.done) {
            return "the topic has " + std::to_string(n - 1) + " level" + (n == 2 ? "" : "s") +
                   "; the pattern wants a level " + std::to_string(n) + " (" + quoted(pl) + ")";
        }
        const std::string_view tl = t.next();
        if (pl != "+" && pl != tl) {
            return "level " + std::to_string(n) + ": the pattern wants " + quoted(pl) +
                   ", the topic has " + quoted(tl);
        }
        if (p.done) {
            if (t.done) return {};
            return "the topic has more than " + std::to_string(n) + " level" + (n == 1 ? "" : "s") +
                   "; the pattern ends at level " + std::to_string(n) + " without '#'";
        }
    }
}

bool pattern_covers(std::string_view covering, std::string_view covered) {
    assert(validate_pattern(covering).ok());
    assert(validate_pattern(covered).ok());
    LevelReader a{covering};
    LevelReader b{covered};
    bool first = true;
    for (;;) {
        const std::string_view al = a.next();
        if (al == "#") return true;
        // `covered` ran out: it matches a topic that ends here, which `covering` (still wanting a
        // non-`#` level) does not match.
        if (b.done) return false;
        const std::string_view bl = b.next();
        if (bl == "#") {
            // `covered` also matches the parent and any depth below. Only `#` covers that, except
            // at the root: a topic has at least one level, so `#` alone equals `+.#`.
            if (!first || al != "+" || a.done) return false;
            return a.next() == "#";
        }
        first = false;
        if (al == "+") {
            // any single level is fine, `+` included
        } else if (bl == "+" || al != bl) {
            return false;
        }
        if (a.done) return b.done;
    }
}

std::size_t split_levels(std::string_view topic, TopicLevels& out) {
    std::size_t n = 0;
    LevelReader reader{topic};
    while (!reader.done) {
        if (n == kMaxTopicLevels) return 0;
        out[n++] = reader.next();
    }
    return n;
}

std::string_view topic_root(std::string_view topic) {
    return topic.substr(0, topic.find('.'));
}

}  // namespace daemoneye::eventbus
