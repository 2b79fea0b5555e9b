// Spawning and reaping children on the event loop: fork+exec with one fd handed over at a fixed
// number, its own process group, PDEATHSIG so an agent killed by SIGKILL leaves no orphans, and
// the exit observed through a pidfd registered with asio (no SIGCHLD handler, no polling).
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <optional>
#include <string>
#include <vector>

#include "daemoneye/result.hpp"

namespace daemoneye::agent {

struct ExitStatus {
    bool exited = false;  // normal exit (code valid); else killed by `signal`
    int code = 0;
    int signal = 0;
    std::string to_string() const;  // "exited with code 3", "killed by signal 9 (SIGKILL)"
};

struct SpawnOptions {
    std::vector<std::string> argv;  // argv[0] is the program path
    int pass_fd = -1;               // parent fd to hand over ...
    int pass_fd_as = 3;             // ... as this fd number in the child
    int stdout_fd = -1;             // becomes the child's stdout when >= 0
    int stderr_fd = -1;             // becomes the child's stderr when >= 0
    bool new_process_group = true;
};

class Child {
  public:
    Child(boost::asio::io_context& io, pid_t pid, int pidfd);
    ~Child();  // kills (SIGKILL) and reaps a child that is still running
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    bool running() const { return !status_; }
    const std::optional<ExitStatus>& status() const { return status_; }

    // Completes when the child exits (reaped); returns at once if it already has.
    boost::asio::awaitable<ExitStatus> wait();
    // Signals the child's process group (the launcher and anything it started). No-op once reaped.
    void signal_group(int sig);
    void signal(int sig);

  private:
    bool try_reap();
    pid_t pid_;
    boost::asio::posix::stream_descriptor pidfd_;
    std::optional<ExitStatus> status_;
};

Result<std::unique_ptr<Child>> spawn_child(boost::asio::io_context& io,
                                           const SpawnOptions& options);

}  // namespace daemoneye::agent
