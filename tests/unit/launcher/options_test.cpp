#include "daemoneye/launcher/options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace daemoneye::launcher {
namespace {

using ::testing::HasSubstr;

Result<Options, ParseExit> parse(std::vector<const char*> args) {
    args.insert(args.begin(), "daemoneye-launcher");
    return parse_options(static_cast<int>(args.size()), args.data());
}

TEST(Options, AgentSpawnLine) {
    auto o = parse({"--plugin", "/p/procmond.so", "--instance", "procmond-0", "--broker-fd", "5",
                    "--permission", "proc.read", "--permission", "fs.read:/usr",
                    "--memory-limit-mb", "128", "--user", "daemoneye", "--on-violation", "kill"});
    ASSERT_TRUE(o.ok()) << o.error().text;
    EXPECT_EQ(o->mode, Options::Mode::Run);
    EXPECT_EQ(o->plugin_path, "/p/procmond.so");
    EXPECT_EQ(o->instance_id, "procmond-0");
    EXPECT_EQ(o->broker_fd, 5);
    EXPECT_THAT(o->permissions, ::testing::ElementsAre("proc.read", "fs.read:/usr"));
    EXPECT_EQ(o->memory_limit_mb, 128u);
    EXPECT_EQ(o->user, "daemoneye");
    EXPECT_EQ(o->on_violation, ViolationAction::Kill);
    EXPECT_FALSE(o->no_sandbox);
}

TEST(Options, Defaults) {
    auto o = parse({"--plugin", "x.so", "--instance", "x-0", "--broker", "/run/de/broker.sock",
                    "--set", "a.b=1", "--set", "paths.0=/etc"});
    ASSERT_TRUE(o.ok()) << o.error().text;
    EXPECT_EQ(o->user, "nobody");
    EXPECT_EQ(o->on_violation, ViolationAction::Deny);
    EXPECT_EQ(o->memory_limit_mb, 0u);
    EXPECT_EQ(o->broker_path, "/run/de/broker.sock");
    EXPECT_EQ(o->config_overrides.at("a.b"), "1");
    EXPECT_EQ(o->config_overrides.at("paths.0"), "/etc");
}

TEST(Options, Describe) {
    auto o = parse({"--describe", "x.so"});
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->mode, Options::Mode::Describe);
    EXPECT_EQ(o->plugin_path, "x.so");
}

TEST(Options, Help) {
    auto o = parse({"--help"});
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.error().code, ExitCode::Ok);
    EXPECT_THAT(o.error().text, HasSubstr("--broker-fd"));
}

struct BadCase {
    std::vector<const char*> args;
    const char* message;
};

TEST(Options, UsageErrorsNameTheProblem) {
    const BadCase cases[] = {
        {{"--instance", "x"}, "--plugin PATH (or --describe PATH) is required"},
        {{"--plugin", "x.so", "--broker-fd", "3"}, "--instance ID is required"},
        {{"--plugin", "x.so", "--instance", "x"}, "exactly one of --broker-fd N and --broker PATH"},
        {{"--plugin", "x.so", "--instance", "x", "--broker-fd", "3", "--broker", "/s"},
         "exactly one of"},
        {{"--plugin", "x.so", "--instance", "a.b", "--broker-fd", "3"}, "only [A-Za-z0-9_-]"},
        {{"--describe", "x.so", "--plugin", "y.so"}, "exclusive"},
        {{"--describe", "x.so", "--permission", "everything"}, "unknown permission 'everything'"},
        {{"--describe", "x.so", "--permission", "fs.watch"}, "needs a path"},
        {{"--describe", "x.so", "--permission", "fs.watch:relative"}, "must be absolute"},
        {{"--describe", "x.so", "--permission", "fs.read:/a/../etc"}, "may not contain"},
        {{"--describe", "x.so", "--set", "novalue"}, "expected key=value"},
        {{"--describe", "x.so", "--on-violation", "ignore"}, "ignore"},
        {{"--plugin", "x.so", "--instance", "x", "--broker-fd", "1"}, "broker-fd"},
    };
    for (const auto& c : cases) {
        auto o = parse(c.args);
        ASSERT_FALSE(o.ok()) << c.message;
        EXPECT_EQ(o.error().code, ExitCode::Usage);
        EXPECT_THAT(o.error().text, HasSubstr(c.message));
    }
}

}  // namespace
}  // namespace daemoneye::launcher
