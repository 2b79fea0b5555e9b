#include "user_cache.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace procmond {

std::string UserCache::name_of(std::uint32_t uid) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    auto it = cache_.find(uid);
    if (it != cache_.end() && now - it->second.fetched < ttl_) return it->second.name;

    std::string name;
    long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
    for (int attempt = 0; attempt < 6; ++attempt) {
        struct passwd pw {};
        struct passwd* out = nullptr;
        const int rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &out);
        if (rc == ERANGE) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc == 0 && out != nullptr && out->pw_name != nullptr) name = out->pw_name;
        break;
    }
    cache_[uid] = Entry{name, now};
    return name;
}

}  // namespace procmond
