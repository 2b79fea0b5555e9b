// End to end: the real daemoneye-agent starts the real procmond, netmond and fsmond, each in a
// sandboxed daemoneye-launcher; the test causes real system activity (a child process, a
// listening socket, file changes) and sees the events only through the real daemoneye-cli
// (`events tail --json`, `collectors status --json`). Generous timeouts: 2 busy cores; nothing
// here asserts speed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "collectors_harness.hpp"
#include "daemoneye/events/v1/events.pb.h"

using namespace daemoneye::collectors::testing;
namespace ev = daemoneye::events::v1;

namespace {

const std::vector<std::string> kCollectors = {"procmond", "netmond", "fsmond"};

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string sha256_of(const std::string& path) {
    auto r = run_program({"/usr/bin/sha256sum", path});
    return r.out.substr(0, r.out.find(' '));
}

// `collectors status NAME --json`: the one instance's JSON object ("" when absent).
std::string status_json(const CollectorsAgent& a, const std::string& name) {
    auto argv = a.cli_argv(DAEMONEYE_CLI_PATH);
    argv.insert(argv.end(), {"--json", "collectors", "status", name});
    return run_program(argv).out;
}

std::string field(const std::string& json, const std::string& key) {
    const std::string k = "\"" + key + "\":";
    auto pos = json.find(k);
    if (pos == std::string::npos) return "";
    pos += k.size();
    if (json[pos] == '"') return json.substr(pos + 1, json.find('"', pos + 1) - pos - 1);
    return json.substr(pos, json.find_first_of(",}", pos) - pos);
}

bool is_launcher(pid_t pid) {
    const std::string cmd = slurp("/proc/" + std::to_string(pid) + "/cmdline");
    return contains(cmd, "daemoneye-launcher");
}

class CollectorsE2E : public ::testing::Test {
  protected:
    void SetUp() override {
        agent_.write_config(DAEMONEYE_PLUGIN_DIR);
        agent_.start(DAEMONEYE_AGENT_PATH);
        for (const auto& name : kCollectors) {
            ASSERT_TRUE(wait_until(
                [&] { return field(status_json(agent_, name), "state") == "Running"; }, 180s))
                << name << " never Running: " << status_json(agent_, name) << "\n"
                << agent_.log();
        }
        // "Running" means the launcher said Hello; procmond's first scan (the baseline: every
        // process then present is a snapshot, never a STARTED) runs after that on its worker
        // thread, and under ASan on 2 busy cores it can take seconds. A child forked before that
        // scan lists /proc is part of the baseline and never gets a STARTED, so act only after
        // the baseline is done.
        ASSERT_TRUE(wait_until(
            [&] {
                const std::string scans = field(status_json(agent_, "procmond"), "scans");
                return !scans.empty() && scans != "0";
            },
            180s))
            << "procmond never finished its first scan: " << status_json(agent_, "procmond") << "\n"
            << agent_.log();
        launchers_ = children_of(agent_.pid());
    }

    void TearDown() override {
        const pid_t agent_pid = agent_.pid();
        if (agent_pid <= 0) return;
        const int code = agent_.stop();
        EXPECT_EQ(code, 0) << "the agent did not exit 0 on SIGTERM\n" << agent_.log();
        // Every launcher the agent ran is gone (not orphaned, not left as a zombie of init).
        for (pid_t p : launchers_) {
            EXPECT_TRUE(wait_until([&] { return !is_launcher(p); }, 30s))
                << "launcher " << p << " outlived the agent";
        }
        EXPECT_TRUE(children_of(agent_pid).empty());
    }

    std::vector<std::string> cli() const { return agent_.cli_argv(DAEMONEYE_CLI_PATH); }

