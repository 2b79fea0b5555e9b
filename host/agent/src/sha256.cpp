#include "sha256.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace daemoneye::agent {

namespace {

struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

MdCtx new_sha256() {
    MdCtx ctx(EVP_MD_CTX_new());
    // Allocation failure or a libcrypto without SHA-256 cannot happen on a supported system.
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) std::abort();
    return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    s.reserve(2 * static_cast<std::size_t>(len));
    for (unsigned int i = 0; i < len; ++i) {
        s += kHex[md[i] >> 4];
        s += kHex[md[i] & 15];
    }
    return s;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
    auto ctx = new_sha256();
    EVP_DigestUpdate(ctx.get(), data.data(), data.size());
    return finish_hex(ctx.get());
}

Result<std::string> sha256_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot open " + path.string() + ": " + std::strerror(errno));
    auto ctx = new_sha256();
    unsigned char buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            return fail("cannot read " + path.string() + ": " + std::strerror(err));
        }
        if (n == 0) break;
        EVP_DigestUpdate(ctx.get(), buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return finish_hex(ctx.get());
}

}  // namespace daemoneye::agent
