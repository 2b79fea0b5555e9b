// uid -> user name through getpwuid_r (NSS), cached: one lookup per uid, refreshed after `ttl`
// lookups' worth of scans so renamed/added users show up without a restart. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace procmond {

class UserCache {
  public:
    explicit UserCache(std::chrono::seconds ttl = std::chrono::seconds(300)) : ttl_(ttl) {}
    // The user name, or "" when the uid has no passwd entry (or NSS is unreachable, as inside a
    // sandbox without /etc/passwd).
    std::string name_of(std::uint32_t uid);

  private:
    struct Entry {
        std::string name;
        std::chrono::steady_clock::time_point fetched;
    };
    std::chrono::seconds ttl_;
    std::mutex mu_;
    std::unordered_map<std::uint32_t, Entry> cache_;
};

}  // namespace procmond
