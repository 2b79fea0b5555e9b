// Tests plugins/fsmond/src/fanotify_decoder.cpp with hand-built DFID_NAME records.
#include "fanotify_decoder.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/fanotify.h>

#include <cstring>

namespace daemoneye::fsmond {
namespace {

std::vector<uint8_t> info_record(uint8_t type, uint64_t fsid, const std::vector<uint8_t>& handle,
                                 const std::string& name) {
    std::vector<uint8_t> r(
        sizeof(fanotify_event_info_header) + 8 + 8 + handle.size() + name.size() + 1, 0);
    r.resize((r.size() + 3) & ~size_t{3}, 0);
    fanotify_event_info_header h{};
    h.info_type = type;
    h.len = static_cast<uint16_t>(r.size());
    std::memcpy(r.data(), &h, sizeof h);
    std::memcpy(r.data() + sizeof h, &fsid, 8);
    const uint32_t hb = static_cast<uint32_t>(handle.size());
    const int32_t ht = 1;
    std::memcpy(r.data() + sizeof h + 8, &hb, 4);
    std::memcpy(r.data() + sizeof h + 12, &ht, 4);
    std::memcpy(r.data() + sizeof h + 16, handle.data(), handle.size());
    std::memcpy(r.data() + sizeof h + 16 + handle.size(), name.data(), name.size());
    return r;
}

void append_event(std::vector<uint8_t>& buf, uint64_t mask,
                  const std::vector<std::vector<uint8_t>>& infos) {
    fanotify_event_metadata md{};
    md.vers = FANOTIFY_METADATA_VERSION;
    md.metadata_len = sizeof md;
    md.mask = mask;
    md.fd = FAN_NOFD;
    md.pid = 42;
    size_t len = sizeof md;
    for (const auto& i : infos) len += i.size();
    md.event_len = static_cast<uint32_t>(len);
    const size_t at = buf.size();
    buf.resize(at + sizeof md);
    std::memcpy(buf.data() + at, &md, sizeof md);
    for (const auto& i : infos) buf.insert(buf.end(), i.begin(), i.end());
}

TEST(FanotifyDecoder, DecodesCreateAndRename) {
    std::vector<uint8_t> buf;
    append_event(
        buf, FAN_CREATE,
        {info_record(FAN_EVENT_INFO_TYPE_DFID_NAME, 9, {1, 2, 3, 4, 5, 6, 7, 8}, "new.txt")});
    append_event(buf, FAN_RENAME,
                 {info_record(FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, 9, {1, 2, 3, 4}, "a"),
                  info_record(FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, 9, {5, 6, 7, 8}, "b")});
    const auto r = decode_fanotify(buf);
    EXPECT_EQ(r.malformed, 0u) << r.first_error;
    ASSERT_EQ(r.records.size(), 2u);
    EXPECT_EQ(r.records[0].pid, 42);
    ASSERT_EQ(r.records[0].names.size(), 1u);
    EXPECT_EQ(r.records[0].names[0].name, "new.txt");
    EXPECT_EQ(r.records[0].names[0].fsid, 9u);
    EXPECT_EQ(r.records[0].names[0].handle.size(), 16u);  // 8 header bytes + 8 handle bytes
    ASSERT_EQ(r.records[1].names.size(), 2u);
    EXPECT_EQ(r.records[1].names[1].name, "b");
}

TEST(FanotifyDecoder, OverflowHasNoInfo) {
    std::vector<uint8_t> buf;
    append_event(buf, FAN_Q_OVERFLOW, {});
    const auto r = decode_fanotify(buf);
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_TRUE(r.records[0].mask & FAN_Q_OVERFLOW);
}

TEST(FanotifyDecoder, RejectsLyingLengths) {
    std::vector<uint8_t> buf;
    append_event(buf, FAN_CREATE,
                 {info_record(FAN_EVENT_INFO_TYPE_DFID_NAME, 9, {1, 2, 3, 4}, "x")});
    auto truncated = buf;
    truncated.resize(truncated.size() - 6);
    auto r = decode_fanotify(truncated);
    EXPECT_TRUE(r.records.empty());
    EXPECT_EQ(r.malformed, 1u);

    auto bad_handle = buf;  // handle_bytes larger than its record
    const uint32_t huge = 4000;
    std::memcpy(bad_handle.data() + sizeof(fanotify_event_metadata) +
                    sizeof(fanotify_event_info_header) + 8,
                &huge, 4);
    r = decode_fanotify(bad_handle);
    EXPECT_TRUE(r.records.empty());
    EXPECT_EQ(r.malformed, 1u);

    auto bad_version = buf;
    bad_version[4] = 99;
    EXPECT_EQ(decode_fanotify(bad_version).malformed, 1u);
}

}  // namespace
}  // namespace daemoneye::fsmond
