// CollectorAcl: what an adopted collector may subscribe to, serve and call.
#include "collector_acl.hpp"

#include <gtest/gtest.h>

#include "daemoneye/eventbus/broker_options.hpp"

namespace daemoneye::eventbus {
namespace {

PresetIdentity procmond(std::vector<std::string> subscribe, std::vector<std::string> serve,
                        std::vector<std::string> call) {
    PresetIdentity id{"procmond-0", "procmond", {"events.process.#"}, {}};
    id.subscribe_grants = std::move(subscribe);
    id.rpc_serve_grants = std::move(serve);
    id.rpc_call_grants = std::move(call);
    return id;
}

TEST(CollectorAcl, UnrestrictedByDefault) {
    CollectorAcl acl;
    EXPECT_FALSE(acl.restricted());
    EXPECT_TRUE(acl.check_subscribe("#"));
    EXPECT_TRUE(acl.check_serve("control.#"));
    EXPECT_TRUE(acl.check_call("control.collector.procmond.p-0"));
}

TEST(CollectorAcl, WhatTheAgentGrantsACollector) {
    CollectorAcl acl(procmond({}, {"control.collector.procmond.procmond-0"}, {}));
    ASSERT_TRUE(acl.restricted());
    EXPECT_TRUE(acl.check_serve("control.collector.procmond.procmond-0"));
    for (const char* p : {"control.collector.netmond.netmond-0", "control.collector.procmond",
                          "control.collector.procmond.+", "control.collector.#", "#"}) {
        auto r = acl.check_serve(p);
        ASSERT_FALSE(r) << p;
        EXPECT_EQ(r.error().message, std::string("serving RPC on '") + p +
                                         "' denied: this collector may serve only "
                                         "control.collector.procmond.procmond-0 (exact targets)");
    }
    auto call = acl.check_call("control.collector.netmond.netmond-0");
    ASSERT_FALSE(call);
    EXPECT_EQ(call.error().message,
              "RPC call to 'control.collector.netmond.netmond-0' denied: this collector may call "
              "nothing");
    auto sub = acl.check_subscribe("events.#");
    ASSERT_FALSE(sub);
    EXPECT_EQ(sub.error().message,
              "subscription 'events.#' denied: this collector may subscribe to nothing");
}

TEST(CollectorAcl, GrantsArePatterns) {
    CollectorAcl acl(
        procmond({"events.process.#"}, {"control.collector.procmond.+"}, {"control.agent"}));
    // Subscriptions: any pattern the grant covers, nothing wider or beside it.
    EXPECT_TRUE(acl.check_subscribe("events.process.#"));
    EXPECT_TRUE(acl.check_subscribe("events.process.+.x"));
    EXPECT_TRUE(acl.check_subscribe("events.process"));
    EXPECT_FALSE(acl.check_subscribe("events.#"));
    EXPECT_FALSE(acl.check_subscribe("events.+.start"));
    EXPECT_FALSE(acl.check_subscribe("events.network.x"));
    // A wildcard serve grant admits only exact targets under it; call grants match targets.
    EXPECT_TRUE(acl.check_serve("control.collector.procmond.p-1"));
    EXPECT_FALSE(acl.check_serve("control.collector.procmond.+"));
    EXPECT_TRUE(acl.check_call("control.agent"));
    EXPECT_FALSE(acl.check_call("control.agent.x"));
}

TEST(CollectorAcl, InvalidGrantsAreLeftOutAndListed) {
    CollectorAcl acl(procmond({"events..x"}, {"control..bad", "control.collector.x.y"}, {"a.#.b"}));
    EXPECT_EQ(acl.rejected_grants(),
              (std::vector<std::string>{"events..x", "control..bad", "a.#.b"}));
    EXPECT_TRUE(acl.check_serve("control.collector.x.y"));
    EXPECT_FALSE(acl.check_call("a.z.b"));
    EXPECT_FALSE(acl.check_subscribe("events.x"));
}

}  // namespace
}  // namespace daemoneye::eventbus
