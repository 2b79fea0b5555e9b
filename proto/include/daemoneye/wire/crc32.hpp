// CRC32 of frame payloads: IEEE 802.3 (zlib's polynomial, the default) or Castagnoli (CRC32C).
// Both come from ISA-L's folding (PCLMULQDQ) implementations; see docs/performance.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace daemoneye::wire {

enum class Crc32Variant { Ieee, Castagnoli };

std::string_view to_string(Crc32Variant v);
std::optional<Crc32Variant> parse_crc32_variant(std::string_view text);  // "ieee" | "castagnoli"

// Streaming CRC: update() any number of times over consecutive pieces, then value().
class Crc32 {
  public:
    explicit Crc32(Crc32Variant variant) : variant_(variant) {}
    void update(const void* data, std::size_t len);
    std::uint32_t value() const;

  private:
    Crc32Variant variant_;
    std::uint32_t state_ = 0;  // ISA-L's running value (pre/post conditioning handled inside)
};

std::uint32_t crc32(Crc32Variant variant, const void* data, std::size_t len);

}  // namespace daemoneye::wire
