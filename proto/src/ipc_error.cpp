#include "daemoneye/wire/ipc_error.hpp"

#include <iomanip>
#include <sstream>

namespace daemoneye::wire {

const char* to_string(IpcError::Kind kind) {
    switch (kind) {
        case IpcError::Kind::Timeout:
            return "Timeout";
        case IpcError::Kind::TooLarge:
            return "TooLarge";
        case IpcError::Kind::CrcMismatch:
            return "CrcMismatch";
        case IpcError::Kind::Io:
            return "Io";
        case IpcError::Kind::Decode:
            return "Decode";
        case IpcError::Kind::Encode:
            return "Encode";
        case IpcError::Kind::PeerClosed:
            return "PeerClosed";
        case IpcError::Kind::InvalidLength:
            return "InvalidLength";
    }
    return "Unknown";
}

IpcError IpcError::timeout(std::string detail) {
    IpcError e;
    e.kind = Kind::Timeout;
    e.detail = std::move(detail);
    return e;
}
IpcError IpcError::too_large(std::uint64_t size, std::uint64_t max_size) {
    IpcError e;
    e.kind = Kind::TooLarge;
    e.size = size;
    e.max_size = max_size;
    return e;
}
IpcError IpcError::crc_mismatch(std::uint32_t expected, std::uint32_t actual) {
    IpcError e;
    e.kind = Kind::CrcMismatch;
    e.expected = expected;
    e.actual = actual;
    return e;
}
IpcError IpcError::io_error(std::error_code ec, std::string detail) {
    IpcError e;
    e.kind = Kind::Io;
    e.io = ec;
    e.detail = std::move(detail);
    return e;
}
IpcError IpcError::decode(std::string detail) {
    IpcError e;
    e.kind = Kind::Decode;
    e.detail = std::move(detail);
    return e;
}
IpcError IpcError::encode(std::string detail) {
    IpcError e;
    e.kind = Kind::Encode;
    e.detail = std::move(detail);
    return e;
}
IpcError IpcError::peer_closed(std::string detail) {
    IpcError e;
    e.kind = Kind::PeerClosed;
    e.detail = std::move(detail);
    return e;
}
IpcError IpcError::invalid_length(std::uint64_t length) {
    IpcError e;
    e.kind = Kind::InvalidLength;
    e.size = length;
    return e;
}

std::string IpcError::message() const {
    std::ostringstream out;
    switch (kind) {
        case Kind::Timeout:
            out << "timed out";
            break;
        case Kind::TooLarge:
            out << "frame too large: " << size << " bytes exceeds max_frame_bytes " << max_size;
            if (size > max_size) out << " by " << size - max_size;
            break;
        case Kind::CrcMismatch:
            out << std::hex << std::setfill('0') << "CRC32 mismatch: frame carries 0x"
                << std::setw(8) << expected << ", payload computes to 0x" << std::setw(8) << actual
                << std::dec;
            break;
        case Kind::Io:
            out << "I/O error: " << io.message();
            break;
        case Kind::Decode:
            out << "cannot decode payload";
            break;
        case Kind::Encode:
            out << "cannot encode message";
            break;
        case Kind::PeerClosed:
            out << "peer closed the connection";
            break;
        case Kind::InvalidLength:
            out << "invalid frame length " << size << " (a frame carries at least 1 byte)";
            break;
    }
    if (!detail.empty()) out << ": " << detail;
    return out.str();
}

}  // namespace daemoneye::wire
