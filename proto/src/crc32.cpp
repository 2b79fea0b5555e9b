#include "daemoneye/wire/crc32.hpp"

#include <isa-l/crc.h>

#include <algorithm>
#include <climits>

namespace daemoneye::wire {

std::string_view to_string(Crc32Variant v) {
    return v == Crc32Variant::Ieee ? "ieee" : "castagnoli";
}

std::optional<Crc32Variant> parse_crc32_variant(std::string_view text) {
    if (text == "ieee" || text == "IEEE") return Crc32Variant::Ieee;
    if (text == "castagnoli" || text == "crc32c" || text == "Castagnoli") {
        return Crc32Variant::Castagnoli;
    }
    return std::nullopt;
}

// ISA-L conventions: crc32_gzip_refl(init, ...) conditions internally, so chaining from 0 gives
// zlib's crc32. crc32_iscsi(..., init) does neither pre- nor post-inversion: start from ~0 and
// invert at the end.
void Crc32::update(const void* data, std::size_t len) {
    auto* p = static_cast<unsigned char*>(const_cast<void*>(data));  // ISA-L takes non-const
    while (len > 0) {
        const auto chunk = static_cast<int>(std::min<std::size_t>(len, INT_MAX / 2));
        if (variant_ == Crc32Variant::Ieee) {
            state_ = crc32_gzip_refl(state_, p, static_cast<std::uint64_t>(chunk));
        } else {
            state_ = ~crc32_iscsi(p, chunk, ~state_);
        }
        p += chunk;
        len -= static_cast<std::size_t>(chunk);
    }
}

std::uint32_t Crc32::value() const {
    return state_;
}

std::uint32_t crc32(Crc32Variant variant, const void* data, std::size_t len) {
    Crc32 c(variant);
    c.update(data, len);
    return c.value();
}

}  // namespace daemoneye::wire
