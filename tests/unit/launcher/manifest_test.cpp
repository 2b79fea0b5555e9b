#include "daemoneye/launcher/manifest.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_descriptor.hpp"

namespace daemoneye::launcher {
namespace {

using testing::fake_descriptor;
using ::testing::HasSubstr;

TEST(Manifest, AbiRule) {
    EXPECT_TRUE(check_abi(DE_PLUGIN_ABI_MAJOR, DE_PLUGIN_ABI_MINOR).ok());
    EXPECT_TRUE(check_abi(DE_PLUGIN_ABI_MAJOR, 0).ok());
    auto newer = check_abi(DE_PLUGIN_ABI_MAJOR, DE_PLUGIN_ABI_MINOR + 1);
    ASSERT_FALSE(newer.ok());
    EXPECT_THAT(
        newer.error().message,
        HasSubstr("plugin ABI 1." + std::to_string(DE_PLUGIN_ABI_MINOR + 1) +
                  " is not compatible with host ABI 1." + std::to_string(DE_PLUGIN_ABI_MINOR)));
    EXPECT_THAT(newer.error().message, HasSubstr("rule:"));
    EXPECT_FALSE(check_abi(DE_PLUGIN_ABI_MAJOR + 1, 0).ok());
    EXPECT_FALSE(check_abi(0, 0).ok());
}

TEST(Manifest, ReadsAValidDescriptor) {
    auto d = fake_descriptor();
    auto m = read_manifest(d);
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->name, "fake");
    EXPECT_THAT(m->capabilities, ::testing::ElementsAre("echo"));
    EXPECT_THAT(m->publishes, ::testing::ElementsAre("events.test.#"));
    ASSERT_EQ(m->declared_permissions.size(), 1u);
    EXPECT_EQ(m->declared_permissions[0].kind, Permission::Kind::ProcRead);
    auto proto = to_proto(*m);
    EXPECT_EQ(proto.name(), "fake");
    EXPECT_EQ(proto.permissions(0), "proc.read");
}

TEST(Manifest, RefusesBadFieldsNamingThem) {
    static const char* const bad_perm[] = {"root", nullptr};
    static const char* const bad_pub[] = {"events.pro+cess", nullptr};
    static const char* const control_pub[] = {"control.health.#", nullptr};
    static const char* const everything[] = {"#", nullptr};
    static const char* const all_events[] = {"events.#", nullptr};
    static const char* const empty_entry[] = {"", nullptr};
    struct Case {
        void (*mutate)(de_plugin_descriptor&);
        const char* message;
    } cases[] = {
        {[](de_plugin_descriptor& d) { d.name = "UPPER"; },
         "name 'UPPER' has a character outside [a-z0-9_-]"},
        {[](de_plugin_descriptor& d) { d.name = nullptr; }, "name is NULL"},
        {[](de_plugin_descriptor& d) { d.version = ""; }, "version is empty"},
        {[](de_plugin_descriptor& d) { d.description = "two\nlines"; },
         "description contains a control character"},
        {[](de_plugin_descriptor& d) { d.capabilities = nullptr; }, "capabilities is NULL"},
        {[](de_plugin_descriptor& d) { d.capabilities = empty_entry; }, "capabilities[0] is empty"},
        {[](de_plugin_descriptor& d) { d.permissions = bad_perm; }, "unknown permission 'root'"},
        {[](de_plugin_descriptor& d) { d.publishes = bad_pub; }, "mixes a wildcard with text"},
        {[](de_plugin_descriptor& d) { d.publishes = control_pub; }, "reaches control.*"},
        {[](de_plugin_descriptor& d) { d.publishes = everything; }, "reaches control.*"},
        {[](de_plugin_descriptor& d) { d.publishes = all_events; },
         "reaches events.detection.alert, where only the agent publishes alerts"},
        {[](de_plugin_descriptor& d) { d.start = nullptr; }, "start is NULL (required)"},
        {[](de_plugin_descriptor& d) { d.destroy = nullptr; }, "destroy is NULL (required)"},
    };
    for (const auto& c : cases) {
        auto d = fake_descriptor();
        c.mutate(d);
        auto m = read_manifest(d);
        ASSERT_FALSE(m.ok()) << c.message;
        EXPECT_EQ(m.error().code, ExitCode::LoadFailure);
        EXPECT_THAT(m.error().message, HasSubstr(c.message));
    }
    std::string long_name(65, 'a');
    auto d = fake_descriptor();
    d.name = long_name.c_str();
    auto m = read_manifest(d);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(m.error().message, HasSubstr("longer than 64 bytes"));
}

}  // namespace
}  // namespace daemoneye::launcher
