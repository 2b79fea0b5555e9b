// procmond against the real machine, through the SDK's in-process TestHost (no launcher): start
// and kill a child and see started/exited with the right pid, ppid, argv and exe hash; replace a
// running executable and see the integrity event; tasks; config errors; health. Tests
// plugins/procmond/src/procmond_plugin.cpp and, through it, the whole collector.
#include "procmond_plugin.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemoneye/sdk/testing.hpp"
#include "event_encoding.hpp"
#include "exe_hasher.hpp"

extern char** environ;

namespace {

namespace ev = daemoneye::events::v1;
namespace sdk = daemoneye::sdk;
using daemoneye::sdk::testing::TestHost;
using namespace std::chrono_literals;

const de_plugin_descriptor* descriptor() {
    static constexpr const char* const caps[] = {"enumerate_processes", "hash_executable",
                                                 "process_tree", nullptr};
    static constexpr const char* const perms[] = {"proc.read", nullptr};
    static constexpr const char* const pubs[] = {"events.process.#", nullptr};
    static const de_plugin_descriptor d = sdk::make_descriptor<procmond::ProcmondPlugin>(
        "procmond", "0.1.0", "procmond under test", caps, perms, pubs);
    return &d;
}

std::string sha256_of(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    auto digest = procmond::ExeHasher::hash_fd(fd, 1ULL << 32, nullptr);
    ::close(fd);
    return digest ? *digest : std::string();
}

class Child {
  public:
    explicit Child(std::vector<std::string> argv) : argv_(std::move(argv)) {
        std::vector<char*> args;
        for (auto& a : argv_) args.push_back(a.data());
        args.push_back(nullptr);
        if (::posix_spawn(&pid_, args[0], nullptr, nullptr, args.data(), environ) != 0) pid_ = -1;
    }
    ~Child() { kill(); }
    pid_t pid() const { return pid_; }
    void kill() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

