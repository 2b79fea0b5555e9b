// I/O both ends of the privilege-separation helper use. The /proc calls are raw system calls:
// the launcher executable interposes the libc open family (fs_interpose.cpp), and the helper's
// seccomp filter is written for exactly these.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace daemoneye::launcher::privsep {

inline int sys_openat(int dirfd, const char* path, int flags) {
    return static_cast<int>(::syscall(SYS_openat, dirfd, path, flags | O_CLOEXEC, 0));
}
inline long sys_getdents64(int fd, void* buf, std::size_t len) {
    return ::syscall(SYS_getdents64, fd, buf, len);
}
inline long sys_readlinkat(int dirfd, const char* path, char* buf, std::size_t len) {
    return ::syscall(SYS_readlinkat, dirfd, path, buf, len);
}
inline long sys_newfstatat(int dirfd, const char* path, struct ::stat* st, int flags) {
    return ::syscall(SYS_newfstatat, dirfd, path, st, flags);
}

// One whole SEQPACKET message; false when the peer is gone.
inline bool send_message(int fd, const std::vector<std::uint8_t>& m) {
    for (;;) {
        const ssize_t n = ::send(fd, m.data(), m.size(), MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(m.size())) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

}  // namespace daemoneye::launcher::privsep
