// The frame: [length: u32 LE][crc32: u32 LE][payload: length bytes]. A length of 0 or above the
// configured maximum is rejected before anything is allocated or read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemoneye/result.hpp"
#include "daemoneye/wire/crc32.hpp"
#include "daemoneye/wire/ipc_error.hpp"

namespace google::protobuf {
class MessageLite;
}

namespace daemoneye::wire {

inline constexpr std::size_t kFrameHeaderSize = 8;
// The largest payload any frame can carry, whatever max_frame_bytes says: the length is a u32 and
// protobuf parses at most INT_MAX bytes. A larger max_frame_bytes is clamped to this.
inline constexpr std::size_t kFrameLengthLimit = 0x7fffffff;

struct FrameHeader {
    std::uint32_t length = 0;
    std::uint32_t crc = 0;
};

void write_header(std::uint8_t* out, FrameHeader header);
FrameHeader read_header(const std::uint8_t* in);

// Ok when 0 < length <= max_frame_bytes; InvalidLength / TooLarge otherwise.
Result<void, IpcError> check_length(std::uint64_t length, std::size_t max_frame_bytes);

// Appends one whole frame (header + payload) to `out`; on error `out` is unchanged.
Result<void, IpcError> append_frame(std::vector<std::uint8_t>& out,
                                    std::span<const std::uint8_t> payload, Crc32Variant variant,
                                    std::size_t max_frame_bytes);

// Serialises `message` straight into `out` as one frame (no intermediate copy); on error `out` is
// unchanged. An all-default message encodes to 0 bytes and cannot be a frame: Encode.
Result<void, IpcError> append_message_frame(std::vector<std::uint8_t>& out,
                                            const google::protobuf::MessageLite& message,
                                            Crc32Variant variant, std::size_t max_frame_bytes);

// Parses a payload into `message`; Decode names the type and size when it is not that message.
Result<void, IpcError> decode_payload(std::span<const std::uint8_t> payload,
                                      google::protobuf::MessageLite& message);

// Incremental decoder over a byte stream: feed() whatever arrived, next() yields whole frames.
// Used by the framed stream and the fuzzer. A frame's length is checked as soon as its header is
// in: a bad one is an error before any room is made for its payload, so the buffer never grows
// past max(header + max_frame_bytes, buffered + what the caller prepare()s).
class FrameDecoder {
  public:
    FrameDecoder(std::size_t max_frame_bytes, Crc32Variant variant);

    // Space to read into: at least `min_free` bytes (the caller reads, then commit()s).
    std::span<std::uint8_t> prepare(std::size_t min_free);
    void commit(std::size_t n);
    void feed(std::span<const std::uint8_t> bytes);  // copy in: prepare + memcpy + commit

    // A complete frame's payload (valid until the next prepare()/feed() call), nothing yet
    // (std::nullopt: need more bytes), or an error. An error is sticky: the byte stream has lost
    // its framing, so every later next() returns the same error; drop the connection.
    Result<std::optional<std::span<const std::uint8_t>>, IpcError> next();

    std::size_t buffered() const { return end_ - begin_; }
    std::size_t capacity() const { return buf_.size(); }  // bytes allocated for the buffer
    std::size_t max_frame_bytes() const { return max_frame_bytes_; }
    // Payload length of the frame in progress, once its header has arrived.
    std::optional<std::uint32_t> pending_length() const;

  private:
    std::size_t max_frame_bytes_;
    Crc32Variant variant_;
    std::vector<std::uint8_t> buf_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace daemoneye::wire
