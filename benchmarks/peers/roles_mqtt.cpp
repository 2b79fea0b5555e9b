// MQTT through libmosquitto (MQTT v5, QoS 0) against a private mosquitto broker on a unix-socket
// listener (--host is the socket path, --port 0). Topics: events/bench/data,
// wildcard "events/#"; request/reply with the v5 response-topic and correlation-data
// properties. Every client drives the library's own loop (mosquitto_loop) on its one thread.
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "roles.hpp"

using namespace std::chrono_literals;

namespace peers {
namespace {

struct State {
    bool connected = false;
    bool subscribed = false;
    Counter counter;
    // Request/reply.
    std::uint64_t want = 0;
    bool replied = false;
};

struct Client {
    mosquitto* m = nullptr;
    State st;
    Client() { mosquitto_lib_init(); }
    ~Client() {
        if (m) {
            mosquitto_disconnect(m);
            mosquitto_destroy(m);
        }
        mosquitto_lib_cleanup();
    }
    bool connect(const Args& a, const char* who) {
        const std::string id = std::string(who) + "-" + std::to_string(::getpid());
        m = mosquitto_new(id.c_str(), true, &st);
        if (!m) return false;
        mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        mosquitto_connect_callback_set(m, [](mosquitto*, void* obj, int rc) {
            if (rc == 0) static_cast<State*>(obj)->connected = true;
        });
        mosquitto_subscribe_callback_set(m, [](mosquitto*, void* obj, int, int, const int*) {
            static_cast<State*>(obj)->subscribed = true;
        });
        const int rc = mosquitto_connect(m, str(a, "--host", "127.0.0.1").c_str(),
                                         static_cast<int>(num(a, "--port", 1883)), 600);
        if (rc != MOSQ_ERR_SUCCESS) {
            std::cerr << who << ": connect: " << mosquitto_strerror(rc) << "\n";
            return false;
        }
        return loop_until(st.connected, who, "CONNACK");
    }
    bool loop_until(const bool& flag, const char* who, const char* what) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!flag) {
            const int rc = mosquitto_loop(m, 100, 1);
            if (rc != MOSQ_ERR_SUCCESS || std::chrono::steady_clock::now() > deadline) {
                std::cerr << who << ": no " << what << ": " << mosquitto_strerror(rc) << "\n";
                return false;
            }
        }
        return true;
    }
    bool subscribe(const std::string& pattern, const char* who) {
        const int rc = mosquitto_subscribe(m, nullptr, pattern.c_str(), 0);
        if (rc != MOSQ_ERR_SUCCESS) {
            std::cerr << who << ": subscribe: " << mosquitto_strerror(rc) << "\n";
            return false;
        }
        return loop_until(st.subscribed, who, "SUBACK");
    }
};

int pub(const Args& a) {
    Client c;
    if (!c.connect(a, "mqtt-pub")) return 1;
    const auto count = num(a, "--count", 100000);
    const auto topic = str(a, "--topic", "events/bench/data");
    std::vector<char> payload(num(a, "--size", 256), 0x42);
    std::cout << "READY" << std::endl;
    if (!wait_go(str(a, "--go"), 120s)) return 1;
    for (std::uint64_t i = 0; i < count; ++i) {
        int rc = mosquitto_publish(c.m, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                                   payload.data(), 0, false);
        // publish() writes at once when it can; what the socket did not take stays queued in
        // the library: wait for the socket (the library's loop) before queueing more.
        while (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(c.m))
            rc = mosquitto_loop(c.m, 1000, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            std::cerr << "mqtt-pub: publish: " << mosquitto_strerror(rc) << "\n";
            return 1;
        }
    }
    std::cout << "DONE" << std::endl;
    // Stay connected (the library answers keep-alives in its loop) until killed.
    for (;;) {
        if (mosquitto_loop(c.m, 1000, 1) != MOSQ_ERR_SUCCESS) std::this_thread::sleep_for(1s);
    }
}

