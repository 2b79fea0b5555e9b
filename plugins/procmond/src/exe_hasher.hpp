// SHA-256 of running executables, cached by the identity of the file (dev, inode, mtime, size):
// a warm scan of 1,000 processes running the same binary hashes nothing. Thread-safe (the scan
// thread and task calls share one cache).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "process.hpp"
#include "result.hpp"

namespace procmond {

class ExeHasher {
  public:
    struct Stats {
        std::uint64_t computed = 0;
        std::uint64_t cache_hits = 0;
        std::uint64_t bytes_hashed = 0;
        std::uint64_t cached_entries = 0;
    };

    // Hashes the image a process is running. `pid_dirfd` is an open /proc/<pid> directory; the
    // file is opened through the magic link "exe" (not through its path), so what is hashed is
    // what runs even when the path was deleted or now names another file. `expected` is the
    // identity seen by stat() of that link; if the opened file differs, the process exec'd
    // meanwhile and the result is an error, not a wrong hash.
    Result<std::string> hash_running_image(int pid_dirfd, const FileIdentity& expected,
                                           std::uint64_t max_bytes);
    // The same with the descriptor from `open` (returns it, or -1 and says why in `why`): the
    // launcher's helper opens another user's exe when procmond may not (proc.read, ABI 1.2).
    using Opener = std::function<int(std::string& why)>;
    Result<std::string> hash_running_image(const Opener& open, const FileIdentity& expected,
                                           std::uint64_t max_bytes);

    // Hashes everything `fd` reads from its current offset, failing past max_bytes.
    static Result<std::string> hash_fd(int fd, std::uint64_t max_bytes, std::uint64_t* bytes_read);

    // Drops entries not used since `generations` calls to end_generation() ago.
    void end_generation(std::uint64_t keep_generations = 30);

    Stats stats() const;

  private:
    struct KeyHash {
        std::size_t operator()(const FileIdentity& k) const noexcept {
            std::size_t h = k.dev * 0x9e3779b97f4a7c15ULL;
            h ^= k.ino + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
            h ^= static_cast<std::size_t>(k.mtime_ns) + (h << 6) + (h >> 2);
            h ^= k.size + (h << 6) + (h >> 2);
            h ^= static_cast<std::size_t>(k.ctime_ns) + (h << 6) + (h >> 2);
            return h;
        }
    };
    struct Entry {
        std::string sha256;  // empty: `error` says why (e.g. too large), cached too
        std::string error;
        std::uint64_t last_used = 0;
    };

    mutable std::mutex mu_;
    std::unordered_map<FileIdentity, Entry, KeyHash> cache_;
    std::uint64_t generation_ = 0;
    Stats stats_;
};

}  // namespace procmond
