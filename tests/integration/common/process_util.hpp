// Process helpers shared by the integration tests that run real binaries (the agent, the CLI,
// launchers): run to completion with captured output, spawn, reap, wait, and /proc lookups.
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

namespace daemoneye::testing {

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

inline bool reap(pid_t pid, std::chrono::seconds timeout, int& status) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (::waitpid(pid, &status, WNOHANG) == pid) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
}

// Forks and execs argv with stdout/stderr redirected to files; returns the pid.
inline pid_t spawn(const std::vector<std::string>& argv_in, const std::string& out_path,
                   const std::string& err_path) {
    std::vector<std::string> copies = argv_in;
    std::vector<char*> argv;
    for (auto& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(out, 1);
        ::dup2(err, 2);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

// Runs a program to completion; output through files so a chatty child never blocks.
inline Run run_program(const std::vector<std::string>& argv, std::chrono::seconds timeout = 180s) {
    char dir_tmpl[] = "/tmp/de-it-run-XXXXXX";
    const std::string dir = ::mkdtemp(dir_tmpl);
    const pid_t pid = spawn(argv, dir + "/out", dir + "/err");
    Run run;
    int status = 0;
    if (!reap(pid, timeout, status)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
    run.out = slurp(dir + "/out");
    run.err = slurp(dir + "/err");
    std::error_code ec;
    fs::remove_all(dir, ec);
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

// Live children of `parent` (from /proc), e.g. the launchers an agent spawned.
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

}  // namespace daemoneye::testing
