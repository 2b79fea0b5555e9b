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

struct FrameHeader {
    std::uint32_t length = 0;
    std::uint32_t crc = 0;
};

void write_header(std::uint8_t* out, FrameHeader header);
FrameHeader read_header(const std::uint8_t* in);

// Ok when 0 < length <= max_frame_bytes; InvalidLength / TooLarge otherwise.
Result<void, IpcError> check_length(std::uint32_t length, std::size_t max_frame_bytes);

// Appends one whole frame (header + payload) to `out`.
Result<void, IpcError> append_frame(std::vector<std::uint8_t>& out,
                                    std::span<const std::uint8_t> payload, Crc32Variant variant,
                                    std::size_t max_frame_bytes);

// Serialises `message` straight into `out` as one frame (no intermediate copy).
Result<void, IpcError> append_message_frame(std::vector<std::uint8_t>& out,
                                            const google::protobuf::MessageLite& message,
                                            Crc32Variant variant, std::size_t max_frame_bytes);

// Parses a payload into `message`; Decode names the type and size when it is not that message.
Result<void, IpcError> decode_payload(std::span<const std::uint8_t> payload,
                                      google::protobuf::MessageLite& message);

// Incremental decoder over a byte stream: feed() whatever arrived, next() yields whole frames.
// Used by the framed stream and the fuzzer; it never allocates more than header + max payload.
class FrameDecoder {
public:
    FrameDecoder(std::size_t max_frame_bytes, Crc32Variant variant);

    // Space to read into: at least `min_free` bytes (the caller reads, then commit()s).
    std::span<std::uint8_t> prepare(std::size_t min_free);
    void commit(std::size_t n);
    void feed(std::span<const std::uint8_t> bytes);  // copy in: prepare + memcpy + commit

    // A complete frame's payload (valid until the next next()/prepare()/feed() call), nothing
    // yet (std::nullopt: need more bytes), or an error. After an error the stream is unusable.
    Result<std::optional<std::span<const std::uint8_t>>, IpcError> next();

    std::size_t buffered() const { return end_ - begin_; }
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
