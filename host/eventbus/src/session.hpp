// Broker-side state of one session, whatever carries it (socket, adopted socketpair, or an
// in-process client). Owned by the broker's loop; the router enqueues into it, the transport
// (RemoteSession writer / LocalSession dispatcher) drains it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collector_acl.hpp"
#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/eventbus/broker_metrics.hpp"
#include "daemoneye/eventbus/broker_options.hpp"
#include "message_buffer.hpp"
#include "outbound_queue.hpp"
#include "publish_acl.hpp"
#include "topic_sequencer.hpp"

namespace daemoneye::eventbus {

struct BrokerCore;
struct TopicRootMetrics;

struct SessionSubscription {
    std::uint64_t id = 0;
    std::string pattern;
    bool rpc_server = false;
    bool exact = false;  // no wildcard: preferred RPC target
    std::uint64_t delivered = 0;
    std::uint64_t dropped = 0;
    std::uint64_t dropped_reported = 0;  // for the rate-limited diagnostic
};

class Session;

// Where one topic goes, resolved once and reused while nothing subscribes or unsubscribes.
struct RouteTarget {
    Session* session = nullptr;
    std::uint32_t first = 0;  // into RouteCache::hits
    std::uint32_t count = 0;
};
struct RouteCache {
    std::string topic;
    std::uint64_t generation = 0;
    bool valid = false;
    bool allowed = false;
    TopicRootMetrics* root = nullptr;
    std::vector<RouteTarget> targets;
    std::vector<std::uint64_t> ids;
    std::vector<SessionSubscription*> hits;
};

// The server a session's last RPC target went to: a caller repeating its target (the usual
// case) skips validating it again and walking the RPC trie while no subscription changed.
struct RpcRouteCache {
    std::string target;  // validated
    std::uint64_t generation = 0;
    std::uint64_t server = 0;  // session id; 0 = none yet
};

class Session : public std::enable_shared_from_this<Session> {
  public:
    enum class Transport { Socket, Adopted, InProcess };

    Session(std::uint64_t id, Transport transport, BrokerCore* broker, QueueLimits limits);
    virtual ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Router side. False: the queue is full (the caller counts the drop / tells the sender).
    bool enqueue_delivery(const MessageRef& message, std::span<const std::uint64_t> ids);
    bool enqueue_control(const bus::v1::Envelope& envelope);
    // In-process sessions only: the object itself, handed to the client (which may move from it).
    bool enqueue_control(std::shared_ptr<bus::v1::Envelope> envelope);
    // An Envelope already encoded (socket sessions only: see in_process()).
    bool enqueue_control_encoded(MessageRef envelope);
    bool enqueue_error(bus::v1::ErrorCode code, std::string message, std::uint64_t ref = 0);

    // Ends the session: after queued control messages are flushed (best effort, bounded by the
    // write timeout) the transport closes. The broker has already been told.
    virtual void close(std::string reason) = 0;
    // The broker is going away: forget it (no more callbacks into it).
    void detach() { broker_ = nullptr; }

    // Identity (filled at Hello / adopt).
    std::uint64_t id() const { return id_; }
    // control.rpc.reply.<id>: where replies to this session's requests go (built once).
    const std::string& reply_topic() const { return reply_topic_; }
    Transport transport() const { return transport_; }
    const char* transport_name() const;
    bool welcomed = false;
    bool closing = false;
    bus::v1::Role role = bus::v1::ROLE_UNSPECIFIED;
    std::string name;
    std::string instance_id;
    PeerCredentials peer;
    std::optional<PresetIdentity> preset;  // adopted sessions
    PublishAcl acl;
    CollectorAcl collector_acl;  // restricted for adopted collectors only
    TopicSequencer sequencer;
    std::string close_reason;

    std::unordered_map<std::uint64_t, SessionSubscription> subscriptions;
    RouteCache route;         // this session's publishes
    RpcRouteCache rpc_route;  // this session's requests

    // Counters.
    std::uint64_t published = 0;
    std::uint64_t denied = 0;
    std::uint64_t delivered = 0;
    std::uint64_t dropped = 0;
    std::chrono::steady_clock::time_point last_drop_warning{};
    bool drop_warning_pending = false;

    OutboundQueue& queue() { return queue_; }
    SessionStats stats() const;
    std::string describe() const;  // "session 7 (procmond/procmond-1)"

    // Writes what is queued now (socket sessions; see BrokerCore::flush_deferred).
    virtual void flush_now() {}
    // The broker just sent Welcome (welcomed is set): the handshake deadline ends.
    virtual void on_welcomed() {}
    // In-process sessions take control objects as they are; socket sessions encode them.
    virtual bool in_process() const { return false; }

  protected:
    bool push_control(OutboundItem item);
    void control_overflow();
    bool overflow_close_posted_ = false;
    // Wakes the drainer (writer / in-process dispatcher) once after items arrive.
    virtual void wake() = 0;

    BrokerCore* broker_;
    OutboundQueue queue_;

  private:
    std::uint64_t id_;
    std::string reply_topic_;
    Transport transport_;
};

}  // namespace daemoneye::eventbus
