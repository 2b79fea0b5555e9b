// Tests plugins/netmond/src/netmond_plugin.cpp through the SDK's in-process test host: the plugin
// as the launcher sees it (descriptor, config errors, events, tasks, health, contract checks).
#include "netmond_plugin.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <daemoneye/sdk/testing.hpp>

extern "C" const de_plugin_descriptor* daemoneye_plugin_entry(void);

namespace daemoneye::netmond {
namespace {

using daemoneye::sdk::testing::TestHost;
using namespace std::chrono_literals;

bool has_listen_event(const TestHost& host, uint16_t port, uint32_t pid) {
    for (const auto& p : host.events()) {
        if (p.topic != kListenersTopic) continue;
        const auto ev = p.as<events::v1::NetworkEvent>();
        if (ev.socket().local_port() == port && ev.socket().pid() == pid &&
            ev.kind() == events::v1::NETWORK_EVENT_KIND_LISTEN_STARTED)
            return true;
    }
    return false;
}

TEST(NetmondPlugin, ListenerSeenThroughTheTestHostWithTasksAndHealth) {
    TestHost host(daemoneye_plugin_entry());
    ASSERT_TRUE(host.create({{"scan_interval_ms", "100"}}).ok());
    ASSERT_TRUE(host.start().ok());
    // A socket opened before the first scan is part of its snapshot, not a LISTEN_STARTED event.
    const auto primed_by = std::chrono::steady_clock::now() + 60s;
    while (host.health().details["scans"] == "0" && std::chrono::steady_clock::now() < primed_by)
        std::this_thread::sleep_for(20ms);
    ASSERT_NE(host.health().details["scans"], "0");

    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(fd, 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const uint16_t port = ntohs(a.sin_port);
    const auto pid = static_cast<uint32_t>(::getpid());

    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!has_listen_event(host, port, pid) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(has_listen_event(host, port, pid));

    auto result = host.run_task("list_listeners", {{"port", std::to_string(port)}});
    ASSERT_TRUE(result.ok()) << result.describe();
    ASSERT_EQ(result.records.size(), 1u);
    const auto batch = result.records[0].as<events::v1::SocketBatch>();
    ASSERT_EQ(batch.sockets_size(), 1);
    EXPECT_EQ(batch.sockets(0).pid(), pid);
    EXPECT_EQ(batch.sockets(0).state(), "LISTEN");

    EXPECT_EQ(host.run_task("list_connections", {{"state", "bogus"}}).status,
              DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(host.run_task("list_files", {}).status, DE_ERR_UNSUPPORTED);

    auto bad = host.update_config({{"scan_interval_ms", "5"}});
    EXPECT_EQ(bad.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_NE(bad.message.find("scan_interval_ms"), std::string::npos) << bad.message;

    const auto health = host.health();
    EXPECT_EQ(health.details.at("mode"), "sock_diag");
    EXPECT_TRUE(health.details.contains("view"));
    ::close(fd);
    ASSERT_TRUE(host.stop().ok());
    EXPECT_TRUE(host.violations().empty()) << host.violations().front();
}

TEST(NetmondPlugin, BadConfigIsRefusedAtCreateNamingTheKey) {
    TestHost host(daemoneye_plugin_entry());
    const auto r = host.create({{"source", "carrier-pigeon"}});
    EXPECT_EQ(r.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_NE(r.message.find("'source'"), std::string::npos) << r.message;
}

TEST(NetmondPlugin, DescriptorDeclaresNetReadAndNetworkTopics) {
    const auto* d = daemoneye_plugin_entry();
    EXPECT_STREQ(d->name, "netmond");
    EXPECT_STREQ(d->permissions[0], "net.read");
    EXPECT_EQ(d->permissions[1], nullptr);
    EXPECT_STREQ(d->publishes[0], "events.network.#");
}

}  // namespace
}  // namespace daemoneye::netmond
