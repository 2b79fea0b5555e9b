// libFuzzer target for FrameDecoder (proto/src/frame_codec.cpp): arbitrary bytes, delivered in
// arbitrary pieces, never crash, hang or over-allocate the decoder, and every frame it yields is
// exactly a well-formed frame of the input.
//
// Input: [mode][max selector][stream bytes...]
//   mode bit 0      CRC variant (0 IEEE, 1 Castagnoli)
//   mode bits 1..7  delivery: piece sizes come from a small PRNG seeded with them (0 = whole)
//   max selector    max_frame_bytes = 1 + selector * 64 (1..16321), small so TooLarge is reachable
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "daemoneye/wire/frame_codec.hpp"

using namespace daemoneye::wire;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const auto variant = (data[0] & 1) ? Crc32Variant::Castagnoli : Crc32Variant::Ieee;
    std::uint32_t rng = data[0] >> 1;
    const std::size_t max = 1 + std::size_t{data[1]} * 64;
    const std::uint8_t* stream = data + 2;
    const std::size_t len = size - 2;

    FrameDecoder decoder(max, variant);
    std::size_t fed = 0;       // bytes of `stream` given to the decoder
    std::size_t consumed = 0;  // bytes of `stream` accounted for by frames
    std::size_t largest_piece = 0;
    while (fed < len) {
        std::size_t piece = len - fed;
        if (rng != 0) {
            rng = rng * 1103515245u + 12345u;
            piece = std::min<std::size_t>(piece, 1 + (rng >> 16) % 4096);
        }
        largest_piece = std::max(largest_piece, piece);
        if ((rng & 0x100) != 0) {
            decoder.feed({stream + fed, piece});
        } else {  // the framed stream's way: read into prepare()d space, then commit()
            auto space = decoder.prepare(piece);
            check(space.size() >= piece);
            std::memcpy(space.data(), stream + fed, piece);
            decoder.commit(piece);
        }
        fed += piece;

        for (;;) {
            auto next = decoder.next();
            if (!next) {
                const auto kind = next.error().kind;
                check(kind == IpcError::Kind::InvalidLength || kind == IpcError::Kind::TooLarge ||
                      kind == IpcError::Kind::CrcMismatch);
                check(!next.error().message().empty());
                auto again = decoder.next();  // sticky
                check(!again && again.error().kind == kind);
                return 0;
            }
            if (!*next) break;
            const auto payload = **next;
            // It is the next frame of the input, whole and well-formed.
            check(payload.size() >= 1 && payload.size() <= max);
            check(consumed + kFrameHeaderSize + payload.size() <= fed);
            const FrameHeader h = read_header(stream + consumed);
            check(h.length == payload.size());
            check(std::memcmp(payload.data(), stream + consumed + kFrameHeaderSize,
                              payload.size()) == 0);
            check(h.crc == crc32(variant, payload.data(), payload.size()));
            // Re-encoding gives back the same bytes.
            std::vector<std::uint8_t> again;
            check(append_frame(again, payload, variant, max).ok());
            check(std::memcmp(again.data(), stream + consumed, again.size()) == 0);
            consumed += kFrameHeaderSize + payload.size();
        }
        check(decoder.buffered() == fed - consumed);
        // Never more than one maximal frame plus what the caller asked room for.
        check(decoder.capacity() <= 2 * (kFrameHeaderSize + max + largest_piece));
    }
    return 0;
}
