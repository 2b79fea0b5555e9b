// NATS through its C client (libnats / cnats) against a private nats-server (TCP on 127.0.0.1:
// nats-server has no unix-socket listener). Subjects: events.bench.data, wildcard "events.>".
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>
#include <vector>

#include "roles.hpp"

using namespace std::chrono_literals;

namespace peers {
namespace {

// One connection, closed and the library released on every exit path.
struct Conn {
    natsConnection* nc = nullptr;
    natsSubscription* sub = nullptr;
    ~Conn() {
        if (sub) natsSubscription_Destroy(sub);
        if (nc) natsConnection_Destroy(nc);
        nats_Close();
    }
    // send_asap: write each publish at once instead of leaving it to the library's flusher
    // thread (which batches and costs ~1 ms per round trip); the low-latency setting, used for
    // request/reply.
    bool connect(const Args& a, const char* who, bool send_asap = false) {
        natsOptions* o = nullptr;
        natsStatus s = natsOptions_Create(&o);
        if (s == NATS_OK) s = natsOptions_SetURL(o, str(a, "--url").c_str());
        if (s == NATS_OK) s = natsOptions_SetTimeout(o, 10000);
        // Never reconnect: a dead server ends the run instead of hanging it.
        if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
        if (s == NATS_OK && send_asap) s = natsOptions_SetSendAsap(o, true);
        if (s == NATS_OK) s = natsConnection_Connect(&nc, o);
        natsOptions_Destroy(o);
        if (s != NATS_OK) {
            std::cerr << who << ": connect " << str(a, "--url") << ": " << natsStatus_GetText(s)
                      << "\n";
            return false;
        }
        return true;
    }
};

int pub(const Args& a) {
    Conn c;
    if (!c.connect(a, "nats-pub")) return 1;
    const auto count = num(a, "--count", 100000);
    const auto topic = str(a, "--topic", "events.bench.data");
    std::vector<char> payload(num(a, "--size", 256), 0x42);
    std::cout << "READY" << std::endl;
    if (!wait_go(str(a, "--go"), 120s)) return 1;
    for (std::uint64_t i = 0; i < count; ++i) {
        const natsStatus s = natsConnection_Publish(c.nc, topic.c_str(), payload.data(),
                                                    static_cast<int>(payload.size()));
        if (s != NATS_OK) {
            std::cerr << "nats-pub: publish: " << natsStatus_GetText(s) << "\n";
            return 1;
        }
    }
    if (natsConnection_FlushTimeout(c.nc, 60000) != NATS_OK) return 1;
    std::cout << "DONE" << std::endl;
    std::this_thread::sleep_for(std::chrono::hours(1));  // killed by the harness
    return 0;
}

std::atomic<std::uint64_t> g_count{0};
Counter g_counter;

void on_msg(natsConnection*, natsSubscription*, natsMsg* msg, void*) {
    g_counter.hit();
    g_count.store(g_counter.received, std::memory_order_relaxed);
    natsMsg_Destroy(msg);
}

int sub(const Args& a) {
    Conn c;
    if (!c.connect(a, "nats-sub")) return 1;
    Watch watch(a);
    g_counter.expect = watch.expect();
    natsStatus s = natsConnection_Subscribe(&c.sub, c.nc, str(a, "--pattern", "events.>").c_str(),
                                            on_msg, nullptr);
    // No client-side pending limit (the default drops beyond 65536 messages): lossless as far
    // as the library is concerned; what the server drops (slow consumer) shows as loss.
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(c.sub, -1, -1);
    if (s == NATS_OK) s = natsConnection_FlushTimeout(c.nc, 10000);  // the server has the SUB
    if (s != NATS_OK) {
        std::cerr << "nats-sub: subscribe: " << natsStatus_GetText(s) << "\n";
        return 1;
    }
    std::cout << "READY" << std::endl;
    while (!watch.done(g_count.load(std::memory_order_relaxed))) std::this_thread::sleep_for(10ms);
    natsSubscription_Unsubscribe(c.sub);  // the callback thread is quiet after this
    int64_t dropped = 0;
    natsSubscription_GetDropped(c.sub, &dropped);
    print_sub_result(g_counter.received, g_counter.first, g_counter.last,
                     static_cast<std::uint64_t>(dropped));
    return 0;
}

void on_request(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
    if (const char* reply = natsMsg_GetReply(msg)) {
        natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    }
    natsMsg_Destroy(msg);
}

int rpc_server(const Args& a) {
    Conn c;
    if (!c.connect(a, "nats-rpc-server", true)) return 1;
    natsStatus s = natsConnection_Subscribe(&c.sub, c.nc, "rpc.bench", on_request, nullptr);
    if (s == NATS_OK) s = natsConnection_FlushTimeout(c.nc, 10000);
    if (s != NATS_OK) return 1;
    std::cout << "READY" << std::endl;
    std::this_thread::sleep_for(std::chrono::hours(1));
    return 0;
}

int rpc_client(const Args& a) {
    Conn c;
    if (!c.connect(a, "nats-rpc-client", true)) return 1;
    const auto count = num(a, "--count", 10000), warmup = num(a, "--warmup", 1000);
    std::vector<char> payload(num(a, "--size", 64), 'x');
    std::vector<std::uint64_t> lat;
    lat.reserve(count);
    for (std::uint64_t i = 0; i < warmup + count; ++i) {
        natsMsg* reply = nullptr;
        const auto t0 = mono_ns();
        const natsStatus s = natsConnection_Request(&reply, c.nc, "rpc.bench", payload.data(),
                                                    static_cast<int>(payload.size()), 5000);
        if (s != NATS_OK) {
            std::cerr << "nats-rpc-client: request: " << natsStatus_GetText(s) << "\n";
            return 1;
        }
        if (i >= warmup) lat.push_back(mono_ns() - t0);
        natsMsg_Destroy(reply);
    }
    print_rpc_result(lat);
    return 0;
}

}  // namespace

int dispatch_nats(const std::string& role, const Args& a) {
    if (role == "nats-pub") return pub(a);
    if (role == "nats-sub") return sub(a);
    if (role == "nats-rpc-server") return rpc_server(a);
    if (role == "nats-rpc-client") return rpc_client(a);
    return kUnknownRole;
}

}  // namespace peers