  private:
    std::vector<std::string> argv_;
    pid_t pid_ = -1;
};

// Waits until an event on `topic` satisfies `pred`; returns it.
std::optional<ev::ProcessEvent> wait_event(TestHost& host, const std::string& topic,
                                           const std::function<bool(const ev::ProcessEvent&)>& pred,
                                           std::chrono::seconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t seen = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        auto events = host.events();
        for (; seen < events.size(); ++seen) {
            const auto& p = events[seen];
            if (p.topic != topic || p.type_name != "daemoneye.events.v1.ProcessEvent") continue;
            auto e = p.as<ev::ProcessEvent>();
            if (pred(e)) return e;
        }
        std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/procmond-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

class ProcmondPluginTest : public ::testing::Test {
  protected:
    void start(const daemoneye::sdk::testing::KeyValues& extra = {}) {
        daemoneye::sdk::testing::KeyValues cfg = {{"scan_interval_ms", "100"}};
        cfg.insert(cfg.end(), extra.begin(), extra.end());
        auto created = host_.create(cfg);
        ASSERT_TRUE(created.ok()) << created.describe();
        auto started = host_.start();
        ASSERT_TRUE(started.ok()) << started.describe();
        // The first scan publishes the snapshot in batches.
        ASSERT_TRUE(host_.wait_for_events(1, std::chrono::milliseconds(30000)));
    }
    void TearDown() override {
        if (host_.created()) {
            EXPECT_TRUE(host_.stop().ok());
            auto violations = host_.violations();
            EXPECT_TRUE(violations.empty()) << violations.front();
        }
    }
    TestHost host_{descriptor()};
};

TEST_F(ProcmondPluginTest, FirstScanIsASnapshotNotAFlood) {
    start({{"netlink", "false"}});
    ASSERT_TRUE(host_.wait_for_events(1, std::chrono::milliseconds(30000)));
    auto events = host_.events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.front().topic, "events.process.batch");
    auto batch = events.front().as<ev::ProcessBatch>();
    EXPECT_GE(batch.batch_count(), 1u);
    std::size_t total = 0;
    bool found_self = false;
    for (const auto& e : events) {
        if (e.topic != "events.process.batch") continue;
        auto b = e.as<ev::ProcessBatch>();
        total += static_cast<std::size_t>(b.processes_size());
        for (const auto& p : b.processes()) {
            if (p.pid() == static_cast<std::uint32_t>(::getpid())) {
                found_self = true;
                EXPECT_FALSE(p.exe().empty());
                EXPECT_EQ(p.exe_sha256().size(), 64u);
                EXPECT_GT(p.start_time_unix_nanos(), 0u);
                EXPECT_FALSE(p.namespaces().empty());
            }
        }
    }
    EXPECT_GT(total, 1u);
    EXPECT_TRUE(found_self);
    for (const auto& e : events) EXPECT_NE(e.topic, "events.process.lifecycle") << "flood";
}

TEST_F(ProcmondPluginTest, ChildStartedAndExitedWithPidPpidArgvAndHash) {
    start({{"netlink", "false"}});
    Child child({"/bin/sleep", "1000"});
    ASSERT_GT(child.pid(), 0);
    const auto pid = static_cast<std::uint32_t>(child.pid());
    auto started = wait_event(host_, "events.process.lifecycle", [&](const ev::ProcessEvent& e) {
        return e.kind() == ev::PROCESS_EVENT_KIND_STARTED && e.process().pid() == pid &&
               e.process().name() == "sleep";
    });
    ASSERT_TRUE(started) << "no started event for pid " << pid;
    EXPECT_EQ(started->process().ppid(), static_cast<std::uint32_t>(::getpid()));
    ASSERT_EQ(started->process().argv_size(), 2);
    EXPECT_EQ(started->process().argv(0), "/bin/sleep");
    EXPECT_EQ(started->process().argv(1), "1000");
    const std::string exe = started->process().exe();
    EXPECT_EQ(std::filesystem::canonical("/bin/sleep").string(), exe);
    EXPECT_EQ(started->process().exe_sha256(), sha256_of(exe));
    const auto start_time = started->process().start_time_unix_nanos();
    EXPECT_GT(start_time, 0u);

    child.kill();
    auto exited = wait_event(host_, "events.process.lifecycle", [&](const ev::ProcessEvent& e) {
        return e.kind() == ev::PROCESS_EVENT_KIND_EXITED && e.process().pid() == pid;
    });
    ASSERT_TRUE(exited) << "no exited event for pid " << pid;
    EXPECT_EQ(exited->process().start_time_unix_nanos(), start_time);
    EXPECT_EQ(exited->process().exe_sha256(), started->process().exe_sha256());
}

TEST_F(ProcmondPluginTest, ReplacingARunningExecutableRaisesIntegrityEvent) {
    TempDir dir;
    const auto exe = dir.path / "sleep";
    std::filesystem::copy_file("/bin/sleep", exe);
    std::filesystem::permissions(exe, std::filesystem::perms::owner_all);
    start({{"netlink", "false"}});
    Child child({exe.string(), "1000"});
    ASSERT_GT(child.pid(), 0);
    const auto pid = static_cast<std::uint32_t>(child.pid());
    auto started = wait_event(host_, "events.process.lifecycle", [&](const ev::ProcessEvent& e) {
        return e.kind() == ev::PROCESS_EVENT_KIND_STARTED && e.process().pid() == pid &&
               e.process().exe() == exe.string();
    });
    ASSERT_TRUE(started);
    auto temp_anomaly = wait_event(host_, "events.process.anomaly", [&](const ev::ProcessEvent& e) {
        return e.process().pid() == pid && e.rule() == "executable_in_temp_dir";
    });
    EXPECT_TRUE(temp_anomaly) << "running from /tmp was not flagged";

    // Overwrite the file. In place when the kernel allows writing a running binary, else (ETXTBSY)
    // the way installers do it: write a new file and rename it over the old name.
    const std::string payload = "#!/bin/sh\necho replaced\n";
    const int fd = ::open(exe.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    std::string how;
    if (fd >= 0) {
        ASSERT_EQ(::write(fd, payload.data(), payload.size()),
                  static_cast<ssize_t>(payload.size()));
        ::close(fd);
        how = "in place";
    } else {
        ASSERT_EQ(errno, ETXTBSY) << std::strerror(errno);
        const auto tmp = dir.path / "sleep.new";
        std::ofstream(tmp) << payload;
        std::filesystem::rename(tmp, exe);
        how = "rename";
    }
    auto integrity = wait_event(host_, "events.process.integrity", [&](const ev::ProcessEvent& e) {
        return e.process().pid() == pid;
    });
    ASSERT_TRUE(integrity) << "no integrity event after replacing (" << how << ")";
    EXPECT_EQ(integrity->kind(), ev::PROCESS_EVENT_KIND_INTEGRITY);
    EXPECT_FALSE(integrity->reason().empty());
    if (how == "rename") {
        EXPECT_TRUE(integrity->rule() == "executable_deleted" ||
                    integrity->rule() == "executable_replaced")
            << integrity->rule();
        EXPECT_TRUE(integrity->process().exe_deleted());
    } else {
        EXPECT_EQ(integrity->rule(), "executable_modified");
        EXPECT_NE(integrity->process().exe_sha256(), started->process().exe_sha256());
    }
}

TEST_F(ProcmondPluginTest, Tasks) {
    start({{"netlink", "false"}});
    Child child({"/bin/sleep", "1000"});
    ASSERT_GT(child.pid(), 0);
    const std::string child_pid = std::to_string(child.pid());
    const std::string self_pid = std::to_string(::getpid());

    auto by_pid = host_.run_task("enumerate_processes", {{"pid", child_pid}});
    ASSERT_TRUE(by_pid.ok()) << by_pid.describe();
    ASSERT_EQ(by_pid.records.size(), 1u);
    auto batch = by_pid.records[0].as<ev::ProcessBatch>();
    EXPECT_EQ(batch.task_id(), "task-1");
    ASSERT_EQ(batch.processes_size(), 1);
    EXPECT_EQ(batch.processes(0).name(), "sleep");

    auto by_name = host_.run_task("enumerate_processes", {{"name", "slee*"}, {"ppid", self_pid}});
    ASSERT_TRUE(by_name.ok()) << by_name.describe();
    ASSERT_EQ(by_name.records.size(), 1u);
    EXPECT_EQ(by_name.records[0].as<ev::ProcessBatch>().processes_size(), 1);

    auto hash = host_.run_task("hash_executable", {{"pid", child_pid}});
    ASSERT_TRUE(hash.ok()) << hash.describe();
    const auto hashed_batch = hash.records.at(0).as<ev::ProcessBatch>();
    ASSERT_EQ(hashed_batch.processes_size(), 1);
    const auto& hashed = hashed_batch.processes(0);
    EXPECT_EQ(hashed.exe_sha256(), sha256_of(hashed.exe()));

    auto tree = host_.run_task("process_tree", {{"pid", self_pid}});
    ASSERT_TRUE(tree.ok()) << tree.describe();
    bool has_child = false;
    bool has_self = false;
    for (const auto& r : tree.records) {
        const auto batch_of_tree = r.as<ev::ProcessBatch>();
        for (const auto& p : batch_of_tree.processes()) {
            has_child |= std::to_string(p.pid()) == child_pid;
            has_self |= std::to_string(p.pid()) == self_pid;
        }
    }
    EXPECT_TRUE(has_child);
    EXPECT_TRUE(has_self);

    auto bad = host_.run_task("enumerate_processes", {{"pid", "abc"}});
    EXPECT_EQ(bad.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_NE(bad.message.find("'pid'"), std::string::npos) << bad.message;
    auto missing = host_.run_task("hash_executable", {{"pid", "999999999"}});
    EXPECT_EQ(missing.status, DE_ERR_NOT_FOUND) << missing.describe();
    auto unknown = host_.run_task("format_disk", {});
    EXPECT_EQ(unknown.status, DE_ERR_UNSUPPORTED);
}

TEST_F(ProcmondPluginTest, HealthSaysModeAndView) {
    start({{"netlink", "false"}});
    auto h = host_.health();
    EXPECT_EQ(h.state, DE_HEALTH_HEALTHY);
    EXPECT_EQ(h.details["mode"], "scan");
    EXPECT_TRUE(h.details["view"] == "full" || h.details["view"] == "partial");
    EXPECT_TRUE(h.details.count("events_emitted"));
    EXPECT_TRUE(h.details.count("events_dropped"));
    // Even root may be refused some entries (a sandboxed or namespaced pid 1); whatever the
    // view, it must agree with the count of unreadable entries.
    if (h.details["view"] == "partial") {
        EXPECT_NE(h.details["unreadable_denied"], "0") << h.detail;
    }
}

TEST_F(ProcmondPluginTest, ConfigUpdateValidates) {
    start({{"netlink", "false"}});
    auto bad = host_.update_config({{"max_hash_bytes", "lots"}});
    EXPECT_EQ(bad.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_NE(bad.message.find("'max_hash_bytes'"), std::string::npos) << bad.message;
    EXPECT_TRUE(
        host_.update_config({{"scan_interval_ms", "200"}, {"anomaly_rules", "false"}}).ok());
}

TEST(ProcmondPluginConfig, BadConfigRefusedAtCreateNamingTheKey) {
    TestHost host(descriptor());
    auto created = host.create({{"scan_interval_ms", "soon"}});
    EXPECT_EQ(created.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_NE(created.message.find("'scan_interval_ms'"), std::string::npos) << created.message;
    auto unknown = host.create({{"hash_exectuables", "true"}});
    EXPECT_EQ(unknown.status, DE_ERR_INVALID_ARGUMENT);
    EXPECT_NE(unknown.message.find("hash_exectuables"), std::string::npos);
}

TEST_F(ProcmondPluginTest, NetlinkFastPathWhenAllowed) {
    start({{"scan_interval_ms", "60000"}});  // scans too rare to be what reports the child
    auto h = host_.health();
    if (h.details["mode"] != "netlink") {
        GTEST_SKIP() << "netlink process connector unavailable here: " << h.details["mode_reason"];
    }
    Child child({"/bin/sleep", "1000"});
    ASSERT_GT(child.pid(), 0);
    const auto pid = static_cast<std::uint32_t>(child.pid());
    auto seen = wait_event(host_, "events.process.lifecycle", [&](const ev::ProcessEvent& e) {
        return (e.kind() == ev::PROCESS_EVENT_KIND_STARTED ||
                e.kind() == ev::PROCESS_EVENT_KIND_EXEC) &&
               e.process().pid() == pid && e.process().name() == "sleep";
    });
    ASSERT_TRUE(seen) << "netlink mode did not report the child";
    EXPECT_EQ(seen->process().ppid(), static_cast<std::uint32_t>(::getpid()));
    child.kill();
    auto exited = wait_event(host_, "events.process.lifecycle", [&](const ev::ProcessEvent& e) {
        return e.kind() == ev::PROCESS_EVENT_KIND_EXITED && e.process().pid() == pid;
    });
    EXPECT_TRUE(exited);
}

}  // namespace
