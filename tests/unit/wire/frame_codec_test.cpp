// Tests proto/src/frame_codec.cpp: the frame layout, round trips from 1 byte to max_frame_bytes,
// arbitrary delivery splits, many frames per read, and every decoder error.
#include "daemoneye/wire/frame_codec.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "daemoneye/bus/v1/bus.pb.h"

namespace daemoneye::wire {
namespace {

using ::testing::HasSubstr;
using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t kMax = 1024 * 1024;

Bytes random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng());
    return v;
}

Bytes frame_of(const Bytes& payload, Crc32Variant v = Crc32Variant::Ieee, std::size_t max = kMax) {
    Bytes out;
    auto ok = append_frame(out, payload, v, max);
    EXPECT_TRUE(ok) << (ok ? "" : ok.error().message());
    return out;
}

Bytes header_only(std::uint32_t length, std::uint32_t crc = 0) {
    Bytes h(kFrameHeaderSize);
    write_header(h.data(), {length, crc});
    return h;
}

// Pulls every complete frame out of the decoder; stops at "need more" or an error.
std::vector<Bytes> drain(FrameDecoder& d) {
    std::vector<Bytes> frames;
    for (;;) {
        auto next = d.next();
        EXPECT_TRUE(next) << (next ? "" : next.error().message());
        if (!next || !*next) return frames;
        frames.emplace_back((**next).begin(), (**next).end());
    }
}

TEST(FrameCodec, HeaderIsLittleEndianLengthThenCrc) {
    const Bytes payload = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    const Bytes f = frame_of(payload);
    ASSERT_EQ(f.size(), 8u + 9u);
    EXPECT_EQ(Bytes(f.begin(), f.begin() + 8), (Bytes{9, 0, 0, 0, 0x26, 0x39, 0xF4, 0xCB}));
    EXPECT_EQ(Bytes(f.begin() + 8, f.end()), payload);
    const Bytes c = frame_of(payload, Crc32Variant::Castagnoli);
    EXPECT_EQ(Bytes(c.begin() + 4, c.begin() + 8), (Bytes{0x83, 0x92, 0x06, 0xE3}));
    const auto h = read_header(f.data());
    EXPECT_EQ(h.length, 9u);
    EXPECT_EQ(h.crc, 0xCBF43926u);
}

TEST(FrameCodec, RoundTripFromOneByteToMaxFrameBytes) {
    for (auto variant : {Crc32Variant::Ieee, Crc32Variant::Castagnoli}) {
        for (std::size_t n :
             {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{8}, std::size_t{9},
              std::size_t{255}, std::size_t{4096}, std::size_t{65535}, std::size_t{65536},
              std::size_t{65537}, kMax - 1, kMax}) {
            const Bytes payload = random_bytes(n, static_cast<std::uint32_t>(n));
            FrameDecoder d(kMax, variant);
            d.feed(frame_of(payload, variant));
            auto frames = drain(d);
            ASSERT_EQ(frames.size(), 1u) << n;
            ASSERT_EQ(frames[0], payload) << n;
            EXPECT_EQ(d.buffered(), 0u);
        }
    }
}

TEST(FrameCodec, ByteByByteDelivery) {
    const std::vector<Bytes> payloads = {random_bytes(1, 1), random_bytes(100, 2),
                                         random_bytes(3000, 3), random_bytes(9, 4)};
    Bytes stream;
    for (const auto& p : payloads) {
        auto f = frame_of(p, Crc32Variant::Castagnoli);
        stream.insert(stream.end(), f.begin(), f.end());
    }
    FrameDecoder d(kMax, Crc32Variant::Castagnoli);
    std::vector<Bytes> got;
    for (std::size_t i = 0; i < stream.size(); ++i) {
        d.feed({&stream[i], 1});
        auto more = drain(d);
        // A frame completes exactly on its last byte, never earlier.
        for (auto& m : more) got.push_back(std::move(m));
    }
    EXPECT_EQ(got, payloads);
    EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameCodec, RandomSplitsAcrossManyFrames) {
    std::mt19937 rng(7);
    std::vector<Bytes> payloads;
    Bytes stream;
    for (int i = 0; i < 300; ++i) {
        payloads.push_back(random_bytes(1 + rng() % 20000, rng()));
        auto f = frame_of(payloads.back());
        stream.insert(stream.end(), f.begin(), f.end());
    }
    FrameDecoder d(kMax, Crc32Variant::Ieee);
    std::vector<Bytes> got;
    for (std::size_t at = 0; at < stream.size();) {
        const std::size_t n = std::min<std::size_t>(1 + rng() % 70000, stream.size() - at);
        auto space = d.prepare(n);  // the stream's way: read straight into the decoder
        ASSERT_GE(space.size(), n);
        std::memcpy(space.data(), stream.data() + at, n);
        d.commit(n);
        at += n;
        for (auto& m : drain(d)) got.push_back(std::move(m));
    }
    EXPECT_EQ(got, payloads);
}

