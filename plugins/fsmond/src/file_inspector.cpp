#include "file_inspector.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace daemoneye::fsmond {
namespace {

std::string to_hex(const unsigned char* d, size_t n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s(n * 2, '0');
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = kHex[d[i] >> 4];
        s[2 * i + 1] = kHex[d[i] & 0xF];
    }
    return s;
}

bool sha256_fd(int fd, std::string& hex, std::string& error) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
        error = "EVP sha256 unavailable";
        return false;
    }
    unsigned char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            error = std::string("read: ") + std::strerror(errno);
            return false;
        }
        EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(n));
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    hex = to_hex(md, len);
    return true;
}

}  // namespace

FileFacts inspect_file(const std::string& path, uint64_t hash_max_bytes) {
    FileFacts f;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
        f.error = std::strerror(errno);
        return f;
    }
    f.exists = true;
    f.is_dir = S_ISDIR(st.st_mode);
    f.is_regular = S_ISREG(st.st_mode);
    f.size = static_cast<uint64_t>(st.st_size);
    f.mode = st.st_mode;
    f.uid = st.st_uid;
    f.gid = st.st_gid;
    f.inode = st.st_ino;
    f.mtime_unix_nanos = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000u +
                         static_cast<uint64_t>(st.st_mtim.tv_nsec);
    if (!f.is_regular || hash_max_bytes == 0) return f;
    if (f.size > hash_max_bytes) {
        f.error = "not hashed: " + std::to_string(f.size) + " bytes is over hash_max_bytes";
        return f;
    }
    // O_NONBLOCK: a FIFO swapped in after lstat must not block the watcher thread.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        f.error = std::string("not hashed: ") + std::strerror(errno);
        return f;
    }
    struct stat fst;
    if (::fstat(fd, &fst) != 0 || fst.st_ino != st.st_ino || fst.st_dev != st.st_dev ||
        !S_ISREG(fst.st_mode)) {
        f.error = "not hashed: replaced while opening";
    } else if (!sha256_fd(fd, f.sha256, f.error)) {
        f.error = "not hashed: " + f.error;
    }
    ::close(fd);
    return f;
}

void fill_file_info(const std::string& path, const FileFacts& f, events::v1::FileInfo& out) {
    out.set_path(path);
    if (!f.exists) return;
    out.set_size(f.size);
    out.set_mode(f.mode);
    out.set_uid(f.uid);
    out.set_gid(f.gid);
    out.set_mtime_unix_nanos(f.mtime_unix_nanos);
    out.set_sha256(f.sha256);
    out.set_is_dir(f.is_dir);
}

}  // namespace daemoneye::fsmond
