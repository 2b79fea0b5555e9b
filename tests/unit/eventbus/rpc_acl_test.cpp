// RpcAcl: what an adopted collector may serve and call.
#include "rpc_acl.hpp"

#include <gtest/gtest.h>

namespace daemoneye::eventbus {
namespace {

TEST(RpcAcl, UnrestrictedByDefault) {
    RpcAcl acl;
    EXPECT_FALSE(acl.restricted());
    EXPECT_TRUE(acl.check_serve("control.#"));
    EXPECT_TRUE(acl.check_call("control.collector.procmond.p-0"));
}

TEST(RpcAcl, ACollectorServesOnlyItsExactTargetsAndCallsOnlyWhatIsGranted) {
    RpcAcl acl({"control.collector.procmond.p-0"}, {});
    ASSERT_TRUE(acl.restricted());
    EXPECT_TRUE(acl.check_serve("control.collector.procmond.p-0"));
    for (const char* p : {"control.collector.netmond.n-0", "control.collector.procmond",
                          "control.collector.procmond.+", "control.collector.#", "#"}) {
        auto r = acl.check_serve(p);
        ASSERT_FALSE(r) << p;
        EXPECT_NE(r.error().message.find(std::string("'") + p + "' denied"), std::string::npos)
            << r.error().message;
        EXPECT_NE(r.error().message.find("only control.collector.procmond.p-0 (exact targets)"),
                  std::string::npos)
            << r.error().message;
    }
    auto call = acl.check_call("control.collector.netmond.n-0");
    ASSERT_FALSE(call);
    EXPECT_NE(call.error().message.find("may call no RPC target"), std::string::npos)
        << call.error().message;

    // A wildcard serve grant still admits only exact targets under it; call grants are patterns.
    RpcAcl wide({"control.collector.procmond.+"}, {"control.agent"});
    EXPECT_TRUE(wide.check_serve("control.collector.procmond.p-1"));
    EXPECT_FALSE(wide.check_serve("control.collector.procmond.+"));
    EXPECT_TRUE(wide.check_call("control.agent"));
    EXPECT_FALSE(wide.check_call("control.agent.x"));
}

TEST(RpcAcl, InvalidGrantsAreLeftOutAndListed) {
    RpcAcl acl({"control..bad", "control.collector.x.y"}, {"a.#.b"});
    EXPECT_EQ(acl.rejected_grants(), (std::vector<std::string>{"control..bad", "a.#.b"}));
    EXPECT_TRUE(acl.check_serve("control.collector.x.y"));
    EXPECT_FALSE(acl.check_call("a.z.b"));
}

}  // namespace
}  // namespace daemoneye::eventbus
