#include "daemoneye/launcher/bridge/plugin_instance.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../test_descriptor.hpp"

namespace daemoneye::launcher {
namespace {

using testing::fake_descriptor;
using testing::g_fake;
using ::testing::HasSubstr;

struct Fixture {
    Fixture() { g_fake = {}; }
    de_plugin_descriptor d = fake_descriptor();
    EmitBuffer events{10, 1 << 20};
    HostContext host{"fake-0", "fake", TopicFilter({"events.test.#"}), events, 1024};
    ConfigStore config{{{"value", "7"}}};
};

TEST(PluginInstance, FullLifecycle) {
    Fixture f;
    {
        PluginInstance p(nullptr, f.d, f.host);
        ASSERT_TRUE(p.create(f.config).ok());
        EXPECT_EQ(g_fake.host, f.host.api());
        EXPECT_EQ(g_fake.last_config_value, "7");
        ASSERT_TRUE(p.start().ok());
        EXPECT_TRUE(p.running());
        ASSERT_TRUE(p.stop().ok());
        EXPECT_FALSE(p.running());
    }
    EXPECT_EQ(g_fake.destroyed, 1);  // the destructor destroys the instance exactly once
}

TEST(PluginInstance, CreateFailureCarriesThePluginsMessage) {
    Fixture f;
    g_fake.fail_create = true;
    PluginInstance p(nullptr, f.d, f.host);
    auto st = p.create(f.config);
    ASSERT_FALSE(st.ok());
    EXPECT_THAT(st.error().message, HasSubstr("create() failed"));
    EXPECT_THAT(st.error().message, HasSubstr("bad config key 'x'"));
}

TEST(PluginInstance, ExceptionsAcrossTheAbiAreCaught) {
    Fixture f;
    g_fake.throw_start = true;
    PluginInstance p(nullptr, f.d, f.host);
    ASSERT_TRUE(p.create(f.config).ok());
    auto st = p.start();
    ASSERT_FALSE(st.ok());
    EXPECT_THAT(st.error().message,
                HasSubstr("start() threw across the ABI boundary: boom in start"));
    EXPECT_FALSE(p.running());
}

TEST(PluginInstance, HealthParsesDetailLines) {
    Fixture f;
    PluginInstance p(nullptr, f.d, f.host);
    ASSERT_TRUE(p.create(f.config).ok());
    auto h = p.health();
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->state, DE_HEALTH_DEGRADED);
    EXPECT_EQ(h->errors, 2u);
    using KV = std::pair<std::string, std::string>;
    EXPECT_THAT(h->details, ::testing::ElementsAre(KV{"mode", "scan"}, KV{"view", "partial"},
                                                   KV{"noequals", ""}));
}

TEST(PluginInstance, TaskResultIsCappedAndMarkedPartial) {
    Fixture f;
    PluginInstance p(nullptr, f.d, f.host);
    ASSERT_TRUE(p.create(f.config).ok());
    rpc::v1::TaskRequest req;
    req.set_task_id("t1");
    req.set_kind("echo");
    auto full = p.task(req, 1 << 20);
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(full->records_size(), 10);
    EXPECT_FALSE(full->partial());
    EXPECT_EQ(full->source(), "fake-0");
    auto capped = p.task(req, 100);
    ASSERT_TRUE(capped.ok());
    EXPECT_LT(capped->records_size(), 10);
    EXPECT_TRUE(capped->partial());
    req.set_kind("other");
    auto bad = p.task(req, 1 << 20);
    ASSERT_FALSE(bad.ok());
    EXPECT_THAT(bad.error().message, HasSubstr("unknown kind"));
}

TEST(PluginInstance, ConfigRefusalKeepsTheMessage) {
    Fixture f;
    PluginInstance p(nullptr, f.d, f.host);
    ASSERT_TRUE(p.create(f.config).ok());
    ConfigStore next{{{"value", "8"}}};
    ASSERT_TRUE(p.configure(next).ok());
    EXPECT_EQ(g_fake.last_config_value, "8");
    g_fake.fail_config = true;
    auto st = p.configure(next);
    ASSERT_FALSE(st.ok());
    EXPECT_THAT(st.error().message, HasSubstr("key 'value' out of range"));
    f.d.on_config = nullptr;
    EXPECT_FALSE(p.supports_config());
}

}  // namespace
}  // namespace daemoneye::launcher
