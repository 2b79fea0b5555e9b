#include "publish_acl.hpp"

#include <gtest/gtest.h>

namespace daemoneye::eventbus {
namespace {

TEST(PublishAcl, GrantsAreWildcardPatterns) {
    PublishAcl acl({"events.process.#", "control.health.heartbeat"});
    EXPECT_TRUE(acl.allows("events.process.lifecycle"));
    EXPECT_TRUE(acl.allows("events.process"));
    EXPECT_TRUE(acl.allows("control.health.heartbeat"));
    EXPECT_FALSE(acl.allows("events.network.connection"));
    auto denied = acl.check("events.network.connection");
    ASSERT_FALSE(denied);
    EXPECT_NE(denied.error().message.find("events.network.connection"), std::string::npos);
    EXPECT_NE(denied.error().message.find("events.process.#"), std::string::npos);
}

TEST(PublishAcl, NobodyPublishesReplyTopicsEvenWithEverything) {
    PublishAcl acl({"#"});
    EXPECT_TRUE(acl.allows("events.x"));
    EXPECT_FALSE(acl.allows("control.rpc.reply.3"));
    EXPECT_TRUE(acl.allows("control.rpc.replyish"));
}

TEST(PublishAcl, InvalidGrantsAreLeftOut) {
    PublishAcl acl({"events.#.x", "events.ok"});
    EXPECT_EQ(acl.grants().size(), 1u);
    EXPECT_EQ(acl.rejected_grants().size(), 1u);
}

TEST(SubscribeCheck, OnlyYourOwnReplyTopic) {
    EXPECT_TRUE(check_subscribe_pattern("control.rpc.reply.5", 5));
    EXPECT_FALSE(check_subscribe_pattern("control.rpc.reply.6", 5));
    EXPECT_FALSE(check_subscribe_pattern("control.rpc.reply.+", 5));
    EXPECT_FALSE(check_subscribe_pattern("control.rpc.reply.#", 5));
    EXPECT_TRUE(check_subscribe_pattern("control.rpc.reply", 5));
    EXPECT_TRUE(check_subscribe_pattern("#", 5));
    EXPECT_TRUE(check_subscribe_pattern("control.#", 5));
    EXPECT_TRUE(check_subscribe_pattern("events.process.#", 5));
}

}  // namespace
}  // namespace daemoneye::eventbus
