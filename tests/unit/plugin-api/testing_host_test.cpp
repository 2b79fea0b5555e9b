// Tests plugin-api/include/daemoneye/sdk/testing.hpp: the test host must catch the contract
// breaches the real launcher would punish, so collector tests can rely on it.
#include "daemoneye/sdk/testing.hpp"

#include <unistd.h>

#include <cerrno>

#include <gtest/gtest.h>

#include "daemoneye/sdk/collector.hpp"

namespace {

namespace sdk = daemoneye::sdk;
using sdk::testing::TestHost;
using sdk::testing::validate_descriptor;

constexpr const char* kNone[] = {nullptr};
constexpr const char* kPublishes[] = {"events.example.#", nullptr};

// Breaks the rules on purpose: emits from its constructor and after stop().
class Rude {
  public:
    Rude(sdk::Host& host, const sdk::Config& config) : host_(host) {
        if (config.has("emit_in_ctor"))
            (void)host_.emitter().emit_bytes("events.example.x", "t", "", 0);
    }
    void start() {}
    void stop() {}
    void on_config(const sdk::Config&) {
        (void)host_.emitter().emit_bytes("events.example.late", "t", "", 0);
    }
    sdk::Health health() {
        // Reads the live config through the host (config_get).
        auto v = host_.config_value("level");
        return sdk::Health().add("level", v.value_or("unset"));
    }

  private:
    sdk::Host& host_;
};

const de_plugin_descriptor* rude() {
    static const de_plugin_descriptor d =
        sdk::make_descriptor<Rude>("rude", "1", "rude", kNone, kNone, kPublishes);
    return &d;
}

TEST(TestHost, FlagsEmitDuringCreateAndAfterStop) {
    TestHost host(rude());
    ASSERT_TRUE(host.create({{"emit_in_ctor", "1"}}).ok());
    ASSERT_TRUE(host.start().ok());
    ASSERT_TRUE(host.stop().ok());
    ASSERT_TRUE(host.update_config({}).ok());
    auto v = host.violations();
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0], "emit on 'events.example.x' during create()");
    EXPECT_EQ(v[1], "emit on 'events.example.late' after stop() returned");
}

TEST(TestHost, ConfigGetSeesTheCurrentConfig) {
    TestHost host(rude());
    ASSERT_TRUE(host.create({{"level", "a"}}).ok());
    EXPECT_EQ(host.health().details["level"], "a");
    ASSERT_TRUE(host.update_config({{"level", "b"}}).ok());
    EXPECT_EQ(host.health().details["level"], "b");
}

TEST(TestHost, ValidateDescriptorNamesEachProblem) {
    EXPECT_EQ(validate_descriptor(nullptr).front(), "the entry symbol returned NULL");
    de_plugin_descriptor d = *rude();
    EXPECT_TRUE(validate_descriptor(&d).empty());

    auto bad = d;
    bad.abi_major = DE_PLUGIN_ABI_MAJOR + 1;
    EXPECT_EQ(validate_descriptor(&bad).front(),
              "plugin ABI " + std::to_string(DE_PLUGIN_ABI_MAJOR + 1) + "." +
                  std::to_string(DE_PLUGIN_ABI_MINOR) + ", host ABI " +
                  std::to_string(DE_PLUGIN_ABI_MAJOR) + "." + std::to_string(DE_PLUGIN_ABI_MINOR) +
                  ": majors must be equal and the host minor >= the plugin minor");
    bad = d;
    bad.abi_minor = DE_PLUGIN_ABI_MINOR + 1;
    EXPECT_EQ(validate_descriptor(&bad).size(), 1u);
    EXPECT_TRUE(validate_descriptor(&bad, DE_PLUGIN_ABI_MAJOR, DE_PLUGIN_ABI_MINOR + 1).empty());
    bad = d;
    bad.struct_size = 8;
    EXPECT_EQ(validate_descriptor(&bad).front(),
              "descriptor struct_size 8 is smaller than ABI 1.0's descriptor");
    bad = d;
    bad.name = "Bad Name";
    EXPECT_EQ(validate_descriptor(&bad).front(), "name is missing or not [a-z0-9_-]{1,64}");
    bad = d;
    const char* wild[] = {"events.#.x", nullptr};
    bad.publishes = wild;
    EXPECT_EQ(validate_descriptor(&bad).front(), "publishes: 'events.#.x' is not a topic pattern");
    bad = d;
    bad.create = nullptr;
    bad.capabilities = nullptr;
    auto problems = validate_descriptor(&bad);
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_EQ(problems[0], "capabilities is NULL (use {NULL})");
    EXPECT_EQ(problems[1], "create is NULL");

    TestHost host(&bad);
    auto outcome = host.create();
    EXPECT_EQ(outcome.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(outcome.message, "descriptor refused: capabilities is NULL (use {NULL})");
}

TEST(TestHost, CallsBeforeCreateAreStateErrors) {
    TestHost host(rude());
    EXPECT_EQ(host.start().status, DE_ERR_STATE);
    EXPECT_EQ(host.stop().status, DE_ERR_STATE);
    EXPECT_EQ(host.run_task("x").status, DE_ERR_STATE);
    EXPECT_EQ(host.update_config({}).status, DE_ERR_STATE);
    EXPECT_EQ(host.health().state, DE_HEALTH_UNHEALTHY);
    ASSERT_TRUE(host.create().ok());
    EXPECT_EQ(host.create().status, DE_ERR_STATE);
}

TEST(PluginLibrary, ExplainsWhyALibraryDoesNotLoad) {
    sdk::testing::PluginLibrary missing("/nonexistent/x.so");
    EXPECT_FALSE(missing.ok());
    EXPECT_NE(missing.error().find("dlopen /nonexistent/x.so"), std::string::npos);
}

}  // namespace

