// Tests plugin-api/include/daemoneye/sdk/topic.hpp (the SDK's copy of the bus topic rules).
#include "daemoneye/sdk/topic.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

namespace topic = daemoneye::sdk::topic;

TEST(Topic, ValidTopics) {
    EXPECT_TRUE(topic::valid_topic("events.process.lifecycle"));
    EXPECT_TRUE(topic::valid_topic("a"));
    EXPECT_TRUE(topic::valid_topic("A-b_9.x"));
    EXPECT_FALSE(topic::valid_topic(""));
    EXPECT_FALSE(topic::valid_topic("a..b"));
    EXPECT_FALSE(topic::valid_topic(".a"));
    EXPECT_FALSE(topic::valid_topic("a."));
    EXPECT_FALSE(topic::valid_topic("events.+"));
    EXPECT_FALSE(topic::valid_topic("events.#"));
    EXPECT_FALSE(topic::valid_topic("a b"));
    EXPECT_FALSE(topic::valid_topic(std::string(65, 'a')));
    EXPECT_TRUE(topic::valid_topic(std::string(64, 'a')));
    std::string seventeen = "a";
    for (int i = 0; i < 16; ++i) seventeen += ".a";
    EXPECT_FALSE(topic::valid_topic(seventeen));
}

TEST(Topic, ValidPatterns) {
    EXPECT_TRUE(topic::valid_pattern("events.#"));
    EXPECT_TRUE(topic::valid_pattern("#"));
    EXPECT_TRUE(topic::valid_pattern("events.+.lifecycle"));
    EXPECT_FALSE(topic::valid_pattern("events.#.x"));
    EXPECT_FALSE(topic::valid_pattern("events.a+"));
    EXPECT_FALSE(topic::valid_pattern("events.b#"));
    EXPECT_FALSE(topic::valid_pattern(""));
}

TEST(Topic, Matching) {
    EXPECT_TRUE(topic::matches("events.#", "events"));
    EXPECT_TRUE(topic::matches("events.#", "events.process.lifecycle"));
    EXPECT_TRUE(topic::matches("#", "anything.at.all"));
    EXPECT_TRUE(topic::matches("events.+.lifecycle", "events.process.lifecycle"));
    EXPECT_FALSE(topic::matches("events.+.lifecycle", "events.process"));
    EXPECT_FALSE(topic::matches("events.+", "events.process.lifecycle"));
    EXPECT_FALSE(topic::matches("events.process", "events.process.lifecycle"));
    EXPECT_FALSE(topic::matches("events.process.lifecycle", "events.process"));
    EXPECT_TRUE(topic::matches("events.process", "events.process"));
    EXPECT_FALSE(topic::matches("events.network.#", "events.process.x"));
    static_assert(topic::matches("a.#", "a.b"));
}

// What DAEMONEYE_PLUGIN accepts in `publishes` (a compile error otherwise): the launcher and the
// agent refuse the rest when the plugin loads.
TEST(Topic, Declarable) {
    static_assert(topic::declarable("events.process.#"));
    static_assert(!topic::declarable("events.#"));
    EXPECT_TRUE(topic::declarable("events.hello.tick"));
    EXPECT_TRUE(topic::declarable("events.detection.score"));
    EXPECT_FALSE(topic::declarable("#"));
    EXPECT_FALSE(topic::declarable("+.health.heartbeat"));
    EXPECT_FALSE(topic::declarable("control.health.#"));
    EXPECT_FALSE(topic::declarable("events.+.alert"));
    EXPECT_FALSE(topic::declarable("events.detection.alert"));
    EXPECT_FALSE(topic::declarable("events..x"));
}

}  // namespace
