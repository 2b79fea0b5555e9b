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
    b[6] = 4;  // 2 and 3 are LINKS and OPEN_EXE since ABI 1.2
    EXPECT_THAT(refused(b), HasSubstr("unknown kind 4"));
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

// ---- proc.read (ABI 1.2): LINKS and OPEN_EXE ----
namespace daemoneye::launcher::privsep {
namespace {

TEST(OwnerProtocol, PidRequestsRoundTripAndBadOnesAreRefused) {
    auto r = decode_request(encode_pid_request(RequestKind::Links, 9, 4242));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->kind, RequestKind::Links);
    EXPECT_EQ(r->pid, 4242u);
    EXPECT_EQ(r->request_id, 9u);
    r = decode_request(encode_pid_request(RequestKind::OpenExe, 10, kMaxPid));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, RequestKind::OpenExe);
    for (std::uint32_t bad : {0u, kMaxPid + 1}) {
        auto b = decode_request(encode_pid_request(RequestKind::Links, 1, bad));
        ASSERT_FALSE(b.ok());
        EXPECT_THAT(b.error().message, HasSubstr("out of range"));
    }
    auto extra = encode_pid_request(RequestKind::OpenExe, 1, 5);
    extra.resize(extra.size() + 8);
    EXPECT_THAT(decode_request(extra).error().message, HasSubstr("exactly one pid"));
    auto none = encode_pid_request(RequestKind::Links, 1, 5);
    none.resize(kHeaderBytes);
    EXPECT_THAT(decode_request(none).error().message, HasSubstr("exactly one pid"));
}

TEST(OwnerProtocol, LinksAndExeRepliesRoundTripAndAreDecodedStrictly) {
    LinksRecord in;
    in.pid = 77;
    in.exe = "/usr/bin/sleep (deleted)";
    in.exe_ino = 5;
    in.exe_mtime_ns = -3;
    in.cwd_errno = 13;
    in.namespaces = {{"mnt", "mnt:[1]", 0}, {"net", "", 13}};
    in.root_exe_errno = 2;
    in.image_fingerprint = 0xabcdef;
    const auto bytes = encode_links_response(3, in);
    auto r = decode_response(bytes);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->header.request_id, 3u);
    EXPECT_EQ(r->links.pid, 77u);
    EXPECT_EQ(r->links.exe, in.exe);
    EXPECT_EQ(r->links.exe_ino, 5u);
    EXPECT_EQ(r->links.exe_mtime_ns, -3);
    EXPECT_EQ(r->links.cwd_errno, 13);
    ASSERT_EQ(r->links.namespaces.size(), 2u);
    EXPECT_EQ(r->links.namespaces[0].link, "mnt:[1]");
    EXPECT_EQ(r->links.namespaces[1].error, 13);
    EXPECT_EQ(r->links.root_exe_errno, 2);
    EXPECT_EQ(r->links.image_fingerprint, 0xabcdefu);
    for (std::size_t cut = kHeaderBytes; cut < bytes.size(); cut += 7) {
        EXPECT_FALSE(decode_response(std::span(bytes.data(), cut)).ok()) << cut;
    }
    auto trailing = bytes;
    trailing.push_back(0);
    EXPECT_FALSE(decode_response(trailing).ok());
    auto exe = decode_response(encode_exe_response(4, 13));
    ASSERT_TRUE(exe.ok());
    EXPECT_EQ(exe->exe_errno, 13);
    auto long_exe = encode_exe_response(4, 0);
    long_exe.push_back(1);
    EXPECT_FALSE(decode_response(long_exe).ok());
}

}  // namespace
}  // namespace daemoneye::launcher::privsep
