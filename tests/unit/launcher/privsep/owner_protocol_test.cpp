// Tests launcher/src/privsep/owner_protocol.cpp: every malformed request is refused with a reason,
// valid ones round-trip, responses are split under the message limit and decoded strictly.
#include "daemoneye/launcher/privsep/owner_protocol.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

namespace daemoneye::launcher::privsep {
namespace {

using ::testing::HasSubstr;

TEST(OwnerProtocol, RequestRoundTrips) {
    const std::vector<std::uint64_t> inodes = {1, 0, 123456789012345ULL};
    const auto bytes = encode_request(77, inodes);
    EXPECT_EQ(bytes.size(), kHeaderBytes + 3 * 8);
    auto r = decode_request(bytes);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->request_id, 77u);
    EXPECT_EQ(r->inodes, inodes);
    EXPECT_EQ(peek_request_id(bytes), 77u);
    EXPECT_TRUE(decode_request(encode_request(1, {})).ok()) << "an empty lookup is valid";
}

TEST(OwnerProtocol, MalformedRequestsAreRefusedSayingWhy) {
    auto bytes = encode_request(5, std::vector<std::uint64_t>{1, 2});
    auto refused = [](std::vector<std::uint8_t> b) {
        auto r = decode_request(b);
        return r.ok() ? std::string("accepted") : r.error().message;
    };
    EXPECT_THAT(refused({1, 2, 3}), HasSubstr("shorter than the 16-byte header"));
    auto b = bytes;
    b[0] ^= 0xff;
    EXPECT_THAT(refused(b), HasSubstr("bad magic"));
    b = bytes;
    b[4] = 9;
    EXPECT_THAT(refused(b), HasSubstr("protocol version 9"));
    b = bytes;
    b[6] = 2;
    EXPECT_THAT(refused(b), HasSubstr("unknown kind 2"));
    b = bytes;
    b.push_back(0);
    EXPECT_THAT(refused(b), HasSubstr("33 bytes, expected 16 + 8 x 2 = 32"));
    b = bytes;
    b.resize(b.size() - 8);
    EXPECT_THAT(refused(b), HasSubstr("expected 16 + 8 x 2"));
    b = bytes;
    const std::uint32_t huge = 0xffffffffu;  // count overflow attempt
    std::memcpy(b.data() + 12, &huge, 4);
    EXPECT_THAT(refused(b), HasSubstr("over the limit of " + std::to_string(kMaxInodes)));
    std::vector<std::uint8_t> big(kMaxRequestBytes + 1, 0);
    EXPECT_THAT(refused(big), HasSubstr("over the limit"));
    // The largest valid request is accepted.
    EXPECT_TRUE(decode_request(encode_request(1, std::vector<std::uint64_t>(kMaxInodes, 3))).ok());
}

TEST(OwnerProtocol, ResponsesStayUnderTheMessageLimitAndRoundTrip) {
    std::vector<OwnerRecord> records;
    for (std::uint32_t i = 0; i < 200; ++i) {
        records.push_back({1000u + i, i + 1, "comm" + std::to_string(i),
                           "/" + std::string(kMaxExeBytes + 10, 'x')});  // cut to the maximum
    }
    const auto messages = encode_owner_responses(9, records);
    ASSERT_GT(messages.size(), 1u);
    std::vector<OwnerRecord> back;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        EXPECT_LE(messages[i].size(), kMaxResponseBytes);
        auto r = decode_response(messages[i]);
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_EQ(r->header.status, ReplyStatus::Ok);
        EXPECT_EQ(r->header.request_id, 9u);
        EXPECT_EQ((r->header.flags & kFlagLast) != 0, i + 1 == messages.size());
        back.insert(back.end(), r->records.begin(), r->records.end());
    }
    ASSERT_EQ(back.size(), records.size());
    EXPECT_EQ(back[5].inode, 1005u);
    EXPECT_EQ(back[5].pid, 6u);
    EXPECT_EQ(back[5].comm, "comm5");
    EXPECT_EQ(back[5].exe.size(), kMaxExeBytes);

    const auto empty = encode_owner_responses(3, {});
    ASSERT_EQ(empty.size(), 1u);
    auto e = decode_response(empty[0]);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->header.count, 0u);
    EXPECT_NE(e->header.flags & kFlagLast, 0);
}

TEST(OwnerProtocol, TheLastReplyCarriesTheWalkCounters) {
    std::vector<OwnerRecord> records;
    for (std::uint32_t i = 0; i < 100; ++i) {
        records.push_back({1000u + i, i + 1, "c", "/" + std::string(kMaxExeBytes, 'x')});
    }
    const auto messages = encode_owner_responses(5, records, WalkStats{7, 1234});
    ASSERT_GT(messages.size(), 1u);
    std::size_t seen = 0;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        EXPECT_LE(messages[i].size(), kMaxResponseBytes);
        auto r = decode_response(messages[i]);
        ASSERT_TRUE(r.ok()) << r.error().message;
        seen += r->records.size();
        const bool last = i + 1 == messages.size();
        EXPECT_EQ((r->header.flags & kFlagStats) != 0, last);
        EXPECT_EQ(r->stats.pids_unreadable, last ? 7u : 0u);
        EXPECT_EQ(r->stats.fds_examined, last ? 1234u : 0u);
    }
    EXPECT_EQ(seen, records.size());

    auto only = encode_owner_responses(6, {}, WalkStats{3, 9});
    ASSERT_EQ(only.size(), 1u);
    auto r = decode_response(only[0]);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->stats.pids_unreadable, 3u);
    EXPECT_EQ(r->stats.fds_examined, 9u);
    auto cut = only[0];
    cut.resize(kHeaderBytes + kStatsBytes - 1);
    EXPECT_FALSE(decode_response(cut).ok()) << "stats flag without the counters";
}

TEST(OwnerProtocol, TextRepliesAndCorruptResponses) {
    auto t = decode_response(encode_text_response(ReplyStatus::BadRequest, 4, "nope"));
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->header.status, ReplyStatus::BadRequest);
    EXPECT_EQ(t->text, "nope");
    EXPECT_EQ(decode_response(encode_text_response(ReplyStatus::Ready, 0, std::string(5000, 'a')))
                  ->text.size(),
              kMaxReasonBytes);

    auto m = encode_owner_responses(1, std::vector<OwnerRecord>{{1, 2, "c", "/e"}})[0];
    auto bad = m;
    bad.pop_back();
    EXPECT_FALSE(decode_response(bad).ok()) << "truncated record";
    bad = m;
    bad.push_back(0);
    EXPECT_FALSE(decode_response(bad).ok()) << "trailing bytes";
    bad = m;
    const std::uint16_t many = 500;
    std::memcpy(bad.data() + 14, &many, 2);
    EXPECT_FALSE(decode_response(bad).ok()) << "count beyond the message";
    bad = m;
    bad[6] = 42;
    EXPECT_FALSE(decode_response(bad).ok()) << "unknown status";
}

}  // namespace
}  // namespace daemoneye::launcher::privsep
