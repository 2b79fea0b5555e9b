// Tests plugins/netmond/src/netmond_plugin.cpp through the SDK's in-process test host: the plugin
// as the launcher sees it (descriptor, config errors, events, tasks, health, contract checks).
#include "netmond_plugin.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <daemoneye/sdk/testing.hpp>

#include <algorithm>

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

// A listener on loopback, closed with the object.
struct Listener {
    Listener() {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
             ::listen(fd, 4) == 0;
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~Listener() { ::close(fd); }
    int fd = -1;
    bool ok = false;
    uint16_t port = 0;
};

events::v1::SocketInfo only_listener(TestHost& host, uint16_t port) {
    auto result = host.run_task("list_listeners", {{"port", std::to_string(port)}});
    EXPECT_TRUE(result.ok()) << result.describe();
    if (result.records.size() != 1) {
        ADD_FAILURE() << result.records.size() << " records";
        return {};
    }
    const auto batch = result.records[0].as<events::v1::SocketBatch>();
    if (batch.sockets_size() != 1) {
        ADD_FAILURE() << batch.sockets_size() << " sockets on port " << port;
        return {};
    }
    return batch.sockets(0);
}

TEST(NetmondPlugin, OwnersComeFromTheHostWhenItOffersSocketOwners) {
    TestHost host(daemoneye_plugin_entry());
    // The host answers with pid 1 (alive, so the owner is kept) and names of its own: what
    // netmond reports must be the host's answer, not its own /proc walk.
    std::vector<uint64_t> asked;
    host.offer_socket_owners(
        [&](const std::vector<uint64_t>& inodes, std::vector<sdk::SocketOwner>& owners) {
            asked.insert(asked.end(), inodes.begin(), inodes.end());
            for (uint64_t inode : inodes) owners.push_back({inode, 1, "hostowner", "/host/exe"});
            return DE_OK;
        });
    ASSERT_TRUE(host.create({{"scan_interval_ms", "60000"}}).ok());
    Listener l;
    ASSERT_TRUE(l.ok);
    const auto s = only_listener(host, l.port);
    EXPECT_EQ(s.pid(), 1u);
    EXPECT_EQ(s.process_name(), "hostowner");
    EXPECT_EQ(s.exe(), "/host/exe");
    EXPECT_GE(host.socket_owner_calls(), 1u);
    EXPECT_NE(std::find(asked.begin(), asked.end(), s.inode()), asked.end());
    const auto health = host.health();
    EXPECT_EQ(health.details.at("owner_source"), "host");
    EXPECT_EQ(health.details.at("owner_host_failures"), "0");
    EXPECT_TRUE(host.violations().empty()) << host.violations().front();
}

TEST(NetmondPlugin, AFailingHostLookupFallsBackToProcAndIsReported) {
    TestHost host(daemoneye_plugin_entry());
    host.offer_socket_owners([](const std::vector<uint64_t>&, std::vector<sdk::SocketOwner>&) {
        return DE_ERR_INTERNAL;
    });
    ASSERT_TRUE(host.create({{"scan_interval_ms", "60000"}}).ok());
    Listener l;
    ASSERT_TRUE(l.ok);
    const auto s = only_listener(host, l.port);
    EXPECT_EQ(s.pid(), static_cast<uint32_t>(::getpid())) << "own /proc walk as the fallback";
    const auto health = host.health();
    EXPECT_NE(health.details.at("owner_host_failures"), "0");
    EXPECT_EQ(health.details.at("view"), "partial");
    EXPECT_TRUE(host.logged("socket owners from the host failed"));
}

TEST(NetmondPlugin, WithoutSocketOwnersItWalksProcItself) {
    // What a launcher without net.read, under --no-sandbox, or the default TestHost offers.
    TestHost host(daemoneye_plugin_entry());
    ASSERT_EQ(host.host_api()->socket_owners, nullptr);
    ASSERT_TRUE(host.create({{"scan_interval_ms", "60000"}}).ok());
    Listener l;
    ASSERT_TRUE(l.ok);
    const auto s = only_listener(host, l.port);
    EXPECT_EQ(s.pid(), static_cast<uint32_t>(::getpid()));
    EXPECT_EQ(host.socket_owner_calls(), 0u);
    EXPECT_EQ(host.health().details.at("owner_source"), "proc");
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
