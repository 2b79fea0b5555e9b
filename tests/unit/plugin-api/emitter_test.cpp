// Tests plugin-api/include/daemoneye/sdk/host.hpp (Emitter, Host) and sdk/events.hpp topics,
// against the test host's de_host_api.
#include "daemoneye/sdk/host.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "daemoneye/events/v1/events.pb.h"
#include "daemoneye/sdk/collector.hpp"
#include "daemoneye/sdk/events.hpp"
#include "daemoneye/sdk/testing.hpp"

namespace {

namespace sdk = daemoneye::sdk;
namespace ev = daemoneye::events::v1;
using sdk::testing::TestHost;

class Idle {
  public:
    Idle(sdk::Host&, const sdk::Config&) {}
    void start() {}
    void stop() {}
};

constexpr const char* kNone[] = {nullptr};
// events.detection.alert is the agent's: a plugin may not declare it (topic::declarable).
constexpr const char* kPublishes[] = {"events.process.#", "events.network.#", "events.filesystem.#",
                                      nullptr};

const de_plugin_descriptor* idle_descriptor() {
    static const de_plugin_descriptor d =
        sdk::make_descriptor<Idle>("idle", "1", "idle", kNone, kNone, kPublishes);
    return &d;
}

// A host whose instance is "running", so emits are in-contract.
struct Running {
    Running() : host(idle_descriptor()) {
        EXPECT_TRUE(host.create().ok());
        EXPECT_TRUE(host.start().ok());
    }
    TestHost host;
    sdk::Host sdk_host{host.host_api()};
};

TEST(Emitter, DefaultTopicsFollowTheEventKind) {
    ev::ProcessEvent p;
    EXPECT_STREQ(topic_for(p), "events.process.lifecycle");
    p.set_kind(ev::PROCESS_EVENT_KIND_METADATA_CHANGED);
    EXPECT_STREQ(topic_for(p), "events.process.metadata");
    p.set_kind(ev::PROCESS_EVENT_KIND_PARENT_CHANGED);
    EXPECT_STREQ(topic_for(p), "events.process.tree");
    p.set_kind(ev::PROCESS_EVENT_KIND_INTEGRITY);
    EXPECT_STREQ(topic_for(p), "events.process.integrity");
    p.set_kind(ev::PROCESS_EVENT_KIND_ANOMALY);
    EXPECT_STREQ(topic_for(p), "events.process.anomaly");
    EXPECT_STREQ(topic_for(ev::ProcessBatch()), "events.process.batch");
    ev::NetworkEvent n;
    n.set_kind(ev::NETWORK_EVENT_KIND_LISTEN_STARTED);
    EXPECT_STREQ(topic_for(n), "events.network.listeners");
    n.set_kind(ev::NETWORK_EVENT_KIND_OPENED);
    EXPECT_STREQ(topic_for(n), "events.network.connections");
    EXPECT_STREQ(topic_for(ev::SocketBatch()), "events.network.snapshot");
    ev::FileEvent f;
    f.set_kind(ev::FILE_EVENT_KIND_OVERFLOW);
    EXPECT_STREQ(topic_for(f), "events.filesystem.overflow");
    f.set_kind(ev::FILE_EVENT_KIND_CREATED);
    EXPECT_STREQ(topic_for(f), "events.filesystem.created");
    EXPECT_STREQ(topic_for(ev::FileBatch()), "events.filesystem.batch");
    EXPECT_STREQ(topic_for(ev::Alert()), "events.detection.alert");
    for (const char* t : {"events.process.lifecycle", "events.network.listeners",
                          "events.filesystem.overflow", "events.detection.alert"}) {
        EXPECT_TRUE(sdk::topic::valid_topic(t)) << t;
    }
}

TEST(Emitter, TypedEmitSerializesWithTypeNameAndTopic) {
    Running r;
    ev::NetworkEvent event;
    event.set_kind(ev::NETWORK_EVENT_KIND_OPENED);
    event.mutable_socket()->set_local_port(22);
    EXPECT_EQ(r.sdk_host.emitter().emit(event), DE_OK);
    EXPECT_EQ(r.sdk_host.emitter().emit("events.process.custom", ev::ProcessBatch()), DE_OK);
    auto events = r.host.events();
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].topic, "events.network.connections");
    EXPECT_EQ(events[0].type_name, "daemoneye.events.v1.NetworkEvent");
    EXPECT_EQ(events[0].as<ev::NetworkEvent>().socket().local_port(), 22u);
    EXPECT_EQ(events[1].topic, "events.process.custom");
    EXPECT_EQ(events[1].type_name, "daemoneye.events.v1.ProcessBatch");
    EXPECT_EQ(r.sdk_host.emitter().stats().emitted, 2u);
}