int sub(const Args& a) {
    Client c;
    if (!c.connect(a, "mqtt-sub")) return 1;
    Watch watch(a);
    c.st.counter.expect = watch.expect();
    mosquitto_message_callback_set(c.m, [](mosquitto*, void* obj, const mosquitto_message*) {
        static_cast<State*>(obj)->counter.hit();
    });
    if (!c.subscribe(str(a, "--pattern", "events/#"), "mqtt-sub")) return 1;
    std::cout << "READY" << std::endl;
    std::uint64_t iterations = 0;
    for (;;) {
        const auto before = c.st.counter.received;
        const int rc = mosquitto_loop(c.m, 10, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            std::cerr << "mqtt-sub: loop: " << mosquitto_strerror(rc) << "\n";
            break;
        }
        const bool idle = c.st.counter.received == before;
        if ((idle || (++iterations & 1023) == 0) && watch.done(c.st.counter.received)) break;
    }
    print_sub_result(c.st.counter.received, c.st.counter.first, c.st.counter.last, 0);
    return 0;
}

int rpc_server(const Args& a) {
    Client c;
    if (!c.connect(a, "mqtt-rpc-server")) return 1;
    mosquitto_message_v5_callback_set(c.m, [](mosquitto* m, void*, const mosquitto_message* msg,
                                              const mosquitto_property* props) {
        char* topic = nullptr;
        void* corr = nullptr;
        std::uint16_t corr_len = 0;
        mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &topic, false);
        mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len, false);
        if (topic) {
            mosquitto_property* out = nullptr;
            if (corr)
                mosquitto_property_add_binary(&out, MQTT_PROP_CORRELATION_DATA, corr, corr_len);
            mosquitto_publish_v5(m, nullptr, topic, msg->payloadlen, msg->payload, 0, false, out);
            mosquitto_property_free_all(&out);
        }
        std::free(topic);
        std::free(corr);
    });
    if (!c.subscribe("rpc/bench", "mqtt-rpc-server")) return 1;
    std::cout << "READY" << std::endl;
    for (;;) {
        if (mosquitto_loop(c.m, 1000, 1) != MOSQ_ERR_SUCCESS) return 1;
    }
}

int rpc_client(const Args& a) {
    Client c;
    if (!c.connect(a, "mqtt-rpc-client")) return 1;
    const std::string reply_topic = "rpc/reply/" + std::to_string(::getpid());
    mosquitto_message_v5_callback_set(
        c.m, [](mosquitto*, void* obj, const mosquitto_message*, const mosquitto_property* props) {
            auto* st = static_cast<State*>(obj);
            void* corr = nullptr;
            std::uint16_t len = 0;
            mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &len, false);
            std::uint64_t id = 0;
            if (corr && len == sizeof id) std::memcpy(&id, corr, sizeof id);
            if (corr && id == st->want) st->replied = true;
            std::free(corr);
        });
    if (!c.subscribe(reply_topic, "mqtt-rpc-client")) return 1;
    const auto count = num(a, "--count", 10000), warmup = num(a, "--warmup", 1000);
    std::vector<char> payload(num(a, "--size", 64), 'x');
    std::vector<std::uint64_t> lat;
    lat.reserve(count);
    for (std::uint64_t i = 0; i < warmup + count; ++i) {
        c.st.want = i;
        c.st.replied = false;
        mosquitto_property* props = nullptr;
        mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply_topic.c_str());
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, &i, sizeof i);
        const auto t0 = mono_ns();
        const int rc =
            mosquitto_publish_v5(c.m, nullptr, "rpc/bench", static_cast<int>(payload.size()),
                                 payload.data(), 0, false, props);
        mosquitto_property_free_all(&props);
        if (rc != MOSQ_ERR_SUCCESS || !c.loop_until(c.st.replied, "mqtt-rpc-client", "reply")) {
            return 1;
        }
        if (i >= warmup) lat.push_back(mono_ns() - t0);
    }
    print_rpc_result(lat);
    return 0;
}

}  // namespace

int dispatch_mqtt(const std::string& role, const Args& a) {
    if (role == "mqtt-pub") return pub(a);
    if (role == "mqtt-sub") return sub(a);
    if (role == "mqtt-rpc-server") return rpc_server(a);
    if (role == "mqtt-rpc-client") return rpc_client(a);
    return kUnknownRole;
}

}  // namespace peers
