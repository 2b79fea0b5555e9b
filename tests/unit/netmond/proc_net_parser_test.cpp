// Tests plugins/netmond/src/proc_net_parser.cpp with lines captured from a 6.x kernel.
#include "proc_net_parser.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

namespace daemoneye::netmond {
namespace {

constexpr const char* kTcp4 =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "642 1 0000000086754ab4 100 0 0 10 0\n"
    "   1: 0100007F:9C40 0100007F:07E8 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "777 1 0000000086754ab4 20 4 30 10 -1\n"
    "   2: 0100007F:9C42 0100007F:07E8 06 00000000:00000000 03:00000E3A 00000000     0        0 0 "
    "3 0000000086754ab4\n";

constexpr const char* kTcp6 =
    "  sl  local_address                         remote_address                        st tx_queue "
    "rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:C515 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 21725 1 00000000e4ea692c 100 0 0 10 0\n";

constexpr const char* kUdp4 =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode ref pointer drops            \n"
    "10387: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 "
    "21728 2 000000004bea9cbf 0         \n";

TEST(ProcNetParser, ParsesCapturedTcp4) {
    const auto t = parse_proc_net(kTcp4, Transport::Tcp);
    ASSERT_EQ(t.malformed_lines, 0u) << t.first_error;
    ASSERT_EQ(t.sockets.size(), 3u);
    const auto& listen = t.sockets[0];
    EXPECT_EQ(listen.family, AF_INET);
    EXPECT_EQ(listen.state, kListen);
    EXPECT_EQ(listen.local_port, 2024);
    EXPECT_EQ(format_address(listen.family, listen.local_addr), "0.0.0.0");
    EXPECT_EQ(listen.inode, 642u);
    const auto& est = t.sockets[1];
    EXPECT_EQ(format_address(est.family, est.local_addr), "127.0.0.1");
    EXPECT_EQ(est.local_port, 40000);
    EXPECT_EQ(est.remote_port, 2024);
    EXPECT_EQ(est.uid, 1000u);
    EXPECT_EQ(est.state, kEstablished);
    EXPECT_TRUE(is_connection(est));
    EXPECT_FALSE(is_connection(t.sockets[2]));  // TIME_WAIT
    EXPECT_EQ(t.sockets[2].inode, 0u);
}

TEST(ProcNetParser, ParsesCapturedTcp6AndUdp) {
    const auto t6 = parse_proc_net(kTcp6, Transport::Tcp);
    ASSERT_EQ(t6.sockets.size(), 1u) << t6.first_error;
    EXPECT_EQ(t6.sockets[0].family, AF_INET6);
    EXPECT_EQ(format_address(AF_INET6, t6.sockets[0].local_addr), "::1");
    EXPECT_EQ(t6.sockets[0].local_port, 0xC515);

    const auto u = parse_proc_net(kUdp4, Transport::Udp);
    ASSERT_EQ(u.sockets.size(), 1u) << u.first_error;
    EXPECT_EQ(u.sockets[0].local_port, 5353);
    EXPECT_EQ(state_name(Transport::Udp, u.sockets[0].state), "UNCONN");
    EXPECT_TRUE(is_listener(u.sockets[0]));
}

TEST(ProcNetParser, SkipsMalformedLinesAndKeepsTheRest) {
    const std::string text =
        std::string(kTcp4) +
        "   3: 0100007G:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 "
        "0 0 1\n"  // bad hex
        "   4: 0100007F:0016 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 "
        "2\n"                                                               // families differ
        "   5: 0100007F:0016 00000000:0000 FF 0:0 0:0 0 0 0 3\n"            // bad state
        "   6: 0100007F:0016 00000000:0000 0A 0:0 0:0 0 99999999999 0 4\n"  // uid too
                                                                            // big
        "   7: 0100007F:0016 00000000:0000 0A 0:0 0:0 0 0 0 -5\n"           // bad inode
        "   x 0100007F:0016 00000000:0000 0A 0:0 0:0 0 0 0 6\n"             // bad slot
        "   8: 0100007F:10016 00000000:0000 0A 0:0 0:0 0 0 0 7\n"           // port too wide
        "\n"
        "   9: 0100007F:0016 00000000:0000 0A 0:0 0:0 0 0 0 8\n";
    const auto t = parse_proc_net(text, Transport::Tcp);
    EXPECT_EQ(t.sockets.size(), 4u);
    EXPECT_EQ(t.malformed_lines, 7u);
    EXPECT_NE(t.first_error.find("line 5"), std::string::npos) << t.first_error;
    EXPECT_NE(t.first_error.find("bad local address"), std::string::npos) << t.first_error;
    EXPECT_EQ(t.sockets.back().inode, 8u);
}

TEST(ProcNetParser, TruncatedLastLineIsCountedNotFatal) {
    std::string text = kTcp4;
    text += "   3: 0100007F:9C40 0100007F:07E8 01 00000000:0000";  // read cut mid-line
    const auto t = parse_proc_net(text, Transport::Tcp);
    EXPECT_EQ(t.sockets.size(), 3u);
    EXPECT_EQ(t.malformed_lines, 1u);
    EXPECT_NE(t.first_error.find("truncated"), std::string::npos);
}

TEST(ProcNetParser, EmptyAndHeaderOnly) {
    EXPECT_TRUE(parse_proc_net("", Transport::Tcp).sockets.empty());
    const auto t = parse_proc_net("  sl  local_address rem_address   st\n", Transport::Tcp);
    EXPECT_TRUE(t.sockets.empty());
    EXPECT_EQ(t.malformed_lines, 0u);
}

TEST(ProcNetParser, BinaryGarbageNeverCrashes) {
    std::string junk;
    for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 131) & 0xFF));
    const auto t = parse_proc_net(junk, Transport::Udp);
    EXPECT_TRUE(t.sockets.empty());
}

}  // namespace
}  // namespace daemoneye::netmond
