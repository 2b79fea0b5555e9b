// Tests plugins/netmond/src/inet_diag_decoder.cpp with hand-built kernel replies.
#include "inet_diag_decoder.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <climits>
#include <cstring>

namespace daemoneye::netmond {
namespace {

void append_msg(std::vector<uint8_t>& buf, uint16_t type, uint32_t seq, const void* payload,
                size_t len) {
    nlmsghdr h{};
    h.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(len));
    h.nlmsg_type = type;
    h.nlmsg_seq = seq;
    const size_t at = buf.size();
    buf.resize(at + NLMSG_SPACE(len));
    std::memcpy(buf.data() + at, &h, sizeof h);
    if (len) std::memcpy(buf.data() + at + NLMSG_HDRLEN, payload, len);
}

inet_diag_msg v4_msg(uint8_t state, const char* src, uint16_t sport, const char* dst,
                     uint16_t dport, uint32_t uid, uint32_t inode) {
    inet_diag_msg m{};
    m.idiag_family = AF_INET;
    m.idiag_state = state;
    inet_pton(AF_INET, src, m.id.idiag_src);
    inet_pton(AF_INET, dst, m.id.idiag_dst);
    m.id.idiag_sport = htons(sport);
    m.id.idiag_dport = htons(dport);
    m.idiag_uid = uid;
    m.idiag_inode = inode;
    return m;
}

TEST(InetDiagDecoder, RequestHasDumpFlagsAndProtocol) {
    const auto req = build_inet_diag_request(AF_INET6, Transport::Udp, ~0u, 42);
    ASSERT_EQ(req.size(), sizeof(nlmsghdr) + sizeof(inet_diag_req_v2));
    nlmsghdr h;
    std::memcpy(&h, req.data(), sizeof h);
    EXPECT_EQ(h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
    EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
    EXPECT_EQ(h.nlmsg_seq, 42u);
    inet_diag_req_v2 r;
    std::memcpy(&r, req.data() + sizeof h, sizeof r);
    EXPECT_EQ(r.sdiag_family, AF_INET6);
    EXPECT_EQ(r.sdiag_protocol, IPPROTO_UDP);
}

TEST(InetDiagDecoder, DecodesRowsThenDone) {
    std::vector<uint8_t> buf;
    auto a = v4_msg(kListen, "0.0.0.0", 22, "0.0.0.0", 0, 0, 100);
    auto b = v4_msg(kEstablished, "127.0.0.1", 40000, "127.0.0.1", 22, 1000, 101);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 7, &a, sizeof a);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 7, &b, sizeof b);
    int zero = 0;
    append_msg(buf, NLMSG_DONE, 7, &zero, sizeof zero);
    std::vector<SocketEntry> out;
    const auto r = decode_inet_diag(buf, Transport::Tcp, 7, out);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.error, 0);
    EXPECT_EQ(r.malformed, 0u);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].local_port, 22);
    EXPECT_TRUE(is_listener(out[0]));
    EXPECT_EQ(format_address(AF_INET, out[1].local_addr), "127.0.0.1");
    EXPECT_EQ(out[1].remote_port, 22);
    EXPECT_EQ(out[1].uid, 1000u);
    EXPECT_EQ(out[1].inode, 101u);
}

TEST(InetDiagDecoder, IgnoresOtherSequenceNumbers) {
    std::vector<uint8_t> buf;
    auto a = v4_msg(kListen, "0.0.0.0", 22, "0.0.0.0", 0, 0, 100);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 6, &a, sizeof a);  // stale reply of an earlier dump
    std::vector<SocketEntry> out;
    const auto r = decode_inet_diag(buf, Transport::Tcp, 7, out);
    EXPECT_FALSE(r.done);
    EXPECT_TRUE(out.empty());
}

TEST(InetDiagDecoder, ReportsKernelError) {
    std::vector<uint8_t> buf;
    nlmsgerr e{};
    e.error = -ENOENT;
    append_msg(buf, NLMSG_ERROR, 3, &e, sizeof e);
    std::vector<SocketEntry> out;
    const auto r = decode_inet_diag(buf, Transport::Udp, 3, out);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.error, ENOENT);
}

TEST(InetDiagDecoder, ForgedIntMinErrorDoesNotOverflow) {  // found by the fuzzer
    std::vector<uint8_t> buf;
    nlmsgerr e{};
    e.error = INT_MIN;
    append_msg(buf, NLMSG_ERROR, 3, &e, sizeof e);
    std::vector<SocketEntry> out;
    EXPECT_EQ(decode_inet_diag(buf, Transport::Udp, 3, out).error, EIO);
}

TEST(InetDiagDecoder, ShortPayloadAndBadFamilyAreSkipped) {
    std::vector<uint8_t> buf;
    auto good = v4_msg(kEstablished, "10.0.0.1", 1, "10.0.0.2", 2, 0, 5);
    auto bad_family = good;
    bad_family.idiag_family = 99;
    auto bad_state = good;
    bad_state.idiag_state = 200;
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 1, &good, 20);  // truncated payload
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 1, &bad_family, sizeof bad_family);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 1, &bad_state, sizeof bad_state);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 1, &good, sizeof good);
    std::vector<SocketEntry> out;
    const auto r = decode_inet_diag(buf, Transport::Tcp, 1, out);
    EXPECT_EQ(r.malformed, 3u);
    EXPECT_EQ(out.size(), 1u);
    EXPECT_NE(r.first_error.find("inet_diag_msg of 20 bytes"), std::string::npos) << r.first_error;
}

TEST(InetDiagDecoder, LengthPastTheBufferStopsDecoding) {
    std::vector<uint8_t> buf;
    auto good = v4_msg(kEstablished, "10.0.0.1", 1, "10.0.0.2", 2, 0, 5);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 1, &good, sizeof good);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 1, &good, sizeof good);
    buf.resize(buf.size() - 10);  // datagram cut in the second message
    std::vector<SocketEntry> out;
    const auto r = decode_inet_diag(buf, Transport::Tcp, 1, out);
    EXPECT_EQ(out.size(), 1u);
    EXPECT_EQ(r.malformed, 1u);
    EXPECT_FALSE(r.done);

    std::vector<uint8_t> tiny(sizeof(nlmsghdr), 0);  // nlmsg_len 0: can't advance
    out.clear();
    EXPECT_EQ(decode_inet_diag(tiny, Transport::Tcp, 0, out).malformed, 1u);
}

TEST(InetDiagDecoder, UnalignedBufferIsFine) {
    std::vector<uint8_t> buf(1, 0xAA);
    auto good = v4_msg(kEstablished, "10.0.0.1", 1, "10.0.0.2", 2, 0, 5);
    append_msg(buf, SOCK_DIAG_BY_FAMILY, 1, &good, sizeof good);
    std::vector<SocketEntry> out;
    (void)decode_inet_diag(std::span(buf).subspan(1), Transport::Tcp, 1, out);
    EXPECT_EQ(out.size(), 1u);
}

}  // namespace
}  // namespace daemoneye::netmond
