// Runs the REAL daemoneye-agent on a temporary config and drives it only through the real
// daemoneye-cli binary and the filesystem (drop-in dir, sockets), as an operator would.
#pragma once

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

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Run {
    int exit_code = -1;  // -1: killed by a signal / not run
    std::string out;
    std::string err;
};

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Runs a program to completion; output through files so a chatty child never blocks.
inline Run run_program(const std::vector<std::string>& argv_in,
                       std::chrono::seconds timeout = 180s) {
    char out_path[] = "/tmp/de-agent-test-out-XXXXXX";
    char err_path[] = "/tmp/de-agent-test-err-XXXXXX";
    const int out_fd = ::mkstemp(out_path);
    const int err_fd = ::mkstemp(err_path);
    std::vector<std::string> copies = argv_in;
    std::vector<char*> argv;
    for (auto& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out_fd, 1);
        ::dup2(err_fd, 2);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(out_fd);
    ::close(err_fd);
    Run run;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
    run.out = slurp(out_path);
    run.err = slurp(err_path);
    ::unlink(out_path);
    ::unlink(err_path);
    return run;
}

inline bool wait_until(const std::function<bool()>& pred, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(200ms);
    }
    return pred();
}

// Children of `parent` (from /proc), e.g. the launchers an agent spawned.
inline std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    DIR* d = ::opendir("/proc");
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        if (pid <= 0) continue;
        std::ifstream st("/proc/" + std::string(e->d_name) + "/stat");
        std::string line;
        std::getline(st, line);
        auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        char state = 0;
        pid_t ppid = 0;
        rest >> state >> ppid;
        if (ppid == parent && state != 'Z') out.push_back(pid);
    }
    ::closedir(d);
    return out;
}

inline bool process_alive(pid_t pid) {
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(st, line)) return false;
    auto close = line.rfind(')');
    return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
}

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
