// Counters the broker keeps on its event loop. Read them with Broker::metrics() on the loop, or
// Broker::metrics_async() from any thread (posted to the loop, returns a copy).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace daemoneye::eventbus {

struct TopicRootMetrics {
    std::string root;  // first topic level: "events", "control", ...
    std::uint64_t publishes = 0;
    std::uint64_t deliveries = 0;
    std::uint64_t drops = 0;
};

struct BrokerMetrics {
    std::uint64_t publishes = 0;        // accepted publishes
    std::uint64_t deliveries = 0;       // copies queued to subscribers
    std::uint64_t drops = 0;            // copies dropped because a subscriber's queue was full
    std::uint64_t denials = 0;          // publishes/subscriptions refused by the ACL
    std::uint64_t protocol_errors = 0;  // bad frames, bad envelopes, invalid topics, ...
    std::uint64_t sessions_active = 0;
    std::uint64_t sessions_total = 0;    // ever welcomed
    std::uint64_t sessions_refused = 0;  // peer credentials, max_connections, handshake failures
    std::uint64_t subscriptions = 0;     // pub/sub + RPC serving, all sessions
    std::uint64_t rpc_requests = 0;      // routed to a server
    std::uint64_t rpc_responses = 0;     // routed back to the requester
    std::uint64_t rpc_not_found = 0;     // answered NotFound by the broker
    std::uint64_t rpc_overloaded = 0;    // answered Overloaded by the broker
    std::uint64_t rpc_failed = 0;        // server went away / queue full: requester told
    // Replies dropped because no request is pending for them: after deadline + grace, or with
    // an id the broker never routed.
    std::uint64_t rpc_late_replies = 0;
    // Replies dropped because their requester's session closed while the server worked.
    std::uint64_t rpc_orphaned_replies = 0;
    // A control message (Ack, Error, RPC request or reply) that did not fit a session's control
    // queue (broker's control_buffer_size): that socket session is closed, so its peer learns
    // (a reconnecting client fails its pending calls at once) instead of waiting in vain.
    std::uint64_t control_overflows = 0;
    // Items larger than max_frame_bytes found at a session's writer and dropped (RPC bodies are
    // checked before they are routed, so this counts what nothing else caught).
    std::uint64_t oversized_dropped = 0;
    std::uint64_t rpc_pending = 0;
    std::uint64_t queued_messages = 0;  // deliveries waiting in all sessions' queues now
    std::uint64_t queued_bytes = 0;
    std::uint64_t max_session_queue = 0;  // the fullest session queue (messages)
    std::uint64_t queue_capacity = 0;     // message_buffer_size
    std::vector<TopicRootMetrics> topic_roots;
};

struct SubscriptionStats {
    std::uint64_t subscription_id = 0;
    std::string pattern;
    bool rpc_server = false;      // serves RPC requests for pattern rather than receiving publishes
    std::uint64_t delivered = 0;  // copies queued for this subscription
    std::uint64_t dropped = 0;    // copies dropped (queue full)
};

struct SessionStats {
    std::uint64_t session_id = 0;
    std::string role;  // "collector", "client", "agent"
    std::string name;  // Hello.client_name or plugin name
    std::string instance_id;
    std::string transport;  // "socket", "adopted", "in-process"
    std::int32_t pid = 0;
    std::uint32_t uid = 0;
    std::vector<std::string> publish_grants;
    std::uint64_t published = 0;
    std::uint64_t denied = 0;
    std::uint64_t delivered = 0;
    std::uint64_t dropped = 0;
    std::uint64_t queued_messages = 0;
    std::uint64_t queued_bytes = 0;
    std::vector<SubscriptionStats> subscriptions;
};

}  // namespace daemoneye::eventbus