TEST(Emitter, BackpressureIsReturnedAndCountedAsDrops) {
    Running r;
    r.host.set_emit_capacity(2);
    auto& emitter = r.sdk_host.emitter();
    ev::ProcessEvent event;
    EXPECT_EQ(emitter.emit(event), DE_OK);
    EXPECT_EQ(emitter.emit(event), DE_OK);
    EXPECT_EQ(emitter.emit(event), DE_ERR_BACKPRESSURE);
    EXPECT_EQ(emitter.emit(event), DE_ERR_BACKPRESSURE);
    EXPECT_EQ(emitter.stats().emitted, 2u);
    EXPECT_EQ(emitter.stats().dropped, 2u);
    EXPECT_EQ(r.host.refused(DE_ERR_BACKPRESSURE), 2u);
    EXPECT_FALSE(emitter.host_closed());
    r.host.close_emit();
    EXPECT_EQ(emitter.emit(event), DE_ERR_CLOSED);
    EXPECT_TRUE(emitter.host_closed());
    EXPECT_EQ(emitter.stats().total_refused(), 3u);
}

TEST(Emitter, UndeclaredTopicIsDeniedAndCounted) {
    Running r;
    auto& emitter = r.sdk_host.emitter();
    EXPECT_EQ(emitter.emit("control.collector.x", ev::Alert()), DE_ERR_DENIED);
    EXPECT_EQ(emitter.emit("events.process.#", ev::Alert()), DE_ERR_DENIED);
    EXPECT_EQ(emitter.stats().denied, 2u);
    ASSERT_EQ(r.host.violations().size(), 2u);
    EXPECT_EQ(r.host.violations()[0],
              "emit on 'control.collector.x', outside the declared publishes");
    EXPECT_EQ(r.host.violations()[1], "emit on invalid topic 'events.process.#'");
}

TEST(Emitter, IsThreadSafeAndLosesNothingSilently) {
    Running r;
    r.host.set_emit_capacity(3000);
    auto& emitter = r.sdk_host.emitter();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            ev::FileEvent event;
            event.mutable_file()->set_path("/t" + std::to_string(t));
            for (int i = 0; i < 1000; ++i) (void)emitter.emit(event);
        });
    }
    for (auto& t : threads) t.join();
    auto stats = emitter.stats();
    EXPECT_EQ(stats.emitted, 3000u);
    EXPECT_EQ(stats.dropped, 1000u);
    EXPECT_EQ(r.host.event_count(), 3000u);
}

TEST(Host, LogHelpersClockAndInstance) {
    Running r;
    r.sdk_host.warn("scanned ", 12, " of ", 13.5, " things");
    r.sdk_host.log(sdk::LogLevel::debug, "plain");
    auto logs = r.host.logs();
    ASSERT_GE(logs.size(), 2u);
    EXPECT_EQ(logs[logs.size() - 2].level, DE_LOG_WARN);
    EXPECT_EQ(logs[logs.size() - 2].message, "scanned 12 of 13.5 things");
    EXPECT_EQ(logs.back().level, DE_LOG_DEBUG);
    r.host.set_now(1234);
    EXPECT_EQ(r.sdk_host.now_unix_nanos(), 1234u);
    EXPECT_EQ(r.sdk_host.instance_id(), "test-0");
    EXPECT_EQ(r.sdk_host.host_abi_major(), DE_PLUGIN_ABI_MAJOR);
}

}  // namespace