TEST(FrameCodec, ManyFramesInOneRead) {
    Bytes stream;
    std::vector<Bytes> payloads;
    for (int i = 0; i < 1000; ++i) {
        payloads.push_back(random_bytes(1 + i % 64, i));
        auto ok = append_frame(stream, payloads.back(), Crc32Variant::Ieee, kMax);
        ASSERT_TRUE(ok);
    }
    FrameDecoder d(kMax, Crc32Variant::Ieee);
    d.feed(stream);
    EXPECT_EQ(drain(d), payloads);
}

TEST(FrameCodec, PendingLengthOnceHeaderIsIn) {
    FrameDecoder d(kMax, Crc32Variant::Ieee);
    const Bytes f = frame_of(random_bytes(50, 1));
    d.feed({f.data(), 7});
    EXPECT_EQ(d.pending_length(), std::nullopt);
    d.feed({f.data() + 7, 1});
    EXPECT_EQ(d.pending_length(), 50u);
}

TEST(FrameCodec, ZeroLengthIsInvalidBeforeAnyPayloadArrives) {
    FrameDecoder d(kMax, Crc32Variant::Ieee);
    d.feed(header_only(0));
    auto r = d.next();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::InvalidLength);
    EXPECT_EQ(r.error().size, 0u);
    EXPECT_THAT(r.error().message(), HasSubstr("invalid frame length 0"));
}

TEST(FrameCodec, TooLargeIsRejectedBeforeAllocating) {
    for (std::uint32_t announced :
         {std::uint32_t{kMax + 1}, std::uint32_t{0x7FFFFFFF}, std::uint32_t{0xFFFFFFFF}}) {
        FrameDecoder d(kMax, Crc32Variant::Ieee);
        d.feed(header_only(announced));
        const std::size_t before = d.capacity();
        auto r = d.next();
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().kind, IpcError::Kind::TooLarge);
        EXPECT_EQ(r.error().size, announced);
        EXPECT_EQ(r.error().max_size, kMax);
        EXPECT_EQ(d.capacity(), before) << "grew the buffer for a frame it refused";
        EXPECT_LT(d.capacity(), std::size_t{1024});
        EXPECT_THAT(r.error().message(),
                    HasSubstr(std::to_string(announced) + " bytes exceeds max_frame_bytes " +
                              std::to_string(kMax) + " by " + std::to_string(announced - kMax)));
        // Sticky: the stream has lost its framing.
        auto again = d.next();
        ASSERT_FALSE(again);
        EXPECT_EQ(again.error().kind, IpcError::Kind::TooLarge);
    }
}

TEST(FrameCodec, AcceptedLengthGrowsBufferOnlyToTheFrame) {
    FrameDecoder d(kMax, Crc32Variant::Ieee);
    d.feed(header_only(kMax));
    auto r = d.next();
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r);
    EXPECT_GE(d.capacity(), kFrameHeaderSize + kMax);
    EXPECT_LE(d.capacity(), kFrameHeaderSize + kMax + 64 * 1024);
}

