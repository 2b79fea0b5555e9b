// Runs the REAL daemoneye-agent with the real collectors (procmond, netmond, fsmond from the
// build's plugins dir) on a temporary config, and drives it only through the real daemoneye-cli.
#pragma once

#include "../common/process_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace daemoneye::collectors::testing {

using namespace daemoneye::testing;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// One line of `daemoneye-cli --json events tail`: the topic and the decoded payload's JSON.
struct TailedEvent {
    std::string topic;
    std::string publisher;  // the agent's name for the publishing session
    std::string decoded;    // "" when the CLI could not decode the payload

    // Parses `decoded` into a generated message (ProcessEvent, NetworkEvent, FileEvent).
    template <typename M>
    bool as(M& out) const {
        if (decoded.empty()) return false;
        google::protobuf::util::JsonParseOptions o;
        o.ignore_unknown_fields = true;
        return google::protobuf::util::JsonStringToMessage(decoded, &out, o).ok();
    }
};

inline std::vector<TailedEvent> parse_tail(const std::string& text) {
    std::vector<TailedEvent> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        // A line may still be half-written by the CLI: only complete JSON objects count.
        if (line.empty() || line.front() != '{' || line.back() != '}') continue;
        TailedEvent e;
        const auto t = line.find("\"topic\":\"");
        if (t == std::string::npos) continue;
        e.topic = line.substr(t + 9, line.find('"', t + 9) - (t + 9));
        if (const auto p = line.find("\"publisher\":\""); p != std::string::npos) {
            e.publisher = line.substr(p + 13, line.find('"', p + 13) - (p + 13));
        }
        // The CLI appends ,"decoded":{...} as the last member.
        const auto d = line.rfind(",\"decoded\":");
        if (d != std::string::npos) e.decoded = line.substr(d + 11, line.size() - d - 12);
        out.push_back(std::move(e));
    }
    return out;
}

// The real agent on a private temporary config.
class CollectorsAgent {
  public:
    CollectorsAgent() {
        char tmpl[] = "/tmp/de-e2e-XXXXXX";
        root_ = ::mkdtemp(tmpl);
        // The sandboxed collectors run as nobody: they must be able to traverse to what they
        // watch.
        ::chmod(root_.c_str(), 0755);
        fs::create_directories(watched());
        ::chmod(watched().c_str(), 0755);
    }
    ~CollectorsAgent() {
        stop(30s);
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    CollectorsAgent(const CollectorsAgent&) = delete;
    CollectorsAgent& operator=(const CollectorsAgent&) = delete;

    const fs::path& root() const { return root_; }
    fs::path watched() const { return root_ / "watched"; }
    fs::path socket() const { return root_ / "run" / "agent.sock"; }
    fs::path config_path() const { return root_ / "agent.yaml"; }
    pid_t pid() const { return pid_; }
    std::string log() const { return slurp((root_ / "agent.log").string()); }

    // Fast scans, the temp dir watched, health published every second (tails use it to know
    // their subscription is live), each collector's health asked every second (so `collectors
    // status` details such as procmond's `scans` are current).
    void write_config(const std::string& plugins_dir) {
        std::ofstream out(config_path());
        out << "agent: {runtime_dir: " << (root_ / "run").string()
            << ", state_dir: " << (root_ / "state").string() << "}\n"
            << "plugins:\n  directories: [" << plugins_dir << "]\n"
            << "  drop_in_dir: " << (root_ / "drop").string() << "\n"
            << "  autostart: false\n"
            << "metrics: {interval_seconds: 1}\n"
            << "broker: {startup_timeout_seconds: 120}\n"
            << "process_manager: {graceful_shutdown_timeout_seconds: 10, "
               "force_shutdown_timeout_seconds: 5, heartbeat_timeout_seconds: 60, "
               "health_check_interval_seconds: 1}\n"
            << "collectors:\n"
            << "  procmond: {enabled: true, config: {scan_interval_ms: 200}}\n"
            << "  netmond: {enabled: true, config: {scan_interval_ms: 200}}\n"
            << "  fsmond: {enabled: true, config: {paths: [" << watched().string()
            << "], debounce_ms: 500}}\n";
    }

    void start(const std::string& agent_path) {
        // Sanitizer builds: LeakSanitizer's exit-time scan is a forbidden syscall inside the
        // seccomp-sandboxed launchers, which inherit this from the agent.
        ::setenv("ASAN_OPTIONS", "detect_leaks=0", 0);
        pid_ = spawn({agent_path, "--config", config_path().string()},
                     (root_ / "agent.log").string(), (root_ / "agent.err").string());
    }

    // SIGTERM and wait; returns the exit code (-1: signalled or did not exit in time).
    int stop(std::chrono::seconds timeout = 120s) {
        if (pid_ <= 0) return exit_code_;
        ::kill(pid_, SIGTERM);
        int status = 0;
        if (!reap(pid_, timeout, status)) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            exit_code_ = -1;
        } else {
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        pid_ = -1;
        return exit_code_;
    }

    std::vector<std::string> cli_argv(const std::string& cli_path) const {
        return {cli_path, "--endpoint", socket().string()};
    }

  private:
    fs::path root_;
    pid_t pid_ = -1;
    int exit_code_ = -1;
};

// `daemoneye-cli --json events tail PATTERN... control.health.status --count N` running in the
// background. control.health.status (the agent publishes it every second) is subscribed last,
// so its first line proves every pattern before it is live: only then may the test act.
class Tail {
  public:
    Tail(std::vector<std::string> cli, const std::vector<std::string>& patterns,
         std::uint64_t count = 100000) {
        char tmpl[] = "/tmp/de-e2e-tail-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        cli.insert(cli.end(), {"--json", "events", "tail"});
        cli.insert(cli.end(), patterns.begin(), patterns.end());
        cli.insert(cli.end(), {"control.health.status", "--count", std::to_string(count)});
        pid_ = spawn(cli, dir_ + "/out", dir_ + "/err");
    }
    ~Tail() {
        stop();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    Tail(const Tail&) = delete;
    Tail& operator=(const Tail&) = delete;

    std::vector<TailedEvent> events() const {
        std::vector<TailedEvent> out;
        for (auto& e : parse_tail(slurp(dir_ + "/out")))
            if (e.topic != "control.health.status") out.push_back(std::move(e));
        return out;
    }
    bool live(std::chrono::seconds timeout = 120s) const {
        return wait_until(
            [&] {
                for (const auto& e : parse_tail(slurp(dir_ + "/out")))
                    if (e.topic == "control.health.status") return true;
                return false;
            },
            timeout);
    }
    std::string err() const { return slurp(dir_ + "/err"); }

    // Stops the CLI (SIGINT, as an operator's ^C); returns its exit code.
    int stop() {
        if (pid_ <= 0) return exit_code_;
        ::kill(pid_, SIGINT);
        int status = 0;
        if (!reap(pid_, 30s, status)) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
        }
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        pid_ = -1;
        return exit_code_;
    }

  private:
    std::string dir_;
    pid_t pid_ = -1;
    int exit_code_ = -1;
};

}  // namespace daemoneye::collectors::testing
