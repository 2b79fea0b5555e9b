// Conformance cases from public MQTT/NATS implementations' own tests (conformance/README.md),
// asserted under this project's grammar: a case matches here iff the strict-MQTT verdict
// (mqtt_ref) is 1 and both sides are valid under our grammar; anything our grammar forbids must
// be refused with a reason naming the offending level. Validity is decided by an independent
// regex oracle written from DESIGN.md, not by the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "daemoneye/eventbus/topic.hpp"

#ifndef DAEMONEYE_CONFORMANCE_DIR
#error "DAEMONEYE_CONFORMANCE_DIR must point at tests/unit/eventbus/conformance"
#endif

namespace daemoneye::eventbus {
namespace {

struct Row {
    std::size_t line = 0;
    std::vector<std::string> cells;
};

std::vector<Row> load(const std::string& name, std::size_t columns) {
    std::ifstream in(std::string(DAEMONEYE_CONFORMANCE_DIR) + "/" + name);
    EXPECT_TRUE(in.good()) << "cannot open " << name;
    std::vector<Row> rows;
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (n == 1) continue;  // header
        Row row{n, {}};
        std::size_t start = 0;
        for (;;) {
            const std::size_t tab = line.find('\t', start);
            row.cells.push_back(line.substr(start, tab - start));
            if (tab == std::string::npos) break;
            start = tab + 1;
        }
        EXPECT_EQ(row.cells.size(), columns) << name << ":" << n;
        rows.push_back(std::move(row));
    }
    return rows;
}

// A cell as the argument the source test passed. <NULL> (a C NULL) has no counterpart in a
// string_view API; it is treated as the empty string, which is invalid.
struct Arg {
    std::string text;
    bool null = false;
};

Arg decode(const std::string& cell) {
    if (cell == "<NULL>") return {"", true};
    if (cell.rfind("<LONG_TOPIC:", 0) == 0) {
        // emqx long_topic(): "0/1/2/.../66666/" -> 66667 numbered levels, then an empty one.
        std::string t;
        for (int i = 0; i <= 66666; ++i) t += std::to_string(i) + ".";
        EXPECT_EQ(t.size(), 388892u);
        return {t, false};
    }
    std::string out;
    for (std::size_t i = 0; i < cell.size(); ++i) {
        if (cell[i] == '\\' && i + 1 < cell.size() && cell[i + 1] == '0') {  // "\0" = U+0000
            out += '\0';
            ++i;
        } else {
            out += cell[i];
        }
    }
    return {out, false};
}

// --- the oracle: DESIGN.md's grammar, written independently as regular expressions ---

const std::regex kLevel("[A-Za-z0-9_-]{1,64}");
const std::regex kTopic("[A-Za-z0-9_-]{1,64}(\\.[A-Za-z0-9_-]{1,64})*");
const std::regex kPattern("#|([A-Za-z0-9_-]{1,64}|\\+)(\\.([A-Za-z0-9_-]{1,64}|\\+))*(\\.#)?");

std::size_t level_count(const std::string& s) {
    return 1 + std::count(s.begin(), s.end(), '.');
}

bool oracle_valid(const std::string& s, bool pattern) {
    if (s.empty() || s.size() > 255 || level_count(s) > 16)
        return false;  // also keeps regex shallow
    return std::regex_match(s, pattern ? kPattern : kTopic);
}

std::vector<std::string> levels_of(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string level;
    while (std::getline(in, level, '.')) out.push_back(level);
    if (!s.empty() && s.back() == '.') out.emplace_back();
    return out;
}

// Checks a refusal: a non-empty printable reason and, when it names a level, that level really
// is at fault on its own.
void expect_good_reason(const std::string& text, bool pattern, const TopicError& error) {
    ASSERT_FALSE(error.message.empty());
    for (char c : error.message) {
        ASSERT_TRUE(c >= 0x20 && c < 0x7f) << "unprintable reason: " << error.message;
    }
    if (error.level == 0) return;
    const std::string prefix = "level " + std::to_string(error.level) + " ";
    EXPECT_EQ(error.message.rfind(prefix, 0), 0u) << error.message;
    const auto levels = levels_of(text);
    ASSERT_LE(error.level, levels.size()) << error.message;
    const std::string& bad = levels[error.level - 1];
    const bool last = error.level == levels.size();
    const bool fine_alone =
        std::regex_match(bad, kLevel) || (pattern && bad == "+") || (pattern && bad == "#" && last);
    EXPECT_FALSE(fine_alone) << "reason blames level " << error.level << " '" << bad
                             << "' which is fine: " << error.message;
}

std::string where(const std::string& file, const Row& row) {
    return file + ":" + std::to_string(row.line) + " (" + row.cells[0] + ")";
}

TEST(TopicConformance, MatchCases) {
    const auto rows = load("topic_match_cases.tsv", 8);
    ASSERT_EQ(rows.size(), 370u);
    std::size_t asserted_matches = 0, asserted_non_matches = 0, refused = 0;
    for (const Row& row : rows) {
        SCOPED_TRACE(where("topic_match_cases.tsv", row));
        const Arg pattern = decode(row.cells[1]);
        const Arg topic = decode(row.cells[2]);
        const bool mqtt_ref = row.cells[5] == "1";
        const bool pattern_ok = !pattern.null && oracle_valid(pattern.text, true);
        const bool topic_ok = !topic.null && oracle_valid(topic.text, false);

        auto vp = validate_pattern(pattern.text);
        ASSERT_EQ(vp.ok(), pattern_ok) << "pattern '" << pattern.text << "'";
        if (!vp) expect_good_reason(pattern.text, true, vp.error());
        auto vt = validate_topic(topic.text);
        ASSERT_EQ(vt.ok(), topic_ok) << "topic '" << topic.text << "'";
        if (!vt) expect_good_reason(topic.text, false, vt.error());

        auto r = topic_match(pattern.text, topic.text);
        if (pattern_ok && topic_ok) {
            ASSERT_TRUE(r.ok()) << r.error().message;
            EXPECT_EQ(*r, mqtt_ref) << pattern.text << " vs " << topic.text;
            EXPECT_EQ(pattern_matches(pattern.text, topic.text), mqtt_ref);
            ++(mqtt_ref ? asserted_matches : asserted_non_matches);
        } else {
            ASSERT_FALSE(r.ok());
            EXPECT_EQ(r.error().message.rfind(pattern_ok ? "topic" : "pattern", 0), 0u)
                << r.error().message;
            ++refused;
        }
    }
    // Guard against a grammar so strict that the file stops testing matching at all.
    EXPECT_GE(asserted_matches, 100u);
    EXPECT_GE(asserted_non_matches, 60u);
    EXPECT_GE(refused, 100u);
    RecordProperty("matches", static_cast<int>(asserted_matches));
    RecordProperty("non_matches", static_cast<int>(asserted_non_matches));
    RecordProperty("refused", static_cast<int>(refused));
}

TEST(TopicConformance, ValidationCases) {
    const auto rows = load("topic_validation_cases.tsv", 7);
    ASSERT_EQ(rows.size(), 173u);
    std::size_t valid = 0, invalid = 0;
    for (const Row& row : rows) {
        SCOPED_TRACE(where("topic_validation_cases.tsv", row));
        const Arg text = decode(row.cells[1]);
        const std::string& kind = row.cells[2];
        ASSERT_TRUE(kind == "pub" || kind == "sub") << kind;
        const bool pattern = kind == "sub";
        const bool here = !text.null && oracle_valid(text.text, pattern);
        // Our grammar is a subset of MQTT's: nothing strict MQTT refuses may pass here.
        if (row.cells[5] == "0") {
            EXPECT_FALSE(here) << "oracle accepts an MQTT-invalid case";
        }

        auto r = pattern ? validate_pattern(text.text) : validate_topic(text.text);
        ASSERT_EQ(r.ok(), here) << kind << " '" << text.text.substr(0, 80) << "'"
                                << (r ? "" : ": " + r.error().message);
        if (!r) {
            expect_good_reason(text.text, pattern, r.error());
            ++invalid;
        } else {
            ++valid;
        }
    }
    EXPECT_GE(valid, 40u);
    EXPECT_GE(invalid, 80u);
}

TEST(TopicConformance, FilterCoversFilterCases) {
    const auto rows = load("filter_covers_filter_cases.tsv", 7);
    ASSERT_EQ(rows.size(), 48u);
    std::size_t asserted = 0;
    for (const Row& row : rows) {
        SCOPED_TRACE(where("filter_covers_filter_cases.tsv", row));
        const Arg covering = decode(row.cells[1]);
        const Arg covered = decode(row.cells[2]);
        const bool a_ok = oracle_valid(covering.text, true);
        const bool b_ok = oracle_valid(covered.text, true);
        auto va = validate_pattern(covering.text);
        auto vb = validate_pattern(covered.text);
        ASSERT_EQ(va.ok(), a_ok) << covering.text;
        ASSERT_EQ(vb.ok(), b_ok) << covered.text;
        if (!va) expect_good_reason(covering.text, true, va.error());
        if (!vb) expect_good_reason(covered.text, true, vb.error());
        if (a_ok && b_ok) {
            EXPECT_EQ(pattern_covers(covering.text, covered.text), row.cells[3] == "1")
                << covering.text << " covers " << covered.text;
            ++asserted;
        }
    }
    EXPECT_GE(asserted, 15u);
}

}  // namespace
}  // namespace daemoneye::eventbus