// ---- ABI 1.1 socket_owners through sdk::Host and the TestHost ----
namespace {

TEST(HostSocketOwners, NotOfferedByDefaultAndUnsupportedThroughTheSdk) {
    TestHost host(rude());
    sdk::Host h(host.host_api());
    EXPECT_FALSE(h.offers_socket_owners());
    std::vector<sdk::SocketOwner> out;
    const std::uint64_t inode = 42;
    EXPECT_EQ(h.socket_owners(&inode, 1, out), DE_ERR_UNSUPPORTED);
    EXPECT_TRUE(out.empty());
}

TEST(HostSocketOwners, LookupsAreSplitIntoCallsOfTheAbiMaximum) {
    TestHost host(rude());
    std::size_t largest = 0;
    host.offer_socket_owners(
        [&](const std::vector<std::uint64_t>& inodes, std::vector<sdk::SocketOwner>& owners) {
            largest = std::max(largest, inodes.size());
            for (auto i : inodes) {
                if (i % 2 == 0) owners.push_back({i, static_cast<std::uint32_t>(i), "c", "/e"});
            }
            owners.push_back({999999999, 1, "x", "/x"});  // not asked: the host drops it
            return DE_OK;
        });
    sdk::Host h(host.host_api());
    ASSERT_TRUE(h.offers_socket_owners());
    std::vector<std::uint64_t> inodes;
    for (std::uint64_t i = 1; i <= DE_SOCKET_OWNERS_MAX + 100; ++i) inodes.push_back(i);
    std::vector<sdk::SocketOwner> out;
    ASSERT_EQ(h.socket_owners(inodes.data(), inodes.size(), out), DE_OK);
    EXPECT_EQ(host.socket_owner_calls(), 2u);
    EXPECT_EQ(largest, static_cast<std::size_t>(DE_SOCKET_OWNERS_MAX));
    EXPECT_EQ(out.size(), inodes.size() / 2);
    for (const auto& o : out) {
        EXPECT_EQ(o.inode % 2, 0u);
        EXPECT_EQ(o.pid, o.inode);
        EXPECT_EQ(o.exe, "/e");
    }
    EXPECT_TRUE(host.violations().empty());
}

TEST(HostSocketOwners, BadRawCallsAndHostFailuresAreStatusesNotCrashes) {
    TestHost host(rude());
    host.offer_socket_owners([](const std::vector<std::uint64_t>&, std::vector<sdk::SocketOwner>&) {
        return DE_ERR_INTERNAL;
    });
    const de_host_api* api = host.host_api();
    ASSERT_TRUE(DE_HOST_API_HAS(api, socket_owners));
    auto ignore = [](void*, std::uint64_t, std::uint32_t, const char*, const char*) {};
    std::vector<std::uint64_t> many(DE_SOCKET_OWNERS_MAX + 1, 7);
    EXPECT_EQ(api->socket_owners(api->host_ctx, many.data(), many.size(), ignore, nullptr),
              DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(api->socket_owners(api->host_ctx, nullptr, 3, ignore, nullptr),
              DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(api->socket_owners(api->host_ctx, many.data(), 1, nullptr, nullptr),
              DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(host.violations().size(), 3u);
    sdk::Host h(api);
    std::vector<sdk::SocketOwner> out;
    EXPECT_EQ(h.socket_owners(many.data(), 1, out), DE_ERR_INTERNAL);
}

}  // namespace

// ---- ABI 1.2 process_links / open_process_exe through sdk::Host and the TestHost ----
namespace {

TEST(HostProcessLinks, NotOfferedByDefaultAndUnsupportedThroughTheSdk) {
    TestHost host(rude());
    sdk::Host h(host.host_api());
    EXPECT_FALSE(h.offers_process_links());
    EXPECT_FALSE(h.offers_open_process_exe());
    sdk::ProcessLinks links;
    EXPECT_EQ(h.process_links(1, links), DE_ERR_UNSUPPORTED);
    int fd = 5;
    EXPECT_EQ(h.open_process_exe(1, fd), DE_ERR_UNSUPPORTED);
    EXPECT_EQ(fd, -1);
}

TEST(HostProcessLinks, AnswersAreCopiedThroughTheSdk) {
    TestHost host(rude());
    host.offer_process_links([](std::uint32_t pid, sdk::ProcessLinks& out) {
        if (pid != 42) return DE_ERR_NOT_FOUND;
        out.exe_errno = 0;
        out.exe = "/usr/bin/x (deleted)";
        out.exe_ino = 7;
        out.exe_nlink = 0;
        out.cwd_errno = EACCES;
        out.namespaces = {{"mnt", "mnt:[4026531841]", 0}, {"net", "", EACCES}};
        out.root_exe_errno = 0;
        out.root_exe_ino = 8;
        out.image_fingerprint = 99;
        return DE_OK;
    });
    host.offer_open_process_exe([](std::uint32_t pid, int& fd) {
        if (pid != 42) return DE_ERR_DENIED;
        fd = ::dup(0);
        return DE_OK;
    });
    sdk::Host h(host.host_api());
    ASSERT_TRUE(h.offers_process_links());
    sdk::ProcessLinks l;
    ASSERT_EQ(h.process_links(42, l), DE_OK);
    EXPECT_EQ(l.pid, 42u);
    EXPECT_EQ(l.exe, "/usr/bin/x (deleted)");
    EXPECT_EQ(l.exe_ino, 7u);
    EXPECT_EQ(l.cwd_errno, EACCES);
    EXPECT_EQ(l.cwd, "");
    ASSERT_EQ(l.namespaces.size(), 2u);
    EXPECT_EQ(l.namespaces[0].link, "mnt:[4026531841]");
    EXPECT_EQ(l.namespaces[1].error, EACCES);
    EXPECT_EQ(l.root_exe_ino, 8u);
    EXPECT_EQ(l.image_fingerprint, 99u);
    EXPECT_EQ(h.process_links(43, l), DE_ERR_NOT_FOUND);
    int fd = -1;
    ASSERT_EQ(h.open_process_exe(42, fd), DE_OK);
    EXPECT_GE(fd, 0);
    ::close(fd);
    EXPECT_EQ(h.open_process_exe(43, fd), DE_ERR_DENIED);
    EXPECT_EQ(fd, -1);
    const de_host_api* api = host.host_api();
    EXPECT_EQ(api->process_links(api->host_ctx, 0, nullptr, nullptr), DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(api->open_process_exe(api->host_ctx, 42, nullptr), DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(api->open_process_exe(api->host_ctx, 5000000, &fd), DE_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(host.violations().size(), 3u);
    EXPECT_EQ(host.process_links_calls(), 3u);
}

}  // namespace