    CollectorsAgent agent_;
    std::vector<pid_t> launchers_;
};

// The ProcessEvents of `pid`, in order.
std::vector<ev::ProcessEvent> process_events(const Tail& tail, pid_t pid) {
    std::vector<ev::ProcessEvent> out;
    for (const auto& e : tail.events()) {
        if (e.topic != "events.process.lifecycle") continue;
        ev::ProcessEvent pe;
        if (e.as(pe) && pe.process().pid() == static_cast<std::uint32_t>(pid)) out.push_back(pe);
    }
    return out;
}

std::string dump(const std::vector<ev::ProcessEvent>& events) {
    std::string out;
    for (const auto& e : events) out += e.ShortDebugString() + "\n";
    return out;
}

}  // namespace

TEST_F(CollectorsE2E, ChildProcessIsSeenStartedAndExitedWithPidPpidArgvAndExeHash) {
    // A copy of sleep with a distinctive path and argv, so nothing else matches.
    const fs::path exe = agent_.root() / "de-e2e-sleep";
    fs::copy_file("/bin/sleep", exe);
    ::chmod(exe.c_str(), 0755);
    const std::string sha = sha256_of(exe.string());
    ASSERT_EQ(sha.size(), 64u);
    const std::vector<std::string> argv = {"de-e2e-marker-" + std::to_string(::getpid()), "3600"};

    Tail tail(cli(), {"events.process.lifecycle"});
    ASSERT_TRUE(tail.live()) << tail.err() << agent_.log();

    const pid_t child = ::fork();
    if (child == 0) {
        std::vector<std::string> copies = argv;
        char* args[] = {copies[0].data(), copies[1].data(), nullptr};
        ::execv(exe.c_str(), args);
        ::_exit(127);
    }
    ASSERT_GT(child, 0);

    // The netlink fast path sees the fork (the parent's image) and then the exec; a scan sees
    // the running sleep at once. Either way: a STARTED for the pid, and the newest image is ours.
    auto is_ours = [&](const ev::ProcessEvent& e) {
        const auto& p = e.process();
        return p.argv_size() == 2 && p.argv(0) == argv[0] && p.argv(1) == argv[1] &&
               p.exe() == exe.string() && p.exe_sha256() == sha;
    };
    const bool seen = wait_until(
        [&] {
            auto evs = process_events(tail, child);
            bool started = false;
            bool image = false;
            for (const auto& e : evs) {
                started |= e.kind() == ev::PROCESS_EVENT_KIND_STARTED;
                if ((e.kind() == ev::PROCESS_EVENT_KIND_STARTED ||
                     e.kind() == ev::PROCESS_EVENT_KIND_EXEC) &&
                    is_ours(e))
                    image = true;
            }
            return started && image;
        },
        120s);
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    auto evs = process_events(tail, child);
    // On failure, procmond's own counters (mode, scans, emitted/dropped) say whether the event
    // was never made (baseline, scan) or made and lost (backpressure).
    ASSERT_TRUE(seen) << "no STARTED (+EXEC) with our argv, exe and sha256 " << sha << " for pid "
                      << child << ":\n"
                      << dump(evs) << "procmond: " << status_json(agent_, "procmond");
    ASSERT_EQ(evs.front().kind(), ev::PROCESS_EVENT_KIND_STARTED) << dump(evs);
    for (const auto& e : evs) EXPECT_EQ(e.process().ppid(), static_cast<std::uint32_t>(::getpid()));
    // Every process event names its publisher as the agent knows the session, not as the
    // payload says.
    for (const auto& e : tail.events()) {
        if (e.topic == "events.process.lifecycle") {
            EXPECT_EQ(e.publisher, "collector procmond-0");
        }
    }

    ASSERT_TRUE(wait_until(
        [&] {
            for (const auto& e : process_events(tail, child))
                if (e.kind() == ev::PROCESS_EVENT_KIND_EXITED) return true;
            return false;
        },
        120s))
        << "no EXITED for pid " << child << ":\n"
        << dump(process_events(tail, child));
    evs = process_events(tail, child);
    const auto exited = std::count_if(evs.begin(), evs.end(), [](const ev::ProcessEvent& e) {
        return e.kind() == ev::PROCESS_EVENT_KIND_EXITED;
    });
    EXPECT_EQ(exited, 1) << dump(evs);
    const auto& last = evs.back();
    EXPECT_EQ(last.kind(), ev::PROCESS_EVENT_KIND_EXITED) << dump(evs);
    EXPECT_TRUE(is_ours(last)) << "EXITED carries the process as last seen:\n" << dump(evs);
    EXPECT_EQ(last.process().ppid(), static_cast<std::uint32_t>(::getpid()));
}

