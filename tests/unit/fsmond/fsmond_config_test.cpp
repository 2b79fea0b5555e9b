// Tests plugins/fsmond/src/fsmond_config.cpp.
#include "fsmond_config.hpp"

#include <gtest/gtest.h>

namespace daemoneye::fsmond {
namespace {

TEST(FsmondConfig, DefaultsWatchTheSystemPaths) {
    auto c = FsmondConfig::parse({});
    ASSERT_TRUE(c.ok());
    const auto& p = c.value().paths;
    EXPECT_NE(std::find(p.begin(), p.end(), "/etc"), p.end());
    EXPECT_NE(std::find(p.begin(), p.end(), "/usr/lib/systemd"), p.end());
    EXPECT_TRUE(c.value().recursive);
    EXPECT_EQ(c.value().debounce.count(), 200);
}

TEST(FsmondConfig, ListsAndScalars) {
    auto c = FsmondConfig::parse({{"paths.0", "/srv/"},
                                  {"paths.1", "/opt"},
                                  {"exclude.0", "*.swp"},
                                  {"recursive", "false"},
                                  {"hash_max_bytes", "1024"},
                                  {"debounce_ms", "0"},
                                  {"mode", "inotify"}});
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c.value().paths, (std::vector<std::string>{"/srv", "/opt"}));
    EXPECT_FALSE(c.value().recursive);
    EXPECT_EQ(c.value().hash_max_bytes, 1024u);
    EXPECT_EQ(c.value().debounce.count(), 0);
    EXPECT_EQ(c.value().mode, WatchMode::Inotify);
    EXPECT_TRUE(c.value().excluded("/srv/a/.x.swp"));
    EXPECT_FALSE(c.value().excluded("/srv/a/x.conf"));
}

TEST(FsmondConfig, BadValuesNameTheKey) {
    for (const auto& [k, v] :
         std::vector<std::pair<std::string, std::string>>{{"paths.0", "relative/dir"},
                                                          {"recursive", "sometimes"},
                                                          {"hash_max_bytes", "-1"},
                                                          {"debounce_ms", "999999"},
                                                          {"mode", "dnotify"},
                                                          {"exclude.0", ""},
                                                          {"watch", "/etc"}}) {
        auto c = FsmondConfig::parse({{k, v}});
        ASSERT_FALSE(c.ok()) << k;
        EXPECT_NE(c.error().find("'" + k + "'"), std::string::npos) << c.error();
    }
}

}  // namespace
}  // namespace daemoneye::fsmond
