// Tests plugins/netmond/src/netmond_config.cpp and the task filter in netmond_collector.cpp.
#include "netmond_config.hpp"
#include "netmond_collector.hpp"

#include <gtest/gtest.h>

namespace daemoneye::netmond {
namespace {

TEST(NetmondConfig, DefaultsAndValues) {
    auto d = NetmondConfig::parse({});
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d.value().scan_interval.count(), 2000);
    EXPECT_EQ(d.value().source, SourceMode::Auto);
    auto c = NetmondConfig::parse({{"scan_interval_ms", "500"},
                                   {"source", "procfs"},
                                   {"include_udp", "false"},
                                   {"resolve_owners", "no"}});
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c.value().scan_interval.count(), 500);
    EXPECT_EQ(c.value().source, SourceMode::Procfs);
    EXPECT_FALSE(c.value().include_udp);
    EXPECT_FALSE(c.value().resolve_owners);
}

TEST(NetmondConfig, BadValuesNameTheKey) {
    for (const auto& [k, v] :
         std::vector<std::pair<std::string, std::string>>{{"scan_interval_ms", "10"},
                                                          {"scan_interval_ms", "abc"},
                                                          {"scan_interval_ms", ""},
                                                          {"source", "netlink"},
                                                          {"include_udp", "maybe"},
                                                          {"bogus", "1"}}) {
        auto c = NetmondConfig::parse({{k, v}});
        ASSERT_FALSE(c.ok()) << k << "=" << v;
        EXPECT_NE(c.error().find("'" + k + "'"), std::string::npos) << c.error();
    }
}

TEST(SocketFilterParse, ParsesAndRejects) {
    auto f = SocketFilter::parse(
        {{"state", "listen"}, {"port", "22"}, {"pid", "1"}, {"transport", "tcp"}});
    ASSERT_TRUE(f.ok()) << f.error();
    EXPECT_EQ(*f.value().state, kListen);
    EXPECT_EQ(*f.value().port, 22);
    for (const auto& [k, v] :
         std::vector<std::pair<std::string, std::string>>{{"state", "SLEEPY"},
                                                          {"port", "70000"},
                                                          {"pid", "0"},
                                                          {"transport", "sctp"},
                                                          {"user", "x"}}) {
        auto bad = SocketFilter::parse({{k, v}});
        ASSERT_FALSE(bad.ok()) << k;
        EXPECT_NE(bad.error().find("'" + k + "'"), std::string::npos) << bad.error();
    }
}

}  // namespace
}  // namespace daemoneye::netmond
