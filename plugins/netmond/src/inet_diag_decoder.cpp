#include "inet_diag_decoder.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace daemoneye::netmond {

std::vector<uint8_t> build_inet_diag_request(uint8_t family, Transport transport,
                                             uint32_t state_mask, uint32_t seq) {
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nlh.nlmsg_seq = seq;
    msg.req.sdiag_family = family;
    msg.req.sdiag_protocol = transport == Transport::Tcp ? IPPROTO_TCP : IPPROTO_UDP;
    msg.req.idiag_states = state_mask;
    std::vector<uint8_t> bytes(sizeof msg);
    std::memcpy(bytes.data(), &msg, sizeof msg);
    return bytes;
}

DiagDecodeResult decode_inet_diag(std::span<const uint8_t> datagram, Transport transport,
                                  uint32_t expected_seq, std::vector<SocketEntry>& out) {
    DiagDecodeResult r;
    auto reject = [&r](std::string why) {
        ++r.malformed;
        if (r.first_error.empty()) r.first_error = std::move(why);
    };
    size_t off = 0;
    while (datagram.size() - off >= sizeof(nlmsghdr)) {
        nlmsghdr h;  // the buffer may be unaligned (fuzzer, odd recv sizes): copy, never cast
        std::memcpy(&h, datagram.data() + off, sizeof h);
        if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > datagram.size() - off) {
            reject("netlink header at offset " + std::to_string(off) + " claims " +
                   std::to_string(h.nlmsg_len) + " bytes, " +
                   std::to_string(datagram.size() - off) + " left");
            return r;
        }
        const uint8_t* payload = datagram.data() + off + sizeof(nlmsghdr);
        const size_t payload_len = h.nlmsg_len - sizeof(nlmsghdr);
        off += std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), datagram.size() - off);

        if (h.nlmsg_seq != expected_seq) continue;
        if (h.nlmsg_type == NLMSG_DONE) {
            r.done = true;
            return r;
        }
        if (h.nlmsg_type == NLMSG_ERROR) {
            nlmsgerr e{};
            if (payload_len >= sizeof e.error) std::memcpy(&e.error, payload, sizeof e.error);
            // A forged INT_MIN cannot be negated (found by the fuzzer): call it EIO.
            r.error = e.error == INT_MIN ? EIO : (e.error < 0 ? -e.error : e.error);
            if (r.error == 0) continue;  // an ACK
            r.done = true;
            return r;
        }
        if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
        if (payload_len < sizeof(inet_diag_msg)) {
            reject("inet_diag_msg of " + std::to_string(payload_len) + " bytes, need " +
                   std::to_string(sizeof(inet_diag_msg)));
            continue;
        }
        inet_diag_msg m;
        std::memcpy(&m, payload, sizeof m);
        if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6) {
            reject("unknown address family " + std::to_string(m.idiag_family));
            continue;
        }
        if (m.idiag_state == 0 || m.idiag_state > kNewSynRecv) {
            reject("unknown socket state " + std::to_string(m.idiag_state));
            continue;
        }
        SocketEntry s;
        s.transport = transport;
        s.family = m.idiag_family;
        s.state = m.idiag_state;
        const size_t addr_len = m.idiag_family == AF_INET ? 4 : 16;
        std::memcpy(s.local_addr.data(), m.id.idiag_src, addr_len);
        std::memcpy(s.remote_addr.data(), m.id.idiag_dst, addr_len);
        s.local_port = ntohs(m.id.idiag_sport);
        s.remote_port = ntohs(m.id.idiag_dport);
        s.uid = m.idiag_uid;
        s.inode = m.idiag_inode;
        out.push_back(s);
        ++r.decoded;
    }
    if (off < datagram.size())
        reject("trailing " + std::to_string(datagram.size() - off) + " bytes");
    return r;
}

}  // namespace daemoneye::netmond
