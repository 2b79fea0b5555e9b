#include "daemoneye/eventbus/topic.hpp"

#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <random>
#include <regex>
#include <string>
#include <vector>

namespace daemoneye::eventbus {
namespace {

std::string reason_for_pattern(std::string_view p) {
    auto r = validate_pattern(p);
    return r ? std::string() : r.error().message;
}

std::string reason_for_topic(std::string_view t) {
    auto r = validate_topic(t);
    return r ? std::string() : r.error().message;
}

TEST(TopicValidation, AcceptsTheHierarchy) {
    for (const char* t : {"events.process.lifecycle", "control.collector.procmond.p-1",
                          "control.rpc.reply.42", "a", "A_b-9"}) {
        EXPECT_TRUE(validate_topic(t).ok()) << t;
        EXPECT_TRUE(validate_pattern(t).ok()) << t;
    }
    for (const char* p :
         {"#", "+", "events.#", "events.+.lifecycle", "+.+.#", "control.collector.+"}) {
        EXPECT_TRUE(validate_pattern(p).ok()) << p;
    }
}

TEST(TopicValidation, ReasonNamesTheLevel) {
    EXPECT_EQ(reason_for_pattern("events.process.pro+cess"),
              "level 3 'pro+cess' mixes a wildcard with text");
    auto r = validate_pattern("events.process.pro+cess");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().level, 3u);
    EXPECT_EQ(reason_for_pattern("a.b#"), "level 2 'b#' mixes a wildcard with text");
    EXPECT_EQ(reason_for_pattern("a.#.c"),
              "level 2 '#' is not the last level; '#' may only end a pattern");
    EXPECT_EQ(reason_for_topic("events.+"),
              "level 2 '+' contains a wildcard; a publish topic cannot have wildcards");
    EXPECT_EQ(reason_for_topic("events..x"), "level 2 is empty (two dots in a row)");
    EXPECT_EQ(reason_for_topic(".x"), "level 1 is empty (the topic starts with '.')");
    EXPECT_EQ(reason_for_pattern("x."), "level 2 is empty (the pattern ends with '.')");
    EXPECT_EQ(reason_for_topic("a.b c"),
              "level 2 'b c' contains a space; a level may contain only A-Z a-z 0-9 _ -");
    EXPECT_EQ(reason_for_topic("a.$SYS"),
              "level 2 '$SYS' contains '$'; a level may contain only A-Z a-z 0-9 _ -");
    EXPECT_EQ(reason_for_topic(std::string("a\0b", 3)),
              "level 1 'a\\x00b' contains byte 0x00; a level may contain only A-Z a-z 0-9 _ -");
    EXPECT_EQ(reason_for_topic(""), "topic is empty");
    EXPECT_EQ(reason_for_pattern(""), "pattern is empty");
}

TEST(TopicValidation, Limits) {
    const std::string level64(64, 'x');
    EXPECT_TRUE(validate_topic(level64).ok());
    EXPECT_EQ(reason_for_topic("a." + level64 + "y"),
              "level 2 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is 65 bytes, over the 64-byte "
              "limit");

    std::string sixteen = "l1";
    for (int i = 2; i <= 16; ++i) sixteen += ".l" + std::to_string(i);
    EXPECT_TRUE(validate_topic(sixteen).ok());
    EXPECT_TRUE(validate_pattern(sixteen.substr(0, sixteen.rfind('.')) + ".#").ok());
    EXPECT_EQ(reason_for_topic(sixteen + ".l17"), "topic has 17 levels, over the 16-level limit");

    // 255 bytes exactly: 4 levels of 63 + 3 dots.
    const std::string l63(63, 'a');
    const std::string t255 = l63 + "." + l63 + "." + l63 + "." + l63;
    ASSERT_EQ(t255.size(), 255u);
    EXPECT_TRUE(validate_topic(t255).ok());
    EXPECT_EQ(reason_for_topic(t255 + "b"), "topic is 256 bytes, over the 255-byte limit");
}

// validate_* take a one-pass fast path and explain a rejection with a second walk; both must
// agree with the grammar as DESIGN.md states it (checked here by an independent regex oracle)
// on random input built from the characters that matter, and every rejection has a reason.
TEST(TopicValidation, AgreesWithTheGrammarOnRandomInput) {
    const std::regex level("[A-Za-z0-9_-]{1,64}");
    auto grammar = [&](const std::string& s, bool pattern) {
        if (s.empty() || s.size() > kMaxTopicBytes) return false;
        std::vector<std::string> levels;
        std::size_t start = 0;
        for (;;) {
            const auto dot = s.find('.', start);
            levels.push_back(s.substr(start, dot == std::string::npos ? dot : dot - start));
            if (dot == std::string::npos) break;
            start = dot + 1;
        }
        if (levels.size() > kMaxTopicLevels) return false;
        for (std::size_t i = 0; i < levels.size(); ++i) {
            if (pattern && levels[i] == "+") continue;
            if (pattern && levels[i] == "#" && i + 1 == levels.size()) continue;
            if (!std::regex_match(levels[i], level)) return false;
        }
        return true;
    };
    std::mt19937 rng(20261121);
    const std::string alphabet = "ab-_Z9....++##  \x01\xC3";
    auto random_chars = [&] {
        std::string s;
        const std::size_t len = rng() % 8 == 0 ? 50 + rng() % 300 : rng() % 12;
        for (std::size_t k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
        return s;
    };
    // Levels joined by dots, with lengths and counts around the limits (64 bytes, 16 levels,
    // 255 bytes) and the odd wildcard, empty or bad level.
    auto random_levels = [&] {
        const std::size_t n = std::array<std::size_t, 6>{1, 2, 3, 15, 16, 17}[rng() % 6];
        std::string s;
        for (std::size_t i = 0; i < n; ++i) {
            if (i) s += '.';
            switch (rng() % 12) {
                case 0:
                    s += '+';
                    break;
                case 1:
                    s += '#';
                    break;
                case 2:
                    break;  // empty level
                case 3:
                    s += "a+";
                    break;
                case 4:
                    s += std::string(63 + rng() % 3, 'x');
                    break;
                default:
                    s += std::string(1 + rng() % 14, 'a' + static_cast<char>(rng() % 26));
            }
        }
        return s;
    };
    for (int i = 0; i < 40000; ++i) {
        const std::string s = i % 2 ? random_chars() : random_levels();
        for (const bool pattern : {false, true}) {
            auto r = pattern ? validate_pattern(s) : validate_topic(s);
            ASSERT_EQ(r.ok(), grammar(s, pattern))
                << (pattern ? "pattern" : "topic") << " '" << s << "'";
            if (!r) {
                EXPECT_FALSE(r.error().message.empty()) << s;
            }
        }
    }
}

TEST(TopicMatch, Basics) {
    EXPECT_TRUE(pattern_matches("events.#", "events"));
    EXPECT_TRUE(pattern_matches("events.#", "events.process.lifecycle"));
    EXPECT_TRUE(pattern_matches("#", "anything.at.all"));
    EXPECT_TRUE(pattern_matches("events.+.lifecycle", "events.process.lifecycle"));
    EXPECT_FALSE(pattern_matches("events.+", "events"));
    EXPECT_FALSE(pattern_matches("events.+", "events.a.b"));
    EXPECT_FALSE(pattern_matches("events", "events.a"));
    EXPECT_FALSE(pattern_matches("events.a", "events"));
    EXPECT_FALSE(pattern_matches("Events", "events"));
    EXPECT_TRUE(pattern_matches("+.#", "a"));
    EXPECT_TRUE(pattern_matches("a.+.#", "a.b"));
    EXPECT_FALSE(pattern_matches("a.+.#", "a"));
}

TEST(TopicMatch, MismatchReason) {
    EXPECT_EQ(mismatch_reason("events.process.+", "events.network.flow"),
              "level 2: the pattern wants 'process', the topic has 'network'");
    EXPECT_EQ(mismatch_reason("events.+", "events"),
              "the topic has 1 level; the pattern wants a level 2 ('+')");
    EXPECT_EQ(mismatch_reason("a.b.c", "a.b"),
              "the topic has 2 levels; the pattern wants a level 3 ('c')");
    EXPECT_EQ(mismatch_reason("events", "events.process"),
              "the topic has more than 1 level; the pattern ends at level 1 without '#'");
    EXPECT_EQ(mismatch_reason("events.#", "events"), "");
    EXPECT_EQ(mismatch_reason("+.x", "y.x"), "");
}

TEST(TopicMatch, UntrustedInputNamesTheSide) {
    auto r = topic_match("events.pro+", "events.process");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "pattern: level 2 'pro+' mixes a wildcard with text");
    auto t = topic_match("events.#", "events.#");
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().level, 2u);
    EXPECT_EQ(t.error().message.rfind("topic: level 2", 0), 0u);
    auto empty = topic_match("", "events");
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().message, "pattern is empty");
    auto deep = topic_match("a", "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a");
    ASSERT_FALSE(deep.ok());
    EXPECT_EQ(deep.error().message, "topic has 17 levels, over the 16-level limit");
    auto ok = topic_match("events.#", "events");
    ASSERT_TRUE(ok.ok());
    EXPECT_TRUE(*ok);
}

