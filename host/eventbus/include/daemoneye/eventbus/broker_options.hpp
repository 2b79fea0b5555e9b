// Configuration of the embedded broker (the seed's `broker:` section plus the wire settings), and
// the identity the agent vouches for when it hands the broker a pre-connected socketpair end.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemoneye/wire/crc32.hpp"

namespace daemoneye::bus::v1 {
class Hello;
}

namespace daemoneye::eventbus {

// Who a connecting process is, from SO_PEERCRED.
struct PeerCredentials {
    std::int32_t pid = 0;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
};

struct BrokerOptions {
    // broker.socket_path. Empty: no listener (adopted socketpairs and in-process clients only).
    // The parent directory is created 0700 when missing, the socket is 0600; a stale socket file
    // (nobody listening) is replaced, a live one is refused. At most 107 bytes (sun_path).
    std::string socket_path;
    // broker.startup_timeout_seconds: a session that has not completed Hello by then is dropped.
    std::chrono::milliseconds startup_timeout{30000};
    // broker.max_subscribers: subscriptions (pub/sub and RPC serving) held by all sessions
    // together; the next Subscribe gets ERROR_CODE_LIMIT.
    std::size_t max_subscribers = 100;
    // broker.max_subscriptions_per_collector: subscriptions one adopted collector session may
    // hold (its launcher needs one, to serve its RPC target), so a plugin writing to its session
    // cannot use up max_subscribers for everyone else. The next Subscribe gets ERROR_CODE_LIMIT.
    std::size_t max_collector_subscriptions = 8;
    // broker.message_buffer_size: deliveries queued per session before that session's copies
    // are dropped (and counted per subscription).
    std::size_t message_buffer_size = 10000;
    // Byte cap of one session's queued deliveries (whichever of the two caps is hit first).
    std::size_t message_buffer_bytes = std::size_t{64} << 20;
    // Control messages (Ack, Error, RPC requests/responses) queued per session beyond the
    // delivery caps. When even this is full the sender is told (RPC error / Error frame).
    std::size_t control_buffer_size = 4096;
    // Sessions accepted on socket_path at once; extra connections get an ERROR_CODE_LIMIT frame
    // and are closed. Adopted socketpairs and in-process clients do not count.
    std::size_t max_connections = 64;
    // Wire settings (shared with ipc.*).
    std::size_t max_frame_bytes = std::size_t{1} << 20;
    wire::Crc32Variant crc32_variant = wire::Crc32Variant::Ieee;
    std::chrono::milliseconds read_timeout{30000};   // one whole frame
    std::chrono::milliseconds write_timeout{10000};  // one write: a subscriber that stalls
                                                     // longer is disconnected
    // Heartbeat interval announced in Welcome (clients send a Heartbeat this often; the broker
    // drops a socket session silent for 4 intervals). 0 disables both.
    std::chrono::milliseconds heartbeat_interval{5000};
    // Pending RPC requests routed through the broker at once (rpc.max_pending_requests): beyond
    // it a request is answered ERROR_CODE_OVERLOADED at once.
    std::size_t max_pending_requests = 1000;
    // A request that names no timeout stays pending this long (rpc.default_timeout_seconds).
    std::chrono::milliseconds default_rpc_timeout{30000};
    // A reply arriving later than the request's timeout plus this grace is dropped and counted
    // by the broker (a reply inside the grace reaches the client, which drops and counts it).
    std::chrono::milliseconds late_reply_grace{5000};
    // Minimum spacing of the broker's warnings per session on control.health.diagnostics.
    std::chrono::milliseconds diagnostic_interval{1000};
    // Publish grants of sessions connecting on socket_path (CLI, tools, hand-run launchers).
    // The peer is already the agent's uid or root. `authorize` (when set) decides instead.
    std::vector<std::string> socket_publish_grants{"#"};
    std::function<std::vector<std::string>(const bus::v1::Hello&, const PeerCredentials&)>
        authorize;
    // Extra uids allowed to connect on socket_path besides the broker's own and root.
    std::vector<std::uint32_t> allowed_uids;
};

// What the agent knows about the process at the other end of a socketpair it created. The
// collector's Hello must say role COLLECTOR, this instance id and this plugin name, or the
// session is refused (ERROR_CODE_DENIED).
struct PresetIdentity {
    std::string instance_id;
    std::string plugin_name;
    std::vector<std::string> publish_grants;    // e.g. {"events.process.#"}
    std::map<std::string, std::string> config;  // flattened: "paths.0", "scan_interval_ms"
    // Beyond publishing (collector_acl.hpp): a plugin runs inside the launcher and can write to
    // its session, so these bound what it can do there; empty: nothing. It subscribes only to
    // patterns subscribe_grants cover (the launcher subscribes to nothing), serves only exact
    // RPC targets rpc_serve_grants match (its own, control.collector.<plugin>.<instance>), and
    // calls only targets rpc_call_grants match. Other sessions are not restricted.
    std::vector<std::string> subscribe_grants;
    std::vector<std::string> rpc_serve_grants;
    std::vector<std::string> rpc_call_grants;
};

}  // namespace daemoneye::eventbus
