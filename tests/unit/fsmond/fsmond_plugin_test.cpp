// Tests plugins/fsmond/src/fsmond_plugin.cpp through the SDK's in-process test host.
#include "fsmond_plugin.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <daemoneye/sdk/testing.hpp>

#include <filesystem>
#include <fstream>

extern "C" const de_plugin_descriptor* daemoneye_plugin_entry(void);

namespace daemoneye::fsmond {
namespace {

namespace fs = std::filesystem;
using daemoneye::sdk::testing::TestHost;
using namespace std::chrono_literals;

TEST(FsmondPlugin, FileCreatedSeenThroughTheTestHostWithTasksAndHealth) {
    std::string tmpl = (fs::temp_directory_path() / "fsmond-plugin-XXXXXX").string();
    const fs::path dir = ::mkdtemp(tmpl.data());
    TestHost host(daemoneye_plugin_entry());
    ASSERT_TRUE(
        host.create({{"paths.0", dir.string()}, {"mode", "inotify"}, {"debounce_ms", "50"}}).ok());
    ASSERT_TRUE(host.start().ok());
    // start() returns before the initial walk ends; health says how many watches are in place.
    const auto ready_by = std::chrono::steady_clock::now() + 60s;
    while (host.health().details["watches"] == "0" && std::chrono::steady_clock::now() < ready_by)
        std::this_thread::sleep_for(20ms);

    const fs::path file = dir / "x.conf";
    std::ofstream(file) << "content";
    ASSERT_TRUE(host.wait_for_events(1, 60s));
    const auto first = host.events().front();
    EXPECT_EQ(first.topic, "events.filesystem.created");
    const auto ev = first.as<events::v1::FileEvent>();
    EXPECT_EQ(ev.file().path(), file.string());
    EXPECT_EQ(ev.file().size(), 7u);
    EXPECT_EQ(ev.file().sha256().size(), 64u);

    auto stat = host.run_task("stat_path", {{"path", file.string()}});
    ASSERT_TRUE(stat.ok()) << stat.describe();
    EXPECT_EQ(stat.records.at(0).as<events::v1::FileBatch>().files(0).sha256(), ev.file().sha256());
    EXPECT_EQ(host.run_task("stat_path", {{"path", (dir / "nope").string()}}).status,
              DE_ERR_NOT_FOUND);
    EXPECT_EQ(host.run_task("stat_path", {{"file", "/etc"}}).status, DE_ERR_INVALID_ARGUMENT);
    auto recent = host.run_task("recent_changes", {{"path", dir.string()}});
    ASSERT_TRUE(recent.ok()) << recent.describe();
    EXPECT_EQ(recent.records.at(0).as<events::v1::FileBatch>().events_size(), 1);

    const auto health = host.health();
    EXPECT_EQ(health.details.at("mode"), "inotify");
    EXPECT_EQ(health.details.at("view"), "full");

    auto bad = host.update_config({{"debounce_ms", "-3"}});
    EXPECT_EQ(bad.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_NE(bad.message.find("debounce_ms"), std::string::npos);
    ASSERT_TRUE(host.stop().ok());
    EXPECT_TRUE(host.violations().empty()) << host.violations().front();
    fs::remove_all(dir);
}

TEST(FsmondPlugin, DescriptorDeclaresFsWatch) {
    const auto* d = daemoneye_plugin_entry();
    EXPECT_STREQ(d->name, "fsmond");
    EXPECT_STREQ(d->permissions[0], "fs.watch");
    EXPECT_STREQ(d->publishes[0], "events.filesystem.#");
}

}  // namespace
}  // namespace daemoneye::fsmond