TEST(TopicCovers, Basics) {
    EXPECT_TRUE(pattern_covers("events.process.#", "events.process.+"));
    EXPECT_TRUE(pattern_covers("events.process.#", "events.process"));
    EXPECT_TRUE(pattern_covers("events.process.#", "events.process.#"));
    EXPECT_TRUE(pattern_covers("+.#", "foo.#"));
    EXPECT_FALSE(pattern_covers("events.process.+", "events.process.#"));
    EXPECT_FALSE(pattern_covers("events.process.lifecycle", "events.process.+"));
    EXPECT_FALSE(pattern_covers("events.+", "events"));
    EXPECT_TRUE(pattern_covers("#", "#"));
    EXPECT_FALSE(pattern_covers("+", "#"));
}

// pattern_covers against its definition: `a` covers `b` iff every topic `b` matches, `a` matches.
// Patterns over the words {a, b} up to 3 levels; topics over {a, b, z} (z is a word neither pattern
// names) up to 4 levels are enough to find a witness whenever coverage fails.
TEST(TopicCovers, AgreesWithDefinitionExhaustively) {
    std::vector<std::string> patterns;
    std::vector<std::string> topics;
    const std::vector<std::string> pattern_levels{"a", "b", "+", "#"};
    const std::vector<std::string> topic_levels{"a", "b", "z"};
    std::function<void(const std::string&, int)> grow_pattern = [&](const std::string& prefix,
                                                                    int depth) {
        for (const auto& l : pattern_levels) {
            std::string p = prefix.empty() ? l : prefix + "." + l;
            patterns.push_back(p);
            if (l != "#" && depth < 3) grow_pattern(p, depth + 1);
        }
    };
    std::function<void(const std::string&, int)> grow_topic = [&](const std::string& prefix,
                                                                  int depth) {
        for (const auto& l : topic_levels) {
            std::string t = prefix.empty() ? l : prefix + "." + l;
            topics.push_back(t);
            if (depth < 4) grow_topic(t, depth + 1);
        }
    };
    grow_pattern("", 1);
    grow_topic("", 1);
    ASSERT_EQ(patterns.size(), 52u);  // 4 + 3*4 + 9*4
    for (const auto& a : patterns) {
        ASSERT_TRUE(validate_pattern(a).ok()) << a;
        for (const auto& b : patterns) {
            bool by_definition = true;
            for (const auto& t : topics) {
                if (pattern_matches(b, t) && !pattern_matches(a, t)) {
                    by_definition = false;
                    break;
                }
            }
            ASSERT_EQ(pattern_covers(a, b), by_definition) << a << " covers " << b;
        }
    }
}

TEST(TopicLevels, SplitAndRoot) {
    TopicLevels levels;
    ASSERT_EQ(split_levels("a.bb.ccc", levels), 3u);
    EXPECT_EQ(levels[0], "a");
    EXPECT_EQ(levels[2], "ccc");
    std::string deep = "x";
    for (int i = 0; i < 16; ++i) deep += ".x";
    EXPECT_EQ(split_levels(deep, levels), 0u);
    EXPECT_EQ(topic_root("events.process"), "events");
    EXPECT_EQ(topic_root("events"), "events");
}

}  // namespace
}  // namespace daemoneye::eventbus