TEST_F(CollectorsE2E, LoopbackListenerIsSeenWithThisTestsPid) {
    Tail tail(cli(), {"events.network.listeners"});
    ASSERT_TRUE(tail.live()) << tail.err() << agent_.log();

    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 4), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const std::uint32_t port = ntohs(addr.sin_port);

    auto ours = [&](ev::NetworkEventKind kind) {
        std::vector<ev::NetworkEvent> out;
        for (const auto& e : tail.events()) {
            ev::NetworkEvent ne;
            if (e.as(ne) && ne.kind() == kind && ne.socket().local_port() == port &&
                ne.socket().local_address() == "127.0.0.1" &&
                ne.socket().transport() == ev::TRANSPORT_TCP)
                out.push_back(ne);
        }
        return out;
    };
    ASSERT_TRUE(
        wait_until([&] { return !ours(ev::NETWORK_EVENT_KIND_LISTEN_STARTED).empty(); }, 120s))
        << "no LISTEN_STARTED for 127.0.0.1:" << port << "\n"
        << agent_.log();
    const auto started = ours(ev::NETWORK_EVENT_KIND_LISTEN_STARTED);
    EXPECT_EQ(started.size(), 1u);
    EXPECT_EQ(started[0].socket().pid(), static_cast<std::uint32_t>(::getpid()))
        << started[0].ShortDebugString();
    EXPECT_EQ(started[0].socket().state(), "LISTEN");
    EXPECT_EQ(started[0].socket().exe(), fs::read_symlink("/proc/self/exe").string());

    ::close(fd);
    ASSERT_TRUE(
        wait_until([&] { return !ours(ev::NETWORK_EVENT_KIND_LISTEN_STOPPED).empty(); }, 120s))
        << "no LISTEN_STOPPED for 127.0.0.1:" << port;
    EXPECT_EQ(ours(ev::NETWORK_EVENT_KIND_LISTEN_STOPPED)[0].socket().pid(),
              static_cast<std::uint32_t>(::getpid()));
}

