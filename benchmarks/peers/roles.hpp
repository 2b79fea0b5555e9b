// The role processes of peers_bench (the harness binary re-executed with --role NAME). Each
// dispatcher returns the role's exit status, or kUnknownRole when NAME is not one of its roles.
//
// Throughput roles: a publisher prints READY once connected, waits for the --go file, publishes
// --count messages of --size bytes on --topic, flushes and prints DONE. A subscriber subscribes
// --pattern, prints READY, counts deliveries (Counter) until --expect arrived or nothing came
// for --idle-ms after the first (or for --start-ms before it), then prints RESULT.
// Request/reply roles: a server prints READY when it serves; a client makes --warmup then
// --count sequential calls of --size bytes and prints RESULT p50/p99 of the --count ones.
#pragma once

#include <string>

#include "common.hpp"

namespace peers {

constexpr int kUnknownRole = -1000;

int dispatch_raw(const std::string& role, const Args& a);
int dispatch_daemoneye(const std::string& role, const Args& a);
#ifdef PEERS_HAVE_NATS
int dispatch_nats(const std::string& role, const Args& a);
#endif
#ifdef PEERS_HAVE_ZMQ
int dispatch_zmq(const std::string& role, const Args& a);
#endif
#ifdef PEERS_HAVE_MOSQUITTO
int dispatch_mqtt(const std::string& role, const Args& a);
#endif

}  // namespace peers
