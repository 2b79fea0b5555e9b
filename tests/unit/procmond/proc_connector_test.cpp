// Tests decode_connector_datagram (plugins/procmond/src/proc_connector.cpp) on datagrams laid
// out as the kernel sends them. Under UBSan these caught the event being read in place at a
// 4-byte-aligned offset although proc_event needs 8.
#include <gtest/gtest.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include <cstring>
#include <vector>

#include "proc_connector.hpp"

namespace procmond {
namespace {

// One netlink message: nlmsghdr | cn_msg | proc_event, in a buffer aligned like a recv buffer.
struct Datagram {
    alignas(8) char bytes[NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_event)) * 2] = {};
    std::size_t size = 0;

    void add(const proc_event& ev, std::uint16_t claimed_len = sizeof(proc_event)) {
        char* at = bytes + size;
        nlmsghdr nl{};
        nl.nlmsg_len = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_event));
        nl.nlmsg_type = NLMSG_DONE;
        std::memcpy(at, &nl, sizeof nl);
        cn_msg cn{};
        cn.id.idx = CN_IDX_PROC;
        cn.id.val = CN_VAL_PROC;
        cn.len = claimed_len;
        std::memcpy(at + NLMSG_HDRLEN, &cn, sizeof cn);
        std::memcpy(at + NLMSG_HDRLEN + sizeof cn, &ev, sizeof ev);
        size += NLMSG_ALIGN(nl.nlmsg_len);
    }
};

proc_event fork_event(int parent, int child_pid, int child_tgid) {
    proc_event ev{};
    ev.what = proc_event::PROC_EVENT_FORK;
    ev.timestamp_ns = 123456789;
    ev.event_data.fork.parent_pid = parent;
    ev.event_data.fork.parent_tgid = parent;
    ev.event_data.fork.child_pid = child_pid;
    ev.event_data.fork.child_tgid = child_tgid;
    return ev;
}

proc_event exit_event(int pid, int tgid, int parent) {
    proc_event ev{};
    ev.what = proc_event::PROC_EVENT_EXIT;
    ev.event_data.exit.process_pid = pid;
    ev.event_data.exit.process_tgid = tgid;
    ev.event_data.exit.parent_tgid = parent;
    return ev;
}

TEST(ProcConnectorDecode, ForkAndExitOfProcessesAsTheKernelLaysThemOut) {
    Datagram d;
    d.add(fork_event(10, 42, 42));
    d.add(exit_event(42, 42, 10));
    std::vector<ConnectorEvent> out;
    decode_connector_datagram(d.bytes, d.size, out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].kind, ConnectorEvent::Kind::kFork);
    EXPECT_EQ(out[0].pid, 42);
    EXPECT_EQ(out[0].ppid, 10);
    EXPECT_EQ(out[1].kind, ConnectorEvent::Kind::kExit);
    EXPECT_EQ(out[1].pid, 42);
}

TEST(ProcConnectorDecode, ThreadEventsAreDropped) {
    Datagram d;
    d.add(fork_event(10, 43, 42));
    d.add(exit_event(43, 42, 10));
    std::vector<ConnectorEvent> out;
    decode_connector_datagram(d.bytes, d.size, out);
    EXPECT_TRUE(out.empty());
}

TEST(ProcConnectorDecode, ClaimedLengthBeyondTheMessageIsSkipped) {
    Datagram d;
    d.add(fork_event(10, 42, 42), /*claimed_len=*/sizeof(proc_event) + 4096);
    std::vector<ConnectorEvent> out;
    decode_connector_datagram(d.bytes, d.size, out);
    EXPECT_TRUE(out.empty());
}

TEST(ProcConnectorDecode, TruncatedDatagramIsSkipped) {
    Datagram d;
    d.add(fork_event(10, 42, 42));
    std::vector<ConnectorEvent> out;
    for (std::size_t size = 0; size < d.size; ++size) {
        decode_connector_datagram(d.bytes, size, out);
    }
    EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace procmond
