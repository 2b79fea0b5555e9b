#include "exe_hasher.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace procmond {
namespace {

struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string to_hex(const unsigned char* d, unsigned n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s(static_cast<std::size_t>(n) * 2, '0');
    for (unsigned i = 0; i < n; ++i) {
        s[2 * i] = kHex[d[i] >> 4];
        s[2 * i + 1] = kHex[d[i] & 0xf];
    }
    return s;
}

struct FdCloser {
    int fd;
    ~FdCloser() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

Result<std::string> ExeHasher::hash_fd(int fd, std::uint64_t max_bytes, std::uint64_t* bytes_read) {
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
        return failure("sha256: cannot initialise OpenSSL digest");
    }
    std::vector<unsigned char> buf(256 * 1024);
    std::uint64_t total = 0;
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return failure(std::string("read: ") + std::strerror(errno));
        }
        if (n == 0) break;
        total += static_cast<std::uint64_t>(n);
        if (total > max_bytes) {
            return failure("larger than max_hash_bytes (" + std::to_string(max_bytes) + ")");
        }
        if (EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n)) != 1) {
            return failure("sha256: digest update failed");
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (EVP_DigestFinal_ex(ctx.get(), md, &md_len) != 1) return failure("sha256: final failed");
    if (bytes_read) *bytes_read = total;
    return to_hex(md, md_len);
}

Result<std::string> ExeHasher::hash_running_image(int pid_dirfd, const FileIdentity& expected,
                                                  std::uint64_t max_bytes) {
    // The magic link itself must be followed (it is the running image); no O_NOFOLLOW here.
    return hash_running_image(
        [pid_dirfd](std::string& why) {
            const int fd = ::openat(pid_dirfd, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY);
            if (fd < 0) why = std::string("open exe: ") + std::strerror(errno);
            return fd;
        },
        expected, max_bytes);
}

Result<std::string> ExeHasher::hash_running_image(const Opener& open, const FileIdentity& expected,
                                                  std::uint64_t max_bytes) {
    {
        std::lock_guard lock(mu_);
        auto it = cache_.find(expected);
        if (it != cache_.end()) {
            it->second.last_used = generation_;
            ++stats_.cache_hits;
            if (!it->second.sha256.empty()) return it->second.sha256;
            return failure(it->second.error);
        }
    }
    if (expected.size > max_bytes) {
        std::string why = "larger than max_hash_bytes (" + std::to_string(expected.size) + " > " +
                          std::to_string(max_bytes) + ")";
        std::lock_guard lock(mu_);
        cache_[expected] = Entry{{}, why, generation_};
        return failure(why);
    }
    std::string why;
    const int fd = open(why);
    if (fd < 0) return failure(why);
    FdCloser closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) return failure(std::string("fstat exe: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return failure("exe is not a regular file");
    if (!(identity_of(st) == expected))
        return failure("exe changed while hashing (exec or rewrite)");
    std::uint64_t n = 0;
    auto digest = hash_fd(fd, max_bytes, &n);
    std::lock_guard lock(mu_);
    stats_.bytes_hashed += n;
    if (!digest) {
        if (digest.reason().starts_with("larger than")) {
            cache_[expected] = Entry{{}, digest.reason(), generation_};
        }
        return digest;
    }
    ++stats_.computed;
    // A file rewritten in place during the read keeps dev/ino; the mtime/size in the key only
    // changes after the write, so re-check and do not cache a hash of a torn read.
    struct stat after {};
    if (::fstat(fd, &after) == 0 && identity_of(after) == expected) {
        cache_[expected] = Entry{*digest, {}, generation_};
    }
    return digest;
}

void ExeHasher::end_generation(std::uint64_t keep_generations) {
    std::lock_guard lock(mu_);
    ++generation_;
    if (generation_ % 16 != 0) return;  // prune occasionally, not on every scan
    for (auto it = cache_.begin(); it != cache_.end();) {
        if (generation_ - it->second.last_used > keep_generations) {
            it = cache_.erase(it);
        } else {
            ++it;
        }
    }
}

ExeHasher::Stats ExeHasher::stats() const {
    std::lock_guard lock(mu_);
    Stats s = stats_;
    s.cached_entries = cache_.size();
    return s;
}

}  // namespace procmond
