// A child process for integration tests: fork/exec with stdout on a pipe, read line by line with
// a deadline, wait with a deadline (killed if it overstays).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace daemoneye::test {

class ChildProcess {
  public:
    explicit ChildProcess(const std::vector<std::string>& argv);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // The next stdout line, or nullopt at EOF / timeout.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);
    // Reads lines until one starts with `prefix` (returned) or EOF / timeout.
    std::optional<std::string> wait_for(const std::string& prefix,
                                        std::chrono::milliseconds timeout);
    // Every line until EOF (or timeout).
    std::vector<std::string> read_all(std::chrono::milliseconds timeout);
    // Exit status (or -signal); kills the child after the timeout.
    int wait(std::chrono::milliseconds timeout);
    pid_t pid() const { return pid_; }

  private:
    pid_t pid_ = -1;
    int out_ = -1;
    std::string buffer_;
    bool reaped_ = false;
    int status_ = 0;
};

}  // namespace daemoneye::test
