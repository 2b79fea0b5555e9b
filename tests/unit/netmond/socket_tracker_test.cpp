// Tests plugins/netmond/src/socket_tracker.cpp: what counts as opened/closed/started/stopped.
#include "socket_tracker.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

namespace daemoneye::netmond {
namespace {

ObservedSocket sock(uint8_t state, uint16_t lport, uint16_t rport, uint64_t inode,
                    Transport t = Transport::Tcp, uint32_t pid = 0) {
    ObservedSocket o;
    o.entry.transport = t;
    o.entry.family = AF_INET;
    o.entry.state = state;
    o.entry.local_addr = {127, 0, 0, 1};
    o.entry.remote_addr = rport ? std::array<uint8_t, 16>{127, 0, 0, 1} : std::array<uint8_t, 16>{};
    o.entry.local_port = lport;
    o.entry.remote_port = rport;
    o.entry.inode = inode;
    if (pid) o.owner = std::make_shared<ProcessRef>(ProcessRef{pid, "p", "/bin/p"});
    return o;
}

TEST(SocketTracker, FirstUpdateIsASnapshotNotAFlood) {
    SocketTracker t;
    const auto c = t.update({sock(kListen, 22, 0, 1), sock(kEstablished, 22, 5000, 2)});
    EXPECT_TRUE(c.empty());
    EXPECT_EQ(t.listener_count(), 1u);
    EXPECT_EQ(t.connection_count(), 1u);
}

TEST(SocketTracker, ReportsOpenedClosedStartedStopped) {
    SocketTracker t;
    (void)t.update({sock(kListen, 22, 0, 1, Transport::Tcp, 10),
                    sock(kEstablished, 22, 5000, 2, Transport::Tcp, 10)});
    auto c =
        t.update({sock(kListen, 8080, 0, 3, Transport::Tcp, 11), sock(kEstablished, 22, 5001, 4)});
    ASSERT_EQ(c.listen_started.size(), 1u);
    EXPECT_EQ(c.listen_started[0].entry.local_port, 8080);
    EXPECT_EQ(c.listen_started[0].owner->pid, 11u);
    ASSERT_EQ(c.listen_stopped.size(), 1u);
    EXPECT_EQ(c.listen_stopped[0].entry.local_port, 22);
    EXPECT_EQ(c.listen_stopped[0].owner->pid, 10u);  // owner as last seen
    ASSERT_EQ(c.opened.size(), 1u);
    EXPECT_EQ(c.opened[0].entry.remote_port, 5001);
    ASSERT_EQ(c.closed.size(), 1u);
    EXPECT_EQ(c.closed[0].entry.remote_port, 5000);
    EXPECT_EQ(c.closed[0].owner->pid, 10u);
}

TEST(SocketTracker, StateChangesOfOneConnectionAreNotOpenClose) {
    SocketTracker t;
    (void)t.update({sock(kSynSent, 40000, 80, 7)});
    auto c = t.update({sock(kEstablished, 40000, 80, 7)});
    EXPECT_TRUE(c.empty());
    c = t.update({sock(kTimeWait, 40000, 80, 0)});  // the owner closed it
    EXPECT_EQ(c.closed.size(), 1u);
}

TEST(SocketTracker, UdpBoundIsListenerConnectedIsConnection) {
    SocketTracker t;
    (void)t.update({});
    auto c = t.update(
        {sock(kClose, 53, 0, 1, Transport::Udp), sock(kEstablished, 40000, 53, 2, Transport::Udp)});
    EXPECT_EQ(c.listen_started.size(), 1u);
    EXPECT_EQ(c.opened.size(), 1u);
}

TEST(SocketTracker, ReusePortSiblingsAreOneListener) {
    SocketTracker t;
    (void)t.update({sock(kListen, 80, 0, 1), sock(kListen, 80, 0, 2)});
    EXPECT_EQ(t.listener_count(), 1u);
    auto c = t.update({sock(kListen, 80, 0, 2)});  // one sibling went away; the port still listens
    EXPECT_TRUE(c.empty());
}

}  // namespace
}  // namespace daemoneye::netmond
