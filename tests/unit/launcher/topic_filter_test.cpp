#include "daemoneye/launcher/topic_filter.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace daemoneye::launcher {
namespace {

TEST(TopicFilter, Matching) {
    EXPECT_TRUE(topic_matches("events.#", "events"));
    EXPECT_TRUE(topic_matches("events.#", "events.process.lifecycle"));
    EXPECT_TRUE(topic_matches("events.+.lifecycle", "events.process.lifecycle"));
    EXPECT_FALSE(topic_matches("events.+", "events.process.lifecycle"));
    EXPECT_FALSE(topic_matches("events.process", "events"));
    EXPECT_TRUE(topic_matches("#", "anything.at.all"));
}

TEST(TopicFilter, ValidationNamesTheLevel) {
    EXPECT_TRUE(validate_pattern("events.process.#").ok());
    auto bad = validate_pattern("events.pro+cess");
    ASSERT_FALSE(bad.ok());
    EXPECT_THAT(bad.error().message,
                ::testing::HasSubstr("level 2 'pro+cess' mixes a wildcard with text"));
    EXPECT_FALSE(validate_pattern("events.#.x").ok());
    EXPECT_FALSE(validate_topic("events.+").ok());
    EXPECT_FALSE(validate_topic("events..x").ok());
    EXPECT_FALSE(validate_topic(std::string(256, 'a')).ok());
    EXPECT_FALSE(validate_topic("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q").ok());
}

TEST(TopicFilter, AllowsOnlyValidTopicsInsidePatterns) {
    TopicFilter f({"events.process.#", "events.test.one"});
    EXPECT_TRUE(f.allows("events.process.lifecycle"));
    EXPECT_TRUE(f.allows("events.test.one"));
    EXPECT_FALSE(f.allows("events.test.two"));
    EXPECT_FALSE(f.allows("events.process.+"));  // wildcards are not publish topics
    EXPECT_FALSE(f.allows("control.health.heartbeat"));
}

}  // namespace
}  // namespace daemoneye::launcher
