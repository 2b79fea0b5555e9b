// Tests proto/src/crc32.cpp: known vectors, streaming == one-shot, and agreement with independent
// implementations (zlib for IEEE, a bitwise reference for Castagnoli) over many lengths.
#include "daemoneye/wire/crc32.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

namespace daemoneye::wire {
namespace {

std::uint32_t crc_of(Crc32Variant v, std::string_view s) {
    return crc32(v, s.data(), s.size());
}

// The textbook bitwise reflected CRC32C (poly 0x82F63B78): slow, obviously right, test-only.
std::uint32_t reference_crc32c(const std::uint8_t* p, std::size_t n) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng());
    return v;
}

TEST(Crc32, CheckValuesOf123456789) {
    EXPECT_EQ(crc_of(Crc32Variant::Ieee, "123456789"), 0xCBF43926u);
    EXPECT_EQ(crc_of(Crc32Variant::Castagnoli, "123456789"), 0xE3069283u);
}

TEST(Crc32, MoreKnownVectors) {
    EXPECT_EQ(crc_of(Crc32Variant::Ieee, ""), 0u);
    EXPECT_EQ(crc_of(Crc32Variant::Castagnoli, ""), 0u);
    EXPECT_EQ(crc_of(Crc32Variant::Ieee, "The quick brown fox jumps over the lazy dog"),
              0x414FA339u);
    // RFC 3720 (iSCSI) appendix B.4.
    const std::vector<std::uint8_t> zeros(32, 0x00), ones(32, 0xFF);
    std::vector<std::uint8_t> ascending(32), descending(32);
    for (int i = 0; i < 32; ++i) {
        ascending[i] = static_cast<std::uint8_t>(i);
        descending[i] = static_cast<std::uint8_t>(31 - i);
    }
    EXPECT_EQ(crc32(Crc32Variant::Castagnoli, zeros.data(), 32), 0x8A9136AAu);
    EXPECT_EQ(crc32(Crc32Variant::Castagnoli, ones.data(), 32), 0x62A8AB43u);
    EXPECT_EQ(crc32(Crc32Variant::Castagnoli, ascending.data(), 32), 0x46DD794Eu);
    EXPECT_EQ(crc32(Crc32Variant::Castagnoli, descending.data(), 32), 0x113FDB5Cu);
}

// Every length up to a few folding blocks, plus large ones, so each code path of the folding
// implementations (head, 16/64/256-byte loops, tail) is compared with an independent one.
TEST(Crc32, AgreesWithZlibAndReferenceOverManyLengths) {
    const auto data = random_bytes(300000, 1);
    std::vector<std::size_t> lengths;
    for (std::size_t n = 0; n <= 1100; ++n) lengths.push_back(n);
    for (std::size_t n : {4095u, 4096u, 4097u, 65535u, 65536u, 65537u, 299999u, 300000u}) {
        lengths.push_back(n);
    }
    for (std::size_t n : lengths) {
        for (std::size_t offset : {0u, 1u, 3u}) {  // unaligned starts too
            if (offset + n > data.size()) continue;
            const auto* p = data.data() + offset;
            ASSERT_EQ(crc32(Crc32Variant::Ieee, p, n),
                      static_cast<std::uint32_t>(::crc32(0, p, static_cast<uInt>(n))))
                << "IEEE, length " << n << ", offset " << offset;
            ASSERT_EQ(crc32(Crc32Variant::Castagnoli, p, n), reference_crc32c(p, n))
                << "Castagnoli, length " << n << ", offset " << offset;
        }
    }
}

TEST(Crc32, StreamingEqualsOneShot) {
    const auto data = random_bytes(100000, 2);
    std::mt19937 rng(3);
    for (auto variant : {Crc32Variant::Ieee, Crc32Variant::Castagnoli}) {
        const std::uint32_t whole = crc32(variant, data.data(), data.size());
        for (int round = 0; round < 50; ++round) {
            Crc32 c(variant);
            std::size_t at = 0;
            while (at < data.size()) {
                const std::size_t n = std::min<std::size_t>(rng() % 5000, data.size() - at);
                c.update(data.data() + at, n);  // includes 0-length updates
                at += n;
            }
            ASSERT_EQ(c.value(), whole) << to_string(variant) << " round " << round;
        }
        Crc32 bytewise(variant);
        for (auto b : data) bytewise.update(&b, 1);
        EXPECT_EQ(bytewise.value(), whole) << to_string(variant);
    }
}

TEST(Crc32, VariantNames) {
    EXPECT_EQ(to_string(Crc32Variant::Ieee), "ieee");
    EXPECT_EQ(to_string(Crc32Variant::Castagnoli), "castagnoli");
    EXPECT_EQ(parse_crc32_variant("ieee"), Crc32Variant::Ieee);
    EXPECT_EQ(parse_crc32_variant("IEEE"), Crc32Variant::Ieee);
    EXPECT_EQ(parse_crc32_variant("castagnoli"), Crc32Variant::Castagnoli);
    EXPECT_EQ(parse_crc32_variant("crc32c"), Crc32Variant::Castagnoli);
    EXPECT_EQ(parse_crc32_variant("crc16"), std::nullopt);
    EXPECT_EQ(parse_crc32_variant(""), std::nullopt);
}

}  // namespace
}  // namespace daemoneye::wire