TEST(FrameCodec, CrcMismatchReportsBothValues) {
    for (auto variant : {Crc32Variant::Ieee, Crc32Variant::Castagnoli}) {
        Bytes payload = random_bytes(1000, 9);
        Bytes f = frame_of(payload, variant);
        f[kFrameHeaderSize + 500] ^= 0x01;  // one flipped bit in transit
        const std::uint32_t carried = crc32(variant, payload.data(), payload.size());
        const std::uint32_t computed = crc32(variant, f.data() + kFrameHeaderSize, payload.size());
        FrameDecoder d(kMax, variant);
        d.feed(f);
        auto r = d.next();
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().kind, IpcError::Kind::CrcMismatch);
        EXPECT_EQ(r.error().expected, carried);
        EXPECT_EQ(r.error().actual, computed);
        EXPECT_NE(carried, computed);
        EXPECT_THAT(r.error().message(),
                    HasSubstr(std::string(to_string(variant)) + " over a 1000-byte payload"));
    }
}

TEST(FrameCodec, WrongVariantIsACrcMismatch) {
    FrameDecoder d(kMax, Crc32Variant::Castagnoli);
    d.feed(frame_of(random_bytes(64, 5), Crc32Variant::Ieee));
    auto r = d.next();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::CrcMismatch);
}

TEST(FrameCodec, AppendFrameRefusesBadLengthsAndLeavesOutputAlone) {
    Bytes out = {1, 2, 3};
    auto empty = append_frame(out, {}, Crc32Variant::Ieee, kMax);
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().kind, IpcError::Kind::InvalidLength);
    const Bytes big(101, 0);
    auto large = append_frame(out, big, Crc32Variant::Ieee, 100);
    ASSERT_FALSE(large);
    EXPECT_EQ(large.error().kind, IpcError::Kind::TooLarge);
    EXPECT_EQ(large.error().size, 101u);
    EXPECT_EQ(large.error().max_size, 100u);
    EXPECT_EQ(out, (Bytes{1, 2, 3}));
}

TEST(FrameCodec, MessageFrameRoundTrip) {
    bus::v1::Envelope in;
    in.mutable_hello()->set_instance_id("procmond-0");
    in.mutable_hello()->mutable_manifest()->set_name("procmond");
    Bytes out = {0xAA};  // appends after what is there
    ASSERT_TRUE(append_message_frame(out, in, Crc32Variant::Castagnoli, kMax));
    FrameDecoder d(kMax, Crc32Variant::Castagnoli);
    d.feed({out.data() + 1, out.size() - 1});
    auto r = d.next();
    ASSERT_TRUE(r);
    ASSERT_TRUE(*r);
    bus::v1::Envelope back;
    ASSERT_TRUE(decode_payload(**r, back));
    EXPECT_EQ(back.hello().instance_id(), "procmond-0");
    EXPECT_EQ(back.hello().manifest().name(), "procmond");
}

TEST(FrameCodec, MessageFrameErrors) {
    Bytes out;
    bus::v1::Envelope empty;  // no field set: encodes to 0 bytes
    auto e = append_message_frame(out, empty, Crc32Variant::Ieee, kMax);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().kind, IpcError::Kind::Encode);
    EXPECT_THAT(e.error().message(), HasSubstr("daemoneye.bus.v1.Envelope encodes to 0 bytes"));

    bus::v1::Envelope big;
    big.mutable_error()->set_message(std::string(200, 'x'));
    auto t = append_message_frame(out, big, Crc32Variant::Ieee, 100);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().kind, IpcError::Kind::TooLarge);
    EXPECT_EQ(t.error().max_size, 100u);
    EXPECT_GT(t.error().size, 200u);
    EXPECT_TRUE(out.empty());
}

TEST(FrameCodec, DecodeOfSomethingElseNamesTypeAndSize) {
    // 0xFF... is a field tag with an unterminated varint: not a protobuf message of any type.
    const Bytes junk = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    bus::v1::Envelope m;
    auto r = decode_payload(junk, m);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::Decode);
    EXPECT_THAT(r.error().message(),
                HasSubstr("a payload of 11 bytes is not a valid daemoneye.bus.v1.Envelope"));
}

TEST(FrameCodec, HugeConfiguredMaximumIsClamped) {
    FrameDecoder d(std::size_t{1} << 40, Crc32Variant::Ieee);
    EXPECT_EQ(d.max_frame_bytes(), kFrameLengthLimit);
    d.feed(header_only(0x80000000u));
    auto r = d.next();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::TooLarge);
}

}  // namespace
}  // namespace daemoneye::wire
