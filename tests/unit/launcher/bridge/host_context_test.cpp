#include "daemoneye/launcher/bridge/host_context.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace daemoneye::launcher {
namespace {

struct Fixture {
    EmitBuffer events{2, 1 << 20};
    HostContext host{"x-0", "x", TopicFilter({"events.test.#"}), events, 64};
    const de_host_api* api = host.api();

    de_status emit(const char* topic, const char* type = "T", std::size_t len = 3) {
        static const std::uint8_t data[100] = {};
        return api->emit(api->host_ctx, topic, type, data, len);
    }
};

TEST(HostContext, TableDescribesTheHost) {
    Fixture f;
    EXPECT_EQ(f.api->struct_size, sizeof(de_host_api));
    EXPECT_EQ(f.api->abi_major, DE_PLUGIN_ABI_MAJOR);
    EXPECT_STREQ(f.api->instance_id, "x-0");
    EXPECT_GT(f.api->now_unix_nanos(f.api->host_ctx), 1'600'000'000'000'000'000ULL);
}

TEST(HostContext, EmitChecksTopicArgumentsAndBackpressure) {
    Fixture f;
    EXPECT_EQ(f.emit("events.test.a"), DE_OK);
    EXPECT_EQ(f.emit("events.other"), DE_ERR_DENIED);
    EXPECT_EQ(f.emit("events.test.+"), DE_ERR_DENIED);
    EXPECT_EQ(f.emit(nullptr), DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(f.emit("events.test.a", ""), DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(f.emit("events.test.a", "T", 65), DE_ERR_INVALID_ARGUMENT);  // over max payload
    EXPECT_EQ(f.api->emit(nullptr, "events.test.a", "T", nullptr, 0), DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(f.emit("events.test.b"), DE_OK);
    EXPECT_EQ(f.emit("events.test.c"), DE_ERR_BACKPRESSURE);
    EXPECT_EQ(f.host.emitted(), 2u);
    EXPECT_EQ(f.host.dropped(), 1u);
    EXPECT_EQ(f.host.errors(), 5u);
}

TEST(HostContext, ConfigGetSeesTheCurrentConfig) {
    Fixture f;
    EXPECT_EQ(f.api->config_get(f.api->host_ctx, "a"), nullptr);
    f.host.set_config(std::make_shared<ConfigStore>(
        std::map<std::string, std::string>{{"a", "1"}, {"paths.0", "/etc"}}));
    const char* a = f.api->config_get(f.api->host_ctx, "a");
    ASSERT_NE(a, nullptr);
    EXPECT_STREQ(a, "1");
    f.host.set_config(
        std::make_shared<ConfigStore>(std::map<std::string, std::string>{{"a", "2"}}));
    EXPECT_STREQ(a, "1");  // still valid: superseded configs live until destroy()
    EXPECT_STREQ(f.api->config_get(f.api->host_ctx, "a"), "2");
    EXPECT_EQ(f.api->config_get(f.api->host_ctx, nullptr), nullptr);
}

TEST(HostContext, ConfigStoreView) {
    ConfigStore s({{"b", "2"}, {"a", "1"}});
    ASSERT_EQ(s.view()->count, 2u);
    EXPECT_STREQ(s.view()->items[0].key, "a");
    EXPECT_STREQ(s.view()->items[1].value, "2");
}

TEST(HostContext, LogIsRateLimited) {
    Fixture f;
    for (int i = 0; i < 200; ++i) f.api->log(f.api->host_ctx, DE_LOG_INFO, "spam");
    f.api->log(f.api->host_ctx, DE_LOG_INFO, nullptr);
    EXPECT_GE(f.host.log_suppressed(), 100u);
}

}  // namespace
}  // namespace daemoneye::launcher
