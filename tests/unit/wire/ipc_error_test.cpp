// Tests proto/src/ipc_error.cpp: each error's text says what went wrong and by how much.
#include "daemoneye/wire/ipc_error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace daemoneye::wire {
namespace {

using ::testing::HasSubstr;

TEST(IpcError, KindNames) {
    EXPECT_STREQ(to_string(IpcError::Kind::Timeout), "Timeout");
    EXPECT_STREQ(to_string(IpcError::Kind::TooLarge), "TooLarge");
    EXPECT_STREQ(to_string(IpcError::Kind::CrcMismatch), "CrcMismatch");
    EXPECT_STREQ(to_string(IpcError::Kind::Io), "Io");
    EXPECT_STREQ(to_string(IpcError::Kind::Decode), "Decode");
    EXPECT_STREQ(to_string(IpcError::Kind::Encode), "Encode");
    EXPECT_STREQ(to_string(IpcError::Kind::PeerClosed), "PeerClosed");
    EXPECT_STREQ(to_string(IpcError::Kind::InvalidLength), "InvalidLength");
}

TEST(IpcError, TooLargeSaysSizeLimitAndExcess) {
    const auto e = IpcError::too_large(2097152, 1048576);
    EXPECT_EQ(e.kind, IpcError::Kind::TooLarge);
    EXPECT_EQ(e.size, 2097152u);
    EXPECT_EQ(e.max_size, 1048576u);
    EXPECT_EQ(e.message(),
              "frame too large: 2097152 bytes exceeds max_frame_bytes 1048576 by 1048576");
}

TEST(IpcError, CrcMismatchShowsBothValuesInFullHex) {
    auto e = IpcError::crc_mismatch(0xCBF43926u, 0x00000A0Bu);
    e.detail = "ieee over a 9-byte payload";
    EXPECT_EQ(e.expected, 0xCBF43926u);
    EXPECT_EQ(e.actual, 0x00000A0Bu);
    EXPECT_EQ(e.message(),
              "CRC32 mismatch: frame carries 0xcbf43926, payload computes to 0x00000a0b: ieee "
              "over a 9-byte payload");
}

TEST(IpcError, OtherKinds) {
    EXPECT_EQ(IpcError::invalid_length(0).message(),
              "invalid frame length 0 (a frame carries at least 1 byte)");
    EXPECT_EQ(IpcError::timeout("read deadline of 100 ms passed").message(),
              "timed out: read deadline of 100 ms passed");
    EXPECT_EQ(IpcError::peer_closed().message(), "peer closed the connection");
    EXPECT_THAT(
        IpcError::io_error(std::make_error_code(std::errc::connection_refused), "x").message(),
        HasSubstr("I/O error: Connection refused: x"));
    EXPECT_THAT(IpcError::decode("a 3-byte payload is not a valid T").message(),
                HasSubstr("3-byte payload"));
    EXPECT_THAT(IpcError::encode("T encodes to 0 bytes").message(), HasSubstr("0 bytes"));
}

}  // namespace
}  // namespace daemoneye::wire
