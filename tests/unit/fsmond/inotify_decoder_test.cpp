// Tests plugins/fsmond/src/inotify_decoder.cpp with hand-built and truncated buffers.
#include "inotify_decoder.hpp"

#include <gtest/gtest.h>
#include <sys/inotify.h>

#include <cstring>

namespace daemoneye::fsmond {
namespace {

void append(std::vector<uint8_t>& buf, int wd, uint32_t mask, uint32_t cookie,
            const std::string& name, uint32_t padded_len) {
    inotify_event ev{};
    ev.wd = wd;
    ev.mask = mask;
    ev.cookie = cookie;
    ev.len = padded_len;
    const size_t at = buf.size();
    buf.resize(at + sizeof ev + padded_len, 0);
    std::memcpy(buf.data() + at, &ev, sizeof ev);
    std::memcpy(buf.data() + at + sizeof ev, name.data(),
                std::min<size_t>(name.size(), padded_len));
}

TEST(InotifyDecoder, DecodesRecordsWithPaddedNames) {
    std::vector<uint8_t> buf;
    append(buf, 1, IN_CREATE, 0, "a.txt", 16);
    append(buf, 1, IN_MOVED_FROM, 77, "b", 16);
    append(buf, 2, IN_DELETE_SELF, 0, "", 0);
    const auto r = decode_inotify(buf);
    EXPECT_EQ(r.malformed, 0u);
    ASSERT_EQ(r.records.size(), 3u);
    EXPECT_EQ(r.records[0].name, "a.txt");
    EXPECT_EQ(r.records[1].cookie, 77u);
    EXPECT_EQ(r.records[1].name, "b");
    EXPECT_EQ(r.records[2].wd, 2);
    EXPECT_TRUE(r.records[2].name.empty());
}

TEST(InotifyDecoder, NameWithoutNulIsBoundedByLen) {
    std::vector<uint8_t> buf;
    append(buf, 1, IN_MODIFY, 0, "abcdefgh", 8);  // exactly len bytes, no terminator
    const auto r = decode_inotify(buf);
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.records[0].name, "abcdefgh");
}

TEST(InotifyDecoder, TruncatedHeaderAndOverlongNameStop) {
    std::vector<uint8_t> buf;
    append(buf, 1, IN_CREATE, 0, "ok", 16);
    auto cut = buf;
    cut.resize(cut.size() + 5, 0);  // a partial header after one good record
    auto r = decode_inotify(cut);
    EXPECT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.malformed, 1u);
    EXPECT_NE(r.first_error.find("truncated"), std::string::npos);

    std::vector<uint8_t> lying;
    append(lying, 1, IN_CREATE, 0, "x", 16);
    inotify_event ev;
    std::memcpy(&ev, lying.data(), sizeof ev);
    ev.len = 4096;  // claims more than the buffer holds
    std::memcpy(lying.data(), &ev, sizeof ev);
    r = decode_inotify(lying);
    EXPECT_TRUE(r.records.empty());
    EXPECT_EQ(r.malformed, 1u);
}

}  // namespace
}  // namespace daemoneye::fsmond
