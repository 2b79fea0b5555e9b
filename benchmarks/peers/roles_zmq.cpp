// ZeroMQ through libzmq: an XSUB/XPUB proxy process (zmq_proxy) between PUB and SUB sockets, all
// over ipc:// (unix sockets) in the harness's private directory, and REQ/REP for request/reply.
// --hwm sets SNDHWM/RCVHWM on every socket of the path (libzmq's default is 1000 and drops
// beyond it; 0 = unlimited, the "no-drop" configuration). A message is one frame: the topic, a
// space, then the payload; SUB matches by prefix ("events." = every events topic).
//
// Slow joiners: a PUB drops what it sends before the subscription has travelled SUB -> proxy ->
// PUB. So before the start signal every publisher sends "events.warm <index>" every 10 ms, and
// each subscriber prints WARMED once it heard every publisher; the harness starts the run only
// then.
#include <unistd.h>
#include <zmq.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "roles.hpp"

using namespace std::chrono_literals;

namespace peers {
namespace {

struct Ctx {
    void* ctx = zmq_ctx_new();
    std::vector<void*> sockets;
    ~Ctx() {
        for (void* s : sockets) {
            int linger = 0;
            zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
            zmq_close(s);
        }
        zmq_ctx_term(ctx);
    }
    void* socket(int type, int hwm) {
        void* s = zmq_socket(ctx, type);
        if (!s) return nullptr;
        sockets.push_back(s);
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
        return s;
    }
};

int hwm_of(const Args& a) {
    return static_cast<int>(num(a, "--hwm", 1000));
}

bool failed(int rc, const char* what, const std::string& where) {
    if (rc == 0) return false;
    std::cerr << "zmq: " << what << " " << where << ": " << zmq_strerror(zmq_errno()) << "\n";
    return true;
}

int proxy(const Args& a) {
    Ctx c;
    void* front = c.socket(ZMQ_XSUB, hwm_of(a));
    void* back = c.socket(ZMQ_XPUB, hwm_of(a));
    if (!front || !back) return 1;
    if (failed(zmq_bind(front, str(a, "--front").c_str()), "bind", str(a, "--front")) ||
        failed(zmq_bind(back, str(a, "--back").c_str()), "bind", str(a, "--back"))) {
        return 1;
    }
    std::cout << "READY" << std::endl;
    zmq_proxy(front, back, nullptr);  // until killed
    return 0;
}

int pub(const Args& a) {
    Ctx c;
    void* s = c.socket(ZMQ_PUB, hwm_of(a));
    if (!s || failed(zmq_connect(s, str(a, "--front").c_str()), "connect", str(a, "--front"))) {
        return 1;
    }
    const auto count = num(a, "--count", 100000);
    std::string msg = str(a, "--topic", "events.bench.data") + " ";
    msg.append(num(a, "--size", 256), 'B');
    const std::string warm = "events.warm " + str(a, "--index", "0");
    std::cout << "READY" << std::endl;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (::access(str(a, "--go").c_str(), F_OK) != 0) {
        if (std::chrono::steady_clock::now() > deadline) return 1;
        zmq_send(s, warm.data(), warm.size(), ZMQ_DONTWAIT);
        std::this_thread::sleep_for(10ms);
    }
    for (std::uint64_t i = 0; i < count; ++i) {
        if (zmq_send(s, msg.data(), msg.size(), 0) < 0) {
            std::cerr << "zmq-pub: send: " << zmq_strerror(zmq_errno()) << "\n";
            return 1;
        }
    }
    std::cout << "DONE" << std::endl;
    // Stay up while libzmq's I/O thread drains the queue (killed by the harness).
    std::this_thread::sleep_for(std::chrono::hours(1));
    return 0;
}

int sub(const Args& a) {
    Ctx c;
    void* s = c.socket(ZMQ_SUB, hwm_of(a));
    const auto pattern = str(a, "--pattern", "events.");
    if (!s || failed(zmq_connect(s, str(a, "--back").c_str()), "connect", str(a, "--back")) ||
        failed(zmq_setsockopt(s, ZMQ_SUBSCRIBE, pattern.data(), pattern.size()), "subscribe",
               pattern)) {
        return 1;
    }
    int timeout_ms = 10;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    std::cout << "READY" << std::endl;
    const auto pubs = num(a, "--pubs", 1);
    Watch watch(a);
    Counter n;
    n.expect = watch.expect();
    std::set<std::string> heard;
    std::vector<char> buf(64 * 1024);
    const std::string data_prefix = str(a, "--topic", "events.bench.data") + " ";
    std::uint64_t iterations = 0;
    for (;;) {
        const int r = zmq_recv(s, buf.data(), buf.size(), 0);
        if (r >= 0) {
            const std::size_t len = static_cast<std::size_t>(r);
            if (len > data_prefix.size() &&
                std::memcmp(buf.data(), data_prefix.data(), data_prefix.size()) == 0) {
                n.hit();
            } else if (len > 12 && std::memcmp(buf.data(), "events.warm ", 12) == 0 &&
                       heard.size() < pubs) {
                heard.insert(std::string(buf.data() + 12, len - 12));
                if (heard.size() == pubs) std::cout << "WARMED" << std::endl;
            }
        } else if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
            std::cerr << "zmq-sub: recv: " << zmq_strerror(zmq_errno()) << "\n";
            return 1;
        }
        // The end checks run when idle (10 ms receive timeout) or every 1024 messages.
        if ((r < 0 || (++iterations & 1023) == 0) && watch.done(n.received)) break;
    }
    print_sub_result(n.received, n.first, n.last, 0);
    return 0;
}

int rep(const Args& a) {
    Ctx c;
    void* s = c.socket(ZMQ_REP, 1000);
    if (!s || failed(zmq_bind(s, str(a, "--endpoint").c_str()), "bind", str(a, "--endpoint"))) {
        return 1;
    }
    std::cout << "READY" << std::endl;
    std::vector<char> buf(64 * 1024);
    for (;;) {
        const int r = zmq_recv(s, buf.data(), buf.size(), 0);
        if (r < 0) return 1;
        if (zmq_send(s, buf.data(), static_cast<std::size_t>(r), 0) < 0) return 1;
    }
}

int req(const Args& a) {
    Ctx c;
    void* s = c.socket(ZMQ_REQ, 1000);
    if (!s ||
        failed(zmq_connect(s, str(a, "--endpoint").c_str()), "connect", str(a, "--endpoint"))) {
        return 1;
    }
    int timeout_ms = 5000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    const auto count = num(a, "--count", 10000), warmup = num(a, "--warmup", 1000);
    std::vector<char> payload(num(a, "--size", 64), 'x');
    std::vector<char> buf(64 * 1024);
    std::vector<std::uint64_t> lat;
    lat.reserve(count);
    for (std::uint64_t i = 0; i < warmup + count; ++i) {
        const auto t0 = mono_ns();
        if (zmq_send(s, payload.data(), payload.size(), 0) < 0 ||
            zmq_recv(s, buf.data(), buf.size(), 0) < 0) {
            std::cerr << "zmq-req: " << zmq_strerror(zmq_errno()) << "\n";
            return 1;
        }
        if (i >= warmup) lat.push_back(mono_ns() - t0);
    }
    print_rpc_result(lat);
    return 0;
}

}  // namespace

int dispatch_zmq(const std::string& role, const Args& a) {
    if (role == "zmq-proxy") return proxy(a);
    if (role == "zmq-pub") return pub(a);
    if (role == "zmq-sub") return sub(a);
    if (role == "zmq-rep") return rep(a);
    if (role == "zmq-req") return req(a);
    return kUnknownRole;
}

}  // namespace peers
