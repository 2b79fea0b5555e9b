// SHA-256 (FIPS 180-4) of files and buffers: the registry records each library's digest, and
// `plugins inspect` shows it. Small and dependency-free.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "daemoneye/result.hpp"

namespace daemoneye::agent {

class Sha256 {
  public:
    Sha256();
    void update(const void* data, std::size_t len);
    std::array<std::uint8_t, 32> digest();  // finishes; the object is spent afterwards
    std::string hex();

  private:
    void block(const std::uint8_t* p);
    std::array<std::uint32_t, 8> h_;
    std::array<std::uint8_t, 64> buf_{};
    std::size_t used_ = 0;
    std::uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view data);
Result<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace daemoneye::agent
