#include "daemoneye/launcher/permissions.hpp"

#include <linux/capability.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemoneye/launcher/sandbox/sandbox.hpp"

namespace daemoneye::launcher {
namespace {

Permission declared(const char* text) {
    auto p = parse_permission(text, /*allow_bare_path=*/true);
    EXPECT_TRUE(p.ok()) << text;
    return *p;
}

TEST(Permissions, ParsesKnownKindsAndNormalisesPaths) {
    auto p = parse_permission("fs.watch:/etc/", false);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->kind, Permission::Kind::FsWatch);
    EXPECT_EQ(p->path, "/etc");
    EXPECT_FALSE(parse_permission("fs.watch", false).ok());
    EXPECT_TRUE(parse_permission("fs.watch", true).ok());
    EXPECT_FALSE(parse_permission("fs.watcher:/etc", true).ok());
    EXPECT_FALSE(parse_permission("proc.write", true).ok());
}

TEST(Permissions, CoverageRules) {
    auto granted = PermissionSet::from_grants({"proc.read", "fs.watch:/etc", "fs.read:/"});
    ASSERT_TRUE(granted.ok());
    EXPECT_TRUE(granted->covers(declared("proc.read")));
    EXPECT_FALSE(granted->covers(declared("net.read")));
    EXPECT_TRUE(granted->covers(declared("fs.watch")));             // bare: paths come from config
    EXPECT_TRUE(granted->covers(declared("fs.watch:/etc/ssh")));    // beneath a granted path
    EXPECT_FALSE(granted->covers(declared("fs.watch:/etcetera")));  // a prefix is not a parent
    EXPECT_FALSE(granted->covers(declared("fs.watch:/usr")));
    EXPECT_TRUE(granted->covers(declared("fs.read:/usr/bin")));  // fs.read:/ covers everything
    EXPECT_THAT(
        uncovered(*granted, {declared("proc.read"), declared("net.read"), declared("proc.events")}),
        ::testing::ElementsAre("net.read", "proc.events"));
}

TEST(Permissions, WhatTheSandboxDerives) {
    auto set = PermissionSet::from_grants({"net.read", "fs.watch:/etc", "fs.read:/usr/bin"});
    ASSERT_TRUE(set.ok());
    EXPECT_TRUE(set->needs_host_network());
    EXPECT_THAT(set->read_paths(), ::testing::ElementsAre("/proc", "/etc", "/usr/bin"));
    // CAP_DAC_READ_SEARCH for the fs.* grants (Landlock-confined); nothing for net.read.
    EXPECT_THAT(capabilities_for(*set), ::testing::ElementsAre(CAP_DAC_READ_SEARCH));
    // net.read keeps no capability: socket owners come from the launcher's helper process, so
    // the plugin cannot use /proc/<pid>/root to read host files.
    auto net = PermissionSet::from_grants({"net.read"});
    ASSERT_TRUE(net.ok());
    EXPECT_TRUE(capabilities_for(*net).empty());
    auto proc = PermissionSet::from_grants({"proc.read"});
    ASSERT_TRUE(proc.ok());
    EXPECT_TRUE(capabilities_for(*proc).empty()) << "exe/cwd/ns come from the helper (ABI 1.2)";

    auto none = PermissionSet::from_grants({});
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->needs_host_network());
    EXPECT_TRUE(capabilities_for(*none).empty());

    auto events = PermissionSet::from_grants({"proc.events"});
    ASSERT_TRUE(events.ok());
    EXPECT_TRUE(events->needs_host_network());
    EXPECT_THAT(capabilities_for(*events), ::testing::ElementsAre(CAP_NET_ADMIN));
}

}  // namespace
}  // namespace daemoneye::launcher
