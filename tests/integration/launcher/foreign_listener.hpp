// A TCP listener on loopback held only by a child process running as user nobody (uid 65534),
// for tests of cross-user socket owners. Needs root; check `ok`.
#pragma once

#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

namespace daemoneye::launcher::test {

// The parent
// opens it, forks, and closes its copy. The child is not dumpable after the uid change, so its
// /proc/<pid>/fd is root's and mode 0500.
struct ForeignListener {
    ForeignListener() {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(fd, 1) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            return;
        port = ntohs(a.sin_port);
        struct stat st {};
        ::fstat(fd, &st);
        inode = st.st_ino;
        int ready[2];
        if (::pipe(ready) != 0) return;
        pid = ::fork();
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const bool ok = ::setgroups(0, nullptr) == 0 && ::setresgid(65534, 65534, 65534) == 0 &&
                            ::setresuid(65534, 65534, 65534) == 0;
            const char c = ok ? 'y' : 'n';
            (void)!::write(ready[1], &c, 1);
            for (;;) ::pause();
        }
        ::close(fd);
        ::close(ready[1]);
        char c = 0;
        ok = pid > 0 && ::read(ready[0], &c, 1) == 1 && c == 'y';
        ::close(ready[0]);
    }
    ~ForeignListener() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    pid_t pid = -1;
    bool ok = false;
    std::uint16_t port = 0;
    std::uint64_t inode = 0;
};

}  // namespace daemoneye::launcher::test