TEST_F(CollectorsE2E, FileCreatedModifiedMovedDeletedEachSeenOnce) {
    Tail tail(cli(), {"events.filesystem.#"});
    ASSERT_TRUE(tail.live()) << tail.err() << agent_.log();

    const fs::path a = agent_.watched() / "report.txt";
    const fs::path b = agent_.watched() / "report-renamed.txt";
    auto file_events = [&] {
        std::vector<std::pair<std::string, ev::FileEvent>> out;
        for (const auto& e : tail.events()) {
            ev::FileEvent fe;
            if (e.as(fe)) out.emplace_back(e.topic, fe);
        }
        return out;
    };
    auto wait_for = [&](const std::string& topic, const fs::path& path) {
        return wait_until(
            [&] {
                for (const auto& [t, fe] : file_events())
                    if (t == topic && fe.file().path() == path.string()) return true;
                return false;
            },
            120s);
    };
    auto dump_files = [&] {
        std::string s;
        for (const auto& [t, fe] : file_events()) s += t + " " + fe.ShortDebugString() + "\n";
        return s;
    };

    // Each step waits for its event, so debouncing never merges two steps.
    { std::ofstream(a) << "first line\n"; }
    const std::string sha_created = sha256_of(a.string());
    ASSERT_TRUE(wait_for("events.filesystem.created", a)) << dump_files() << agent_.log();
    { std::ofstream(a, std::ios::app) << "second line\n"; }
    const std::string sha_modified = sha256_of(a.string());
    ASSERT_TRUE(wait_for("events.filesystem.modified", a)) << dump_files();
    fs::rename(a, b);
    ASSERT_TRUE(wait_for("events.filesystem.moved", b)) << dump_files();
    fs::remove(b);
    ASSERT_TRUE(wait_for("events.filesystem.deleted", b)) << dump_files();

    // Let a few debounce windows and scans pass: nothing more may arrive.
    std::this_thread::sleep_for(3s);
    std::map<std::string, int> per_topic;
    for (const auto& [t, fe] : file_events()) {
        ++per_topic[t];
        if (t == "events.filesystem.created") {
            EXPECT_EQ(fe.kind(), ev::FILE_EVENT_KIND_CREATED);
            EXPECT_EQ(fe.file().sha256(), sha_created);
            EXPECT_EQ(fe.file().size(), 11u);
        } else if (t == "events.filesystem.modified") {
            EXPECT_EQ(fe.kind(), ev::FILE_EVENT_KIND_MODIFIED);
            EXPECT_EQ(fe.file().sha256(), sha_modified);
            EXPECT_EQ(fe.file().size(), 23u);
        } else if (t == "events.filesystem.moved") {
            EXPECT_EQ(fe.kind(), ev::FILE_EVENT_KIND_MOVED);
            EXPECT_EQ(fe.old_path(), a.string());
            EXPECT_EQ(fe.file().sha256(), sha_modified);
        } else if (t == "events.filesystem.deleted") {
            EXPECT_EQ(fe.kind(), ev::FILE_EVENT_KIND_DELETED);
        }
    }
    const std::map<std::string, int> want = {{"events.filesystem.created", 1},
                                             {"events.filesystem.modified", 1},
                                             {"events.filesystem.moved", 1},
                                             {"events.filesystem.deleted", 1}};
    EXPECT_EQ(per_topic, want) << dump_files();
}

TEST_F(CollectorsE2E, StatusShowsEachCollectorRunningWithItsSandboxLayers) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "the user, caps and namespace layers are applied only when the agent runs "
                        "as root";
    for (const auto& name : kCollectors) {
        const std::string s = status_json(agent_, name);
        EXPECT_EQ(field(s, "state"), "Running") << s;
        EXPECT_NE(field(s, "pid"), "0") << s;
        for (const char* layer : {"env", "fds", "pdeathsig", "rlimits", "namespaces", "user",
                                  "caps", "no_new_privs", "seccomp"}) {
            EXPECT_TRUE(contains(s, std::string("{\"name\":\"") + layer + "\",\"applied\":true"))
                << name << ": layer " << layer << " not applied: " << s;
        }
        // Landlock: applied to fsmond; procmond/netmond must say why it is skipped (it would
        // hide other processes' /proc/<pid>/{exe,fd}).
        if (name == "fsmond") {
            EXPECT_TRUE(contains(s, "{\"name\":\"landlock\",\"applied\":true")) << s;
            EXPECT_TRUE(contains(s, agent_.watched().string())) << s;
        } else {
            EXPECT_TRUE(
                contains(s, "{\"name\":\"landlock\",\"applied\":false,\"detail\":\"skipped"))
                << s;
        }
        EXPECT_TRUE(contains(s, "\"uid=65534")) << s;
    }
    // The text form an operator reads says the same.
    auto argv = cli();
    argv.insert(argv.end(), {"collectors", "list"});
    auto list = run_program(argv);
    EXPECT_EQ(list.exit_code, 0) << list.err;
    for (const auto& name : kCollectors) EXPECT_TRUE(contains(list.out, name + "-0")) << list.out;
}
