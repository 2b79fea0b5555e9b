// SHA-256 of files and buffers (OpenSSL's libcrypto, the implementation the collectors use too):
// the registry records each library's digest, and `plugins inspect` shows it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "daemoneye/result.hpp"

namespace daemoneye::agent {

std::string sha256_hex(std::string_view data);
Result<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace daemoneye::agent
