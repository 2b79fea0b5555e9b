// Runs the real daemoneye-cli binary (DAEMONEYE_CLI_PATH) and captures its exit code, stdout and
// stderr. Shared by the CLI tests; output goes through temporary files so a chatty child can
// never block on a full pipe.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef DAEMONEYE_CLI_PATH
#error "DAEMONEYE_CLI_PATH must name the daemoneye-cli binary"
#endif

namespace daemoneye::cli::testing {

struct CliRun {
    int exit_code = -1;  // -1 when it did not exit normally (killed by a signal)
    std::string out;
    std::string err;
};

inline std::string slurp_and_remove(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    ::unlink(path.c_str());
    return ss.str();
}

inline CliRun run_cli(const std::vector<std::string>& args) {
    char out_path[] = "/tmp/daemoneye-cli-test-out-XXXXXX";
    char err_path[] = "/tmp/daemoneye-cli-test-err-XXXXXX";
    const int out_fd = ::mkstemp(out_path);
    const int err_fd = ::mkstemp(err_path);
    if (out_fd < 0 || err_fd < 0) return {};

    std::vector<char*> argv;
    std::string program = DAEMONEYE_CLI_PATH;
    argv.push_back(program.data());
    std::vector<std::string> copies = args;
    for (auto& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out_fd, STDOUT_FILENO);
        ::dup2(err_fd, STDERR_FILENO);
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(out_fd);
    ::close(err_fd);
    CliRun run;
    int status = 0;
    if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
        run.exit_code = WEXITSTATUS(status);
    }
    run.out = slurp_and_remove(out_path);
    run.err = slurp_and_remove(err_path);
    return run;
}

}  // namespace daemoneye::cli::testing
