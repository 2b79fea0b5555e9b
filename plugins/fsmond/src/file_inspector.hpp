// stat + SHA-256 of one path (symlinks are described, never followed).
#pragma once

#include <cstdint>
#include <string>

#include "daemoneye/events/v1/events.pb.h"

namespace daemoneye::fsmond {

struct FileFacts {
    bool exists = false;
    bool is_dir = false;
    bool is_regular = false;
    uint64_t size = 0;
    uint32_t mode = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint64_t mtime_unix_nanos = 0;
    uint64_t inode = 0;
    std::string sha256;  // hex; empty when not hashed
    std::string error;   // why stat or hashing failed ("permission denied", "over hash_max_bytes")
};

// lstat(path); when it is a regular file of at most hash_max_bytes (0: never), also its SHA-256
// (opened O_NOFOLLOW, and only if it is still the inode lstat saw).
FileFacts inspect_file(const std::string& path, uint64_t hash_max_bytes);

void fill_file_info(const std::string& path, const FileFacts& f, events::v1::FileInfo& out);

}  // namespace daemoneye::fsmond
