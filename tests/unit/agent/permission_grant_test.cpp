// Tests host/agent/src/permission_grant.cpp: what the launcher is allowed and what the plugin sees.
#include "permission_grant.hpp"

#include <gtest/gtest.h>

namespace daemoneye::agent {
namespace {

TEST(PermissionGrant, DeclaredPermissionsPassThrough) {
    auto g = grant_for("procmond", {"proc.read"}, {}, CollectorConfig{});
    ASSERT_TRUE(g.ok()) << g.error().message;
    EXPECT_EQ(g->permissions, std::vector<std::string>{"proc.read"});
}

TEST(PermissionGrant, PathlessWatchBecomesOnePermissionPerConfiguredPath) {
    CollectorConfig cc;
    cc.config = {{"paths.0", "/etc"}, {"paths.1", "/srv/app"}, {"debounce_ms", "50"}};
    auto g = grant_for("fsmond", {"fs.watch"}, {}, cc);
    ASSERT_TRUE(g.ok()) << g.error().message;
    EXPECT_EQ(g->permissions, (std::vector<std::string>{"fs.watch:/etc", "fs.watch:/srv/app"}));
    EXPECT_EQ(g->config, cc.config);
}

TEST(PermissionGrant, NoConfiguredPathsGetTheDefaultsInBothPermissionsAndConfig) {
    auto g = grant_for("fsmond", {"fs.watch"}, {}, CollectorConfig{});
    ASSERT_TRUE(g.ok()) << g.error().message;
    const auto defaults = default_watch_paths();
    ASSERT_EQ(g->permissions.size(), defaults.size());
    for (std::size_t i = 0; i < defaults.size(); ++i) {
        EXPECT_EQ(g->permissions[i], "fs.watch:" + defaults[i]);
        EXPECT_EQ(g->config.at("paths." + std::to_string(i)), defaults[i]);
    }
}

TEST(PermissionGrant, RelativePathIsRefusedNamingTheKey) {
    CollectorConfig cc;
    cc.config = {{"paths.0", "/etc"}, {"paths.1", "tmp"}};
    auto g = grant_for("fsmond", {"fs.watch"}, {}, cc);
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.error().message.find("collectors.fsmond.config.paths.1"), std::string::npos)
        << g.error().message;
}

TEST(PermissionGrant, ExplicitPermissionsMustBeDeclared) {
    CollectorConfig cc;
    cc.permissions = {"net.read"};
    auto g = grant_for("procmond", {"proc.read"}, {}, cc);
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.error().message.find("'net.read' in collectors.procmond.permissions"),
              std::string::npos)
        << g.error().message;

    cc.permissions = {"fs.watch:/opt"};  // a declared path-less fs.watch covers any path
    auto ok = grant_for("fsmond", {"fs.watch"}, {}, cc);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(ok->permissions, std::vector<std::string>{"fs.watch:/opt"});
}

// An operator narrows what a collector may publish: exactly the configured patterns, each within
// one the plugin declares; none configured keeps the declared ones.
TEST(PermissionGrant, ConfiguredPublishesNarrowTheDeclaredOnes) {
    const std::vector<std::string> declared{"events.process.#"};
    auto all = grant_for("procmond", {"proc.read"}, declared, CollectorConfig{});
    ASSERT_TRUE(all.ok()) << all.error().message;
    EXPECT_EQ(all->publishes, declared);

    CollectorConfig cc;
    cc.publishes = {"events.process.lifecycle"};
    auto narrowed = grant_for("procmond", {"proc.read"}, declared, cc);
    ASSERT_TRUE(narrowed.ok()) << narrowed.error().message;
    EXPECT_EQ(narrowed->publishes, cc.publishes);

    cc.publishes = {"events.process.lifecycle", "events.network.#"};
    auto wider = grant_for("procmond", {"proc.read"}, declared, cc);
    ASSERT_FALSE(wider.ok());
    EXPECT_NE(wider.error().message.find("'events.network.#' in collectors.procmond.publishes is "
                                         "not within what the plugin declares (events.process.#)"),
              std::string::npos)
        << wider.error().message;
}

}  // namespace
}  // namespace daemoneye::agent
