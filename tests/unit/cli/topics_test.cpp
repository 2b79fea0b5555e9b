// `daemoneye-cli topics match` end to end: the real binary, its exit codes and output.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cli_runner.hpp"
#include "daemoneye/eventbus/topic.hpp"

namespace daemoneye::cli::testing {
namespace {

TEST(CliTopicsMatch, MatchExitsZero) {
    const CliRun r = run_cli({"topics", "match", "events.#", "events.process.lifecycle"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, "match\n");
    EXPECT_EQ(r.err, "");
}

TEST(CliTopicsMatch, HashMatchesParent) {
    EXPECT_EQ(run_cli({"topics", "match", "events.#", "events"}).exit_code, 0);
    EXPECT_EQ(run_cli({"topics", "match", "#", "anything"}).exit_code, 0);
}

TEST(CliTopicsMatch, NoMatchExitsOneWithReason) {
    const CliRun r = run_cli({"topics", "match", "events.process.+", "events.network.flow"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "no match: level 2: the pattern wants 'process', the topic has 'network'\n");
    EXPECT_EQ(r.err, "");
}

TEST(CliTopicsMatch, InvalidPatternExitsTwoWithReasonOnStderr) {
    const CliRun r = run_cli({"topics", "match", "events.process.pro+cess", "events.process.x"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "daemoneye-cli: pattern: level 3 'pro+cess' mixes a wildcard with text\n");
}

TEST(CliTopicsMatch, InvalidTopicExitsTwo) {
    const CliRun r = run_cli({"topics", "match", "events.#", "events.+"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("topic: level 2 '+'"), std::string::npos) << r.err;
    const CliRun empty = run_cli({"topics", "match", "", "x"});
    EXPECT_EQ(empty.exit_code, 2);
    EXPECT_EQ(empty.err, "daemoneye-cli: pattern is empty\n");
}

TEST(CliTopicsMatch, Json) {
    CliRun r = run_cli({"--json", "topics", "match", "events.+", "events.x"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, "{\"match\":true,\"valid\":true,\"reason\":null}\n");

    r = run_cli(
        {"topics", "match", "--json", "events.+", "events"});  // global option after the verb
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(
        r.out,
        "{\"match\":false,\"valid\":true,\"reason\":\"the topic has 1 level; the pattern wants a "
        "level 2 ('+')\"}\n");

    r = run_cli({"--json", "topics", "match", "a.b#", "a.b"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(
        r.out,
        "{\"match\":false,\"valid\":false,\"reason\":\"pattern: level 2 'b#' mixes a wildcard "
        "with text\",\"level\":2}\n");
    EXPECT_NE(r.err.find("level 2 'b#'"), std::string::npos);

    // A double quote in the input must come out escaped, never break the document.
    r = run_cli({"--json", "topics", "match", "a", "x\"y"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.out.find("'x\\\"y' contains '\\\"'"), std::string::npos) << r.out;
}

TEST(CliTopicsMatch, HelpEverywhereExitsZero) {
    for (const auto& args : {std::vector<std::string>{"--help"},
                             {"topics", "--help"},
                             {"topics", "match", "--help"},
                             {"--help-all"}}) {
        const CliRun r = run_cli(args);
        EXPECT_EQ(r.exit_code, 0) << args.back();
        EXPECT_NE(r.out.find("Usage:"), std::string::npos) << r.out;
    }
    EXPECT_NE(
        run_cli({"topics", "match", "--help"}).out.find("Exit 0 match, 1 no match, 2 invalid"),
        std::string::npos);
}

TEST(CliTopicsMatch, UsageErrorsExitTwo) {
    for (const auto& args : {std::vector<std::string>{},
                             {"topics"},
                             {"topics", "match"},
                             {"topics", "match", "a"},
                             {"topics", "match", "a", "b", "c"},
                             {"no-such-verb"},
                             {"--timeout", "0", "topics", "match", "a", "a"},
                             {"--no-such-option", "topics", "match", "a", "a"}}) {
        const CliRun r = run_cli(args);
        EXPECT_EQ(r.exit_code, 2) << (args.empty() ? "(no args)" : args.front());
        EXPECT_FALSE(r.err.empty());
    }
}

// Every conformance match case through the binary: the exit code must be what the library says
// (the library itself is held to the cases in tests/unit/eventbus/topic_conformance_test.cpp).
TEST(CliTopicsMatch, ConformanceCasesThroughTheBinary) {
    std::ifstream in(std::string(DAEMONEYE_CONFORMANCE_DIR) + "/topic_match_cases.tsv");
    ASSERT_TRUE(in.good());
    std::string line;
    std::getline(in, line);  // header
    int rows = 0;
    while (std::getline(in, line)) {
        const auto t1 = line.find('\t');
        const auto t2 = line.find('\t', t1 + 1);
        const auto t3 = line.find('\t', t2 + 1);
        std::string pattern = line.substr(t1 + 1, t2 - t1 - 1);
        std::string topic = line.substr(t2 + 1, t3 - t2 - 1);
        if (pattern == "<NULL>") pattern.clear();
        if (topic == "<NULL>") topic.clear();
        auto lib = eventbus::topic_match(pattern, topic);
        const int expected = !lib ? 2 : (*lib ? 0 : 1);
        const CliRun r = run_cli({"topics", "match", "--", pattern, topic});
        ASSERT_EQ(r.exit_code, expected) << line << "\nstderr: " << r.err;
        if (expected == 2) {
            ASSERT_EQ(r.err, "daemoneye-cli: " + lib.error().message + "\n");
        }
        ++rows;
    }
    EXPECT_EQ(rows, 370);
}

}  // namespace
}  // namespace daemoneye::cli::testing
