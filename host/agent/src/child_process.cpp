#include "child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

namespace daemoneye::agent {

namespace asio = boost::asio;

namespace {
// Via syscall(): glibc 2.36's <sys/pidfd.h> lacks C linkage in C++ on Debian 12.
int pidfd_open(pid_t pid, unsigned flags) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, flags));
}
int pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned flags) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags));
}
}  // namespace

std::string ExitStatus::to_string() const {
    if (exited) return "exited with code " + std::to_string(code);
    const char* name = sigabbrev_np(signal);
    return "killed by signal " + std::to_string(signal) +
           (name ? std::string(" (SIG") + name + ")" : "");
}

Child::Child(asio::io_context& io, pid_t pid, int pidfd) : pid_(pid), pidfd_(io, pidfd) {}

Child::~Child() {
    if (!status_) {
        signal_group(SIGKILL);
        // Blocking reap of a child we just SIGKILLed: bounded and rare (agent shutdown path).
        siginfo_t info{};
        ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.native_handle()), &info, WEXITED);
    }
}

bool Child::try_reap() {
    if (status_) return true;
    siginfo_t info{};
    info.si_pid = 0;
    if (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.native_handle()), &info, WEXITED | WNOHANG) != 0)
        return false;
    if (info.si_pid == 0) return false;
    ExitStatus s;
    if (info.si_code == CLD_EXITED) {
        s.exited = true;
        s.code = info.si_status;
    } else {
        s.signal = info.si_status;
    }
    status_ = s;
    return true;
}

asio::awaitable<ExitStatus> Child::wait() {
    while (!try_reap()) {
        auto [ec] = co_await pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                                               asio::as_tuple(asio::use_awaitable));
        if (ec && ec != asio::error::operation_aborted) {
            // Should not happen with a valid pidfd; fall back to a blocking reap, not a spin.
            siginfo_t info{};
            ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.native_handle()), &info, WEXITED | WNOWAIT);
        }
    }
    co_return *status_;
}

void Child::signal_group(int sig) {
    if (status_) return;
    // The group id equals the pid (setpgid(0,0) in the child); fall back to the pid alone.
    if (::kill(-pid_, sig) != 0) pidfd_send_signal(pidfd_.native_handle(), sig, nullptr, 0);
}

void Child::signal(int sig) {
    if (status_) return;
    pidfd_send_signal(pidfd_.native_handle(), sig, nullptr, 0);
}

Result<std::unique_ptr<Child>> spawn_child(asio::io_context& io, const SpawnOptions& options) {
    if (options.argv.empty()) return fail("spawn: no program");
    std::vector<char*> argv;
    for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();

    // Error reporting from the child before exec: a CLOEXEC pipe carries errno.
    int errpipe[2];
    if (::pipe2(errpipe, O_CLOEXEC) != 0)
        return fail(std::string("pipe2: ") + std::strerror(errno));

    pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        ::close(errpipe[0]);
        ::close(errpipe[1]);
        return fail(std::string("fork: ") + std::strerror(err));
    }
    if (pid == 0) {
        // Child: async-signal-safe calls only.
        ::close(errpipe[0]);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        if (options.new_process_group) ::setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        if (options.stdout_fd >= 0) ::dup2(options.stdout_fd, STDOUT_FILENO);
        if (options.stderr_fd >= 0) ::dup2(options.stderr_fd, STDERR_FILENO);
        if (options.pass_fd >= 0) {
            if (options.pass_fd == options.pass_fd_as) {
                int flags = ::fcntl(options.pass_fd, F_GETFD);
                ::fcntl(options.pass_fd, F_SETFD, flags & ~FD_CLOEXEC);
            } else if (::dup2(options.pass_fd, options.pass_fd_as) < 0) {
                int err = errno;
                (void)!::write(errpipe[1], &err, sizeof err);
                ::_exit(127);
            }
        }
        ::execv(argv[0], argv.data());
        int err = errno;
        (void)!::write(errpipe[1], &err, sizeof err);
        ::_exit(127);
    }
    ::close(errpipe[1]);
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(errpipe[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    ::close(errpipe[0]);
    int pidfd = pidfd_open(pid, 0);
    if (n == static_cast<ssize_t>(sizeof child_errno)) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (pidfd >= 0) ::close(pidfd);
        return fail("cannot execute " + options.argv[0] + ": " + std::strerror(child_errno));
    }
    if (pidfd < 0) {
        int err = errno;
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        return fail(std::string("pidfd_open: ") + std::strerror(err));
    }
    ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    return std::make_unique<Child>(io, pid, pidfd);
}

}  // namespace daemoneye::agent
