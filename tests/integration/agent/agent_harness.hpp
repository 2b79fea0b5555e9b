// Runs the REAL daemoneye-agent on a temporary config and drives it only through the real
// daemoneye-cli binary and the filesystem (drop-in dir, sockets), as an operator would.
#pragma once

#include "../common/process_util.hpp"

#include <dirent.h>
#include <fcntl.h>
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

namespace daemoneye::agent::testing {

using namespace daemoneye::testing;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempAgent {
  public:
    TempAgent() {
        char tmpl[] = "/tmp/de-agent-it-XXXXXX";
        root_ = ::mkdtemp(tmpl);
        // The sandboxed launcher runs as nobody: it must be able to traverse to the plugins.
        ::chmod(root_.c_str(), 0755);
        fs::create_directories(root_ / "plugins");
        fs::create_directories(root_ / "drop");
        ::chmod((root_ / "plugins").c_str(), 0755);
        ::chmod((root_ / "drop").c_str(), 0755);
    }
    ~TempAgent() {
        stop(10s);
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    const fs::path& root() const { return root_; }
    fs::path socket() const { return root_ / "run" / "agent.sock"; }
    fs::path bus_socket() const { return root_ / "run" / "eventbus.sock"; }
    fs::path drop_in() const { return root_ / "drop"; }
    fs::path config_path() const { return root_ / "agent.yaml"; }
    pid_t pid() const { return pid_; }
    std::string log() const { return slurp((root_ / "agent.log").string()); }

    // Copies a test plugin into the scanned plugins dir (0644).
    void add_plugin(const std::string& file) {
        const fs::path dst = root_ / "plugins" / file;
        fs::copy_file(fs::path(DAEMONEYE_TEST_PLUGIN_DIR) / file, dst,
                      fs::copy_options::overwrite_existing);
        ::chmod(dst.c_str(), 0644);
    }

    // The config: paths inside root, fast restarts; `extra` is appended verbatim (YAML).
    void write_config(const std::string& extra,
                      const std::string& metrics = "metrics: {interval_seconds: 1}\n") {
        std::ofstream out(config_path());
        out << "agent: {runtime_dir: " << (root_ / "run").string()
            << ", state_dir: " << (root_ / "state").string() << "}\n"
            << "plugins:\n  directories: [" << (root_ / "plugins").string()
            << "]\n  drop_in_dir: " << drop_in().string() << "\n"
            << metrics << extra;
    }

    void start() {
        const std::string log_path = (root_ / "agent.log").string();
        pid_ = ::fork();
        if (pid_ == 0) {
            int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            // Sanitizer builds: LeakSanitizer's exit-time scan in the seccomp-sandboxed launcher
            // is a forbidden syscall (SIGSYS). The launchers inherit this from the agent.
            ::setenv("ASAN_OPTIONS", "detect_leaks=0", 0);
            std::string agent = DAEMONEYE_AGENT_PATH;
            std::string flag = "--config";
            std::string cfg = config_path().string();
            char* argv[] = {agent.data(), flag.data(), cfg.data(), nullptr};
            ::execv(argv[0], argv);
            ::_exit(127);
        }
    }

    // Waits until the agent answers health-check (any health).
    bool wait_ready(std::chrono::seconds timeout = 60s) {
        return wait_until(
            [&] {
                auto r = cli({"health-check"});
                return r.exit_code == 0 || r.exit_code == 1;
            },
            timeout);
    }

    // SIGTERM and wait; returns the exit code (-1: did not exit in time, then SIGKILLed).
    int stop(std::chrono::seconds timeout = 120s) {
        if (pid_ <= 0) return exit_code_;
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        int status = 0;
        for (;;) {
            pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                break;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                exit_code_ = -1;
                break;
            }
            std::this_thread::sleep_for(50ms);
        }
        pid_ = -1;
        return exit_code_;
    }

    // Waits for the agent to exit on its own (e.g. refused config).
    int wait_exit(std::chrono::seconds timeout = 30s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        int status = 0;
        while (std::chrono::steady_clock::now() < deadline) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            }
            std::this_thread::sleep_for(50ms);
        }
        return -2;
    }

    Run cli(std::vector<std::string> args) const {
        std::vector<std::string> argv = {DAEMONEYE_CLI_PATH, "--endpoint", socket().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_program(argv);
    }

    // The state of instance `<name>-0` per `collectors list --json` ("" when absent).
    std::string state_of(const std::string& name) const {
        auto r = cli({"--json", "collectors", "status", name});
        auto pos = r.out.find("\"state\":\"");
        if (pos == std::string::npos) return "";
        pos += 9;
        return r.out.substr(pos, r.out.find('"', pos) - pos);
    }
    pid_t pid_of(const std::string& name) const {
        auto r = cli({"--json", "collectors", "status", name});
        auto pos = r.out.find("\"pid\":");
        if (pos == std::string::npos) return 0;
        return static_cast<pid_t>(std::atoi(r.out.c_str() + pos + 6));
    }

  private:
    fs::path root_;
    pid_t pid_ = -1;
    int exit_code_ = -1;
};

}  // namespace daemoneye::agent::testing
