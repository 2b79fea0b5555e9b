// IpcError from the IPC seed. Every failure of the wire layer is one of these, with numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

namespace daemoneye::wire {

struct IpcError {
    enum class Kind {
        Timeout,
        TooLarge,
        CrcMismatch,
        Io,
        Decode,
        Encode,
        PeerClosed,
        InvalidLength
    };

    Kind kind = Kind::Io;
    // TooLarge: the announced/attempted payload length. InvalidLength: the length.
    // Timeout, PeerClosed: bytes of the unfinished frame in hand (0 = between frames, i.e. a
    // clean close or an idle timeout).
    std::uint64_t size = 0;
    // TooLarge: the limit. Timeout, PeerClosed: the whole frame's size (header + payload) once
    // its header has arrived, else 0.
    std::uint64_t max_size = 0;
    std::uint32_t expected = 0;  // CrcMismatch: CRC carried by the frame
    std::uint32_t actual = 0;    // CrcMismatch: CRC computed over the payload
    std::error_code io;          // Io (operation_aborted when the stream was closed or cancelled)
    std::string detail;          // free text: what was being read/decoded, how far it got

    static IpcError timeout(std::string detail);
    static IpcError too_large(std::uint64_t size, std::uint64_t max_size);
    static IpcError crc_mismatch(std::uint32_t expected, std::uint32_t actual);
    static IpcError io_error(std::error_code ec, std::string detail = {});
    static IpcError decode(std::string detail);
    static IpcError encode(std::string detail);
    static IpcError peer_closed(std::string detail = {});
    static IpcError invalid_length(std::uint64_t length);

    // One line a person can act on, e.g.
    // "frame too large: 2097152 bytes exceeds max_frame_bytes 1048576 by 1048576".
    std::string message() const;
};

const char* to_string(IpcError::Kind kind);

}  // namespace daemoneye::wire
