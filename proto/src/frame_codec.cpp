#include "daemoneye/wire/frame_codec.hpp"

#include <google/protobuf/message_lite.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace daemoneye::wire {

namespace {

void store_le32(std::uint8_t* out, std::uint32_t v) {
    out[0] = static_cast<std::uint8_t>(v);
    out[1] = static_cast<std::uint8_t>(v >> 8);
    out[2] = static_cast<std::uint8_t>(v >> 16);
    out[3] = static_cast<std::uint8_t>(v >> 24);
}

std::uint32_t load_le32(const std::uint8_t* in) {
    return static_cast<std::uint32_t>(in[0]) | (static_cast<std::uint32_t>(in[1]) << 8) |
           (static_cast<std::uint32_t>(in[2]) << 16) | (static_cast<std::uint32_t>(in[3]) << 24);
}

}  // namespace

void write_header(std::uint8_t* out, FrameHeader header) {
    store_le32(out, header.length);
    store_le32(out + 4, header.crc);
}

FrameHeader read_header(const std::uint8_t* in) {
    return {load_le32(in), load_le32(in + 4)};
}

Result<void, IpcError> check_length(std::uint64_t length, std::size_t max_frame_bytes) {
    const std::size_t max = std::min(max_frame_bytes, kFrameLengthLimit);
    if (length == 0) return unexpected(IpcError::invalid_length(length));
    if (length > max) return unexpected(IpcError::too_large(length, max));
    return {};
}

Result<void, IpcError> append_frame(std::vector<std::uint8_t>& out,
                                    std::span<const std::uint8_t> payload, Crc32Variant variant,
                                    std::size_t max_frame_bytes) {
    if (auto ok = check_length(payload.size(), max_frame_bytes); !ok) return ok;
    // insert() copies without first zero-filling the way resize() would: one pass, not two.
    std::uint8_t header[kFrameHeaderSize];
    write_header(header, {static_cast<std::uint32_t>(payload.size()),
                          crc32(variant, payload.data(), payload.size())});
    out.reserve(out.size() + kFrameHeaderSize + payload.size());
    out.insert(out.end(), header, header + kFrameHeaderSize);
    out.insert(out.end(), payload.begin(), payload.end());
    return {};
}

Result<void, IpcError> append_message_frame(std::vector<std::uint8_t>& out,
                                            const google::protobuf::MessageLite& message,
                                            Crc32Variant variant, std::size_t max_frame_bytes) {
    const std::size_t size = message.ByteSizeLong();
    if (size == 0) {
        // An all-default message encodes to nothing, but a frame may not be empty.
        return unexpected(IpcError::encode(message.GetTypeName() +
                                           " encodes to 0 bytes (all fields default); a frame "
                                           "carries at least 1 byte"));
    }
    if (auto ok = check_length(size, max_frame_bytes); !ok) {
        ok.error().detail = "encoding " + message.GetTypeName();
        return ok;
    }
    const std::size_t at = out.size();
    out.resize(at + kFrameHeaderSize + size);
    std::uint8_t* payload = out.data() + at + kFrameHeaderSize;
    // ByteSizeLong() cached the sizes; serialising with them avoids a second size pass.
    message.SerializeWithCachedSizesToArray(payload);
    write_header(out.data() + at,
                 {static_cast<std::uint32_t>(size), crc32(variant, payload, size)});
    return {};
}

Result<void, IpcError> decode_payload(std::span<const std::uint8_t> payload,
                                      google::protobuf::MessageLite& message) {
    if (payload.size() > kFrameLengthLimit ||
        !message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        return unexpected(IpcError::decode("a payload of " + std::to_string(payload.size()) +
                                           " bytes is not a valid " + message.GetTypeName()));
    }
    return {};
}

FrameDecoder::FrameDecoder(std::size_t max_frame_bytes, Crc32Variant variant)
    : max_frame_bytes_(std::min(max_frame_bytes, kFrameLengthLimit)), variant_(variant) {}

std::span<std::uint8_t> FrameDecoder::prepare(std::size_t min_free) {
    if (begin_ == end_) begin_ = end_ = 0;
    if (buf_.size() - end_ < min_free) {
        // Compact first; grow only when compaction is not enough.
        if (begin_ > 0) {
            std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (buf_.size() - end_ < min_free) buf_.resize(end_ + min_free);
    }
    return {buf_.data() + end_, buf_.size() - end_};
}

std::optional<std::uint32_t> FrameDecoder::pending_length() const {
    if (end_ - begin_ < kFrameHeaderSize) return std::nullopt;
    return read_header(buf_.data() + begin_).length;
}

void FrameDecoder::commit(std::size_t n) {
    end_ += n;
}

void FrameDecoder::feed(std::span<const std::uint8_t> bytes) {
    auto space = prepare(bytes.size());
    std::memcpy(space.data(), bytes.data(), bytes.size());
    commit(bytes.size());
}

Result<std::optional<std::span<const std::uint8_t>>, IpcError> FrameDecoder::next() {
    using Out = std::optional<std::span<const std::uint8_t>>;
    const std::size_t have = end_ - begin_;
    if (have < kFrameHeaderSize) return Out{};
    const FrameHeader h = read_header(buf_.data() + begin_);
    if (auto ok = check_length(h.length, max_frame_bytes_); !ok) {
        ok.error().detail = "announced by a frame header";
        return unexpected(std::move(ok.error()));
    }
    if (have < kFrameHeaderSize + h.length) {
        // Make room for the whole frame now that its length is known to be acceptable.
        (void)prepare(kFrameHeaderSize + h.length - have);
        return Out{};
    }
    const std::uint8_t* payload = buf_.data() + begin_ + kFrameHeaderSize;
    const std::uint32_t actual = crc32(variant_, payload, h.length);
    if (actual != h.crc) {
        auto e = IpcError::crc_mismatch(h.crc, actual);
        e.detail = std::string(to_string(variant_)) + " over a " + std::to_string(h.length) +
                   "-byte payload";
        return unexpected(std::move(e));
    }
    begin_ += kFrameHeaderSize + h.length;
    return Out{std::span<const std::uint8_t>(payload, h.length)};
}

}  // namespace daemoneye::wire
