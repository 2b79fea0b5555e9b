// Tests plugin-api/examples/c-collector/c_collector.c, compiled into this binary and driven
// in-process through its descriptor: a plugin written in plain C meets the same contract.
#include <gtest/gtest.h>

#include "daemoneye/events/v1/events.pb.h"
#include "daemoneye/plugin_api.h"
#include "daemoneye/sdk/testing.hpp"

namespace {

namespace ev = daemoneye::events::v1;
using daemoneye::sdk::testing::TestHost;
using namespace std::chrono_literals;

TEST(CCollector, DescriptorIsValid) {
    const de_plugin_descriptor* d = daemoneye_plugin_entry();
    EXPECT_TRUE(daemoneye::sdk::testing::validate_descriptor(d).empty());
    EXPECT_STREQ(d->name, "c_collector");
    EXPECT_EQ(daemoneye::sdk::testing::list_of(d->capabilities),
              std::vector<std::string>{"self_info"});
    EXPECT_EQ(d->on_config, nullptr);
}

TEST(CCollector, EmitsDecodableProcessEventsUntilStopped) {
    TestHost host(daemoneye_plugin_entry());
    ASSERT_TRUE(host.create({{"interval_ms", "1"}}).ok());
    ASSERT_TRUE(host.start().ok());
    ASSERT_TRUE(host.wait_for_events(2, 60s));
    ASSERT_TRUE(host.stop().ok());
    auto events = host.events();
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events[0].topic, "events.example.c");
    auto event = events[0].as<ev::ProcessEvent>();  // the hand-encoded bytes are real protobuf
    EXPECT_EQ(event.kind(), ev::PROCESS_EVENT_KIND_SNAPSHOT);
    EXPECT_EQ(event.process().pid(), static_cast<std::uint32_t>(getpid()));
    EXPECT_FALSE(event.process().name().empty());
    EXPECT_GT(event.observed_unix_nanos(), 0u);
    EXPECT_TRUE(host.violations().empty()) << host.violations().front();
    auto health = host.health();
    EXPECT_EQ(health.details["running"], "false");
    EXPECT_EQ(health.details["events_emitted"], std::to_string(events.size()));
}

TEST(CCollector, ServesSelfInfoAndRejectsOtherTasks) {
    TestHost host(daemoneye_plugin_entry());
    ASSERT_TRUE(host.create().ok());
    auto result = host.run_task("self_info");
    ASSERT_TRUE(result.ok()) << result.describe();
    ASSERT_EQ(result.records.size(), 1u);
    EXPECT_EQ(result.records[0].as<ev::ProcessInfo>().uid(), getuid());
    auto other = host.run_task("nope");
    EXPECT_EQ(other.status, DE_ERR_UNSUPPORTED);
    EXPECT_EQ(other.message, "task kind 'nope' is not served by c_collector");
}

TEST(CCollector, BadConfigNamesTheKey) {
    TestHost host(daemoneye_plugin_entry());
    auto bad = host.create({{"interval_ms", "0"}});
    EXPECT_EQ(bad.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad.message,
              "config key 'interval_ms': expected an integer in [1, 3600000], got '0'");
    auto unknown = host.create({{"speed", "1"}});
    EXPECT_EQ(unknown.message, "unknown config key 'speed' (known: interval_ms)");
}

}  // namespace
