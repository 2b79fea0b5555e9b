// Small filesystem helpers with the checks a privileged service needs (no symlink games, owner
// and mode checked), returning Status instead of throwing.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "daemoneye/result.hpp"

namespace daemoneye::agent {

// Creates `dir` (and missing parents, 0755) with mode 0700, or checks an existing one: a real
// directory (not a symlink) owned by this user, then forces 0700.
Status ensure_private_dir(const std::filesystem::path& dir);

// Creates `dir` and parents if missing (mode 0755 for new ones); an existing one is left alone.
Status ensure_dir(const std::filesystem::path& dir, mode_t mode = 0755);

// Writes `contents` to `path` atomically: temp file in the same directory, fsync, rename.
Status write_file_atomic(const std::filesystem::path& path, const std::string& contents,
                         mode_t mode = 0644);

std::string errno_text(int err);

}  // namespace daemoneye::agent
