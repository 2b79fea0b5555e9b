// A real process holding a secret: `sleep` exec'd as `uid` (0 or 65534) with the environment
// variable DE_SECRET=<marker> and its working directory in `cwd`. Exec'd after the uid switch, so
// it is dumpable (its /proc/<pid>/* files belong to `uid`), like any ordinary daemon of that
// user. Needs root for a uid other than our own; check `ok`.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace daemoneye::launcher::test {

struct SecretHolder {
    SecretHolder(uid_t uid, const std::string& marker, const std::string& cwd,
                 const char* program = "/bin/sleep") {
        int ready[2];
        if (::pipe2(ready, O_CLOEXEC) != 0) return;
        const std::string env = "DE_SECRET=" + marker;
        pid = ::fork();
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            int err = 0;
            if (::chdir(cwd.c_str()) != 0) err = errno;
            if (err == 0 && uid != ::geteuid() &&
                (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
                 ::setresuid(uid, uid, uid) != 0)) {
                err = errno;
            }
            if (err == 0) {
                char* const argv[] = {const_cast<char*>(program), const_cast<char*>("1000"),
                                      nullptr};
                char* const envp[] = {const_cast<char*>(env.c_str()), nullptr};
                ::execve(program, argv, envp);
                err = errno;
            }
            (void)!::write(ready[1], &err, sizeof err);
            ::_exit(127);
        }
        ::close(ready[1]);
        int err = 0;
        // EOF: the exec happened (the pipe is close-on-exec).
        ok = pid > 0 && ::read(ready[0], &err, sizeof err) == 0;
        ::close(ready[0]);
    }
    ~SecretHolder() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    SecretHolder(const SecretHolder&) = delete;
    SecretHolder& operator=(const SecretHolder&) = delete;
    pid_t pid = -1;
    bool ok = false;
};

}  // namespace daemoneye::launcher::test
