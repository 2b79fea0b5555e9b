#include "broker_core.hpp"

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "broker_listener.hpp"
#include "daemoneye/eventbus/message_view.hpp"
#include "daemoneye/eventbus/protocol.hpp"
#include "daemoneye/eventbus/topic.hpp"
#include "local_session.hpp"
#include "message_encoder.hpp"
#include "remote_session.hpp"
#include "reply_stamp.hpp"
#include "wire_format.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;
using namespace wirefmt;

namespace {

// Room a Deliver/Envelope/Batch wrapper and subscription ids need around a message.
constexpr std::size_t kWrapperReserve = 4096;
constexpr std::size_t kMaxTopicRoots = 256;

std::string_view first_level(std::string_view topic) {
    return topic.substr(0, topic.find('.'));
}

}  // namespace

BrokerCore::BrokerCore(Executor ex, BrokerOptions opts)
    : executor(std::move(ex)),
      options(std::move(opts)),
      pool(std::make_shared<BufferPool>()),
      rpc_sweep_(executor),
      drop_warning_timer_(executor) {}

BrokerCore::~BrokerCore() {
    stop();
}

// --- sessions -------------------------------------------------------------------------------

std::shared_ptr<RemoteSession> BrokerCore::add_remote(Socket socket, Session::Transport transport,
                                                      std::optional<PresetIdentity> preset,
                                                      PeerCredentials peer) {
    wire::StreamOptions so;
    so.max_frame_bytes = options.max_frame_bytes;
    so.read_timeout = options.read_timeout;
    so.write_timeout = options.write_timeout;
    so.crc32_variant = options.crc32_variant;
    if (options.heartbeat_interval.count() > 0) so.idle_timeout = options.heartbeat_interval * 4;
    QueueLimits limits{options.message_buffer_size, options.message_buffer_bytes,
                       options.control_buffer_size};
    const auto id = next_session_id_++;
    auto s = std::make_shared<RemoteSession>(id, transport, this, limits, std::move(socket), so,
                                             options.startup_timeout);
    s->peer = peer;
    s->preset = std::move(preset);
    sessions_.emplace(id, s);
    if (transport == Session::Transport::Socket) ++socket_sessions;
    s->start();
    return s;
}

std::shared_ptr<LocalSession> BrokerCore::add_local() {
    QueueLimits limits{options.message_buffer_size, options.message_buffer_bytes,
                       options.control_buffer_size};
    const auto id = next_session_id_++;
    auto s = std::make_shared<LocalSession>(id, this, limits);
    s->peer.pid = ::getpid();
    s->peer.uid = ::geteuid();
    sessions_.emplace(id, s);
    return s;
}

Session* BrokerCore::find_session(std::uint64_t id) {
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second.get();
}

void BrokerCore::session_closed(Session& s, const std::string& reason) {
    auto it = sessions_.find(s.id());
    if (it == sessions_.end()) return;
    auto keep = std::move(it->second);
    sessions_.erase(it);
    std::erase_if(closed_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    closed_.push_back(keep);
    if (s.transport() == Session::Transport::Socket && socket_sessions > 0) --socket_sessions;
    pub_trie_.erase_session(s.id());
    rpc_trie_.erase_session(s.id());
    subscriptions_ -= std::min(subscriptions_, s.subscriptions.size());
    ++generation_;
    fail_inflight_for(s.id());
    if (s.welcomed) {
        if (counters.sessions_active > 0) --counters.sessions_active;
        spdlog::info("eventbus: {} closed: {}", s.describe(), reason);
        if (on_closed) on_closed(event_for(s, reason));
    }
    // The session may be running the code that closed it: release it later.
    asio::post(executor, [keep = std::move(keep)] {});
}

void BrokerCore::stop() {
    if (stopped) return;
    stopped = true;
    if (listener) listener->close();
    auto all = sessions_;
    for (auto& [id, s] : all) {
        bus::v1::Envelope bye;
        bye.mutable_goodbye()->set_reason("broker stopping");
        (void)s->enqueue_control(bye);
        s->close("broker stopping");
        s->detach();
    }
    sessions_.clear();
    // Closed earlier but still held (a posted drain, a writer finishing its Goodbye): they must
    // not reach back into a broker that may be destroyed before they run.
    for (const auto& w : closed_) {
        if (auto s = w.lock()) s->detach();
    }
    closed_.clear();
    rpc_sweep_.cancel();
    drop_warning_timer_.cancel();
}

SessionEvent BrokerCore::event_for(const Session& s, std::string reason) const {
    auto st = s.stats();
    SessionEvent e;
    e.session_id = s.id();
    e.role = st.role;
    e.name = s.name;
    e.instance_id = s.instance_id;
    e.transport = s.transport_name();
    e.pid = st.pid;
    e.uid = st.uid;
    e.reason = std::move(reason);
    return e;
}

// --- inbound --------------------------------------------------------------------------------

void BrokerCore::protocol_error(Session& s, bus::v1::ErrorCode code, std::string message,
                                std::uint64_t ref, bool disconnect) {
    ++counters.protocol_errors;
    spdlog::warn("eventbus: {}: {}{}", s.describe(), message, disconnect ? " (disconnecting)" : "");
    if (!s.enqueue_error(code, message, ref) && !disconnect) {
        s.close("outbound queue full while reporting: " + message);
        return;
    }
    if (disconnect) s.close(message);
}

void BrokerCore::on_frame(Session& s, std::span<const std::uint8_t> payload) {
    Reader batch(payload);
    std::size_t index = 0;
    while (!batch.done() && !s.closing) {
        std::uint32_t f = 0;
        WireType wt{};
        std::span<const std::uint8_t> item;
        if (!batch.key(f, wt) || f != field::kBatchItems || wt != kLen || !batch.bytes(item)) {
            protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL,
                           "frame payload is not a daemoneye.bus.v1.Batch (item " +
                               std::to_string(index) + ", field " + std::to_string(f) + ")",
                           0, true);
            return;
        }
        ++index;
        Reader env(item);
        std::uint32_t body_field = 0;
        WireType body_wt{};
        std::span<const std::uint8_t> body;
        if (env.done()) {
            protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL,
                           "empty envelope (item " + std::to_string(index) + ")");
            continue;
        }
        if (!env.key(body_field, body_wt) || body_wt != kLen || !env.bytes(body) || !env.done()) {
            protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL,
                           "malformed envelope (item " + std::to_string(index) + ", field " +
                               std::to_string(body_field) + ")");
            continue;
        }
        if (body_field == 0 || body_field > field::kEnvMax) {
            protocol_error(
                s, bus::v1::ERROR_CODE_PROTOCOL,
                "unknown message type (envelope field " + std::to_string(body_field) + ")");
            continue;
        }
        if (!s.welcomed && body_field != field::kEnvHello) {
            protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL,
                           std::string("expected Hello first, got ") + envelope_name(body_field), 0,
                           true);
            return;
        }
        if (body_field == field::kEnvPublish) {
            Reader pub(body);
            std::span<const std::uint8_t> msg;
            std::uint32_t pf = 0;
            WireType pwt{};
            bool have = false;
            while (!pub.done()) {
                if (!pub.key(pf, pwt)) break;
                if (pf == field::kPublishMessage && pwt == kLen) {
                    have = pub.bytes(msg);
                } else if (!pub.skip(pwt)) {
                    break;
                }
            }
            if (!pub.ok() || !have) {
                protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL,
                               "malformed publish (item " + std::to_string(index) + ")");
                continue;
            }
            on_publish_bytes(s, msg);
            continue;
        }
        if (body_field == field::kEnvRpcRequest || body_field == field::kEnvRpcResponse) {
            // Routed by what scan_* read from the bytes; forwarded as they came (rpc_head.hpp).
            if (body_field == field::kEnvRpcRequest) {
                auto head = scan_rpc_request(body);
                if (head) {
                    handle_rpc_request(s, RpcRequestIn{*head, body, nullptr});
                    continue;
                }
                protocol_error(
                    s, bus::v1::ERROR_CODE_PROTOCOL,
                    "malformed rpc_request (item " + std::to_string(index) + "): " + head.error());
            } else {
                auto head = scan_rpc_response(body);
                if (head) {
                    handle_rpc_response(s, RpcResponseIn{*head, item, body, nullptr});
                    continue;
                }
                protocol_error(
                    s, bus::v1::ERROR_CODE_PROTOCOL,
                    "malformed rpc_response (item " + std::to_string(index) + "): " + head.error());
            }
            continue;
        }
        if (!scratch_envelope_.ParseFromArray(item.data(), static_cast<int>(item.size()))) {
            protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL,
                           std::string("malformed ") + envelope_name(body_field) + " (item " +
                               std::to_string(index) + ")");
            continue;
        }
        on_envelope(s, scratch_envelope_);
    }
}

void BrokerCore::on_rpc_request(Session& s, const rpc::v1::RpcRequest& request) {
    if (!s.welcomed) {
        protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL, "expected Hello first", 0, true);
        return;
    }
    handle_rpc_request(
        s, RpcRequestIn{
               {request.correlation_id(), request.target(), request.timeout_ms()}, {}, &request});
}

void BrokerCore::on_rpc_response(Session& s, const rpc::v1::RpcResponse& response,
                                 const ReplyStamp* stamp) {
    if (!s.welcomed) {
        protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL, "expected Hello first", 0, true);
        return;
    }
    const std::string_view id = stamp ? stamp->correlation_id : response.correlation_id();
    handle_rpc_response(s, RpcResponseIn{{id}, {}, {}, &response, stamp});
}

void BrokerCore::on_envelope(Session& s, const bus::v1::Envelope& env) {
    using E = bus::v1::Envelope;
    if (!s.welcomed && env.body_case() != E::kHello) {
        protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL, "expected Hello first", 0, true);
        return;
    }
    switch (env.body_case()) {
        case E::kHello:
            handle_hello(s, env.hello());
            break;
        case E::kSubscribe:
            handle_subscribe(s, env.subscribe());
            break;
        case E::kUnsubscribe:
            handle_unsubscribe(s, env.unsubscribe());
            break;
        case E::kPublish: {
            const std::string bytes = env.publish().message().SerializeAsString();
            on_publish_bytes(s,
                             {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
            break;
        }
        case E::kRpcRequest:
            on_rpc_request(s, env.rpc_request());
            break;
        case E::kRpcResponse:
            on_rpc_response(s, env.rpc_response());
            break;
        case E::kHeartbeat: {
            bus::v1::Envelope echo;
            echo.mutable_heartbeat()->set_sequence(env.heartbeat().sequence());
            echo.mutable_heartbeat()->mutable_timestamp()->set_unix_nanos(unix_now_ns());
            (void)s.enqueue_control(echo);
            break;
        }
        case E::kGoodbye:
            s.close("goodbye: " + env.goodbye().reason());
            break;
        case E::BODY_NOT_SET:
            protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL, "empty envelope");
            break;
        default:
            protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL,
                           std::string("unexpected ") +
                               envelope_name(static_cast<std::uint32_t>(env.body_case())) +
                               " from a client");
    }
}

Result<bus::v1::Welcome, bus::v1::Error> BrokerCore::admit(Session& s,
                                                           const bus::v1::Hello& hello) {
    auto refuse = [&](bus::v1::ErrorCode code, std::string message) {
        bus::v1::Error e;
        e.set_code(code);
        e.set_message(std::move(message));
        return unexpected(std::move(e));
    };
    if (s.welcomed) return refuse(bus::v1::ERROR_CODE_PROTOCOL, "duplicate Hello");
    if (hello.protocol_version() != kProtocolVersion) {
        return refuse(bus::v1::ERROR_CODE_VERSION, "protocol version " +
                                                       std::to_string(hello.protocol_version()) +
                                                       " is not supported (this broker speaks " +
                                                       std::to_string(kProtocolVersion) + ")");
    }
    std::vector<std::string> grants;
    if (s.preset) {
        const auto& p = *s.preset;
        if (hello.role() != bus::v1::ROLE_COLLECTOR) {
            return refuse(bus::v1::ERROR_CODE_DENIED,
                          "this connection was created for collector instance '" + p.instance_id +
                              "'; Hello must say role COLLECTOR");
        }
        if (hello.instance_id() != p.instance_id) {
            return refuse(bus::v1::ERROR_CODE_DENIED,
                          "Hello says instance '" + hello.instance_id() +
                              "' but this connection belongs to instance '" + p.instance_id + "'");
        }
        if (hello.manifest().name() != p.plugin_name) {
            return refuse(bus::v1::ERROR_CODE_DENIED,
                          "Hello says plugin '" + hello.manifest().name() + "' but instance '" +
                              p.instance_id + "' runs plugin '" + p.plugin_name + "'");
        }
        grants = p.publish_grants;
        s.collector_acl = CollectorAcl(p);
        for (const auto& bad : s.collector_acl.rejected_grants()) {
            spdlog::warn("eventbus: {}: ignoring invalid grant '{}'", s.describe(), bad);
        }
    } else if (s.transport() == Session::Transport::InProcess) {
        grants = {"#"};
    } else if (options.authorize) {
        grants = options.authorize(hello, s.peer);
    } else {
        grants = options.socket_publish_grants;
    }
    s.role = hello.role();
    s.name = !hello.client_name().empty() ? hello.client_name() : hello.manifest().name();
    s.instance_id = hello.instance_id();
    if (s.peer.pid == 0) s.peer.pid = hello.pid();
    s.acl = PublishAcl(std::move(grants));
    for (const auto& bad : s.acl.rejected_grants()) {
        spdlog::warn("eventbus: {}: ignoring invalid publish grant '{}'", s.describe(), bad);
    }
    bus::v1::Welcome w;
    w.set_session_id(s.id());
    for (const auto& g : s.acl.grants()) w.add_publish_grants(g);
    if (s.preset) {
        for (const auto& [k, v] : s.preset->config) (*w.mutable_config())[k] = v;
    }
    w.set_reply_topic(s.reply_topic());
    w.set_max_frame_bytes(static_cast<std::uint32_t>(options.max_frame_bytes));
    w.set_heartbeat_interval_ms(static_cast<std::uint32_t>(options.heartbeat_interval.count()));
    w.set_protocol_version(kProtocolVersion);
    s.welcomed = true;
    s.on_welcomed();
    ++counters.sessions_total;
    ++counters.sessions_active;
    spdlog::info("eventbus: {} welcomed ({}, grants: {})", s.describe(), s.transport_name(),
                 s.acl.describe());
    if (on_open) {
        auto event = event_for(s, {});
        event.hello = &hello;
        on_open(event);
    }
    return w;
}

void BrokerCore::handle_hello(Session& s, const bus::v1::Hello& hello) {
    auto admitted = admit(s, hello);
    if (!admitted) {
        const bool duplicate = admitted.error().message() == "duplicate Hello";
        if (!duplicate) ++counters.sessions_refused;
        protocol_error(s, admitted.error().code(), admitted.error().message(), 0, !duplicate);
        return;
    }
    bus::v1::Envelope env;
    *env.mutable_welcome() = std::move(*admitted);
    (void)s.enqueue_control(env);
}

void BrokerCore::handle_subscribe(Session& s, const bus::v1::Subscribe& sub) {
    const auto id = sub.subscription_id();
    if (auto v = validate_pattern(sub.pattern()); !v) {
        protocol_error(s, bus::v1::ERROR_CODE_INVALID_PATTERN,
                       "invalid pattern '" + sub.pattern() + "': " + v.error().message, id);
        return;
    }
    auto allowed = check_subscribe_pattern(sub.pattern(), s.id());
    if (allowed) {
        allowed = sub.rpc_server() ? s.collector_acl.check_serve(sub.pattern())
                                   : s.collector_acl.check_subscribe(sub.pattern());
    }
    if (!allowed) {
        ++counters.denials;
        ++s.denied;
        protocol_error(s, bus::v1::ERROR_CODE_DENIED, allowed.error().message, id);
        return;
    }
    if (s.subscriptions.contains(id)) {
        protocol_error(s, bus::v1::ERROR_CODE_DUPLICATE,
                       "subscription id " + std::to_string(id) + " is already in use ('" +
                           s.subscriptions[id].pattern + "')",
                       id);
        return;
    }
    if (s.preset && s.subscriptions.size() >= options.max_collector_subscriptions) {
        protocol_error(s, bus::v1::ERROR_CODE_LIMIT,
                       "subscription '" + sub.pattern() +
                           "' refused: a collector session may hold " +
                           std::to_string(options.max_collector_subscriptions) +
                           " subscriptions (broker.max_subscriptions_per_collector)",
                       id);
        return;
    }
    if (subscriptions_ >= options.max_subscribers) {
        protocol_error(s, bus::v1::ERROR_CODE_LIMIT,
                       "subscription '" + sub.pattern() + "' refused: broker.max_subscribers (" +
                           std::to_string(options.max_subscribers) + ") reached",
                       id);
        return;
    }
    auto& trie = sub.rpc_server() ? rpc_trie_ : pub_trie_;
    trie.insert(sub.pattern(), SubscriberRef{s.id(), id});
    SessionSubscription state;
    state.id = id;
    state.pattern = sub.pattern();
    state.rpc_server = sub.rpc_server();
    state.exact = sub.pattern().find_first_of("+#") == std::string::npos;
    s.subscriptions.emplace(id, std::move(state));
    ++subscriptions_;
    ++generation_;
    bus::v1::Envelope ack;
    ack.mutable_ack()->set_ref(id);
    (void)s.enqueue_control(ack);
}

void BrokerCore::handle_unsubscribe(Session& s, const bus::v1::Unsubscribe& unsub) {
    const auto id = unsub.subscription_id();
    auto it = s.subscriptions.find(id);
    if (it == s.subscriptions.end()) {
        protocol_error(s, bus::v1::ERROR_CODE_NOT_FOUND,
                       "unsubscribe: no subscription " + std::to_string(id), id);
        return;
    }
    auto& trie = it->second.rpc_server ? rpc_trie_ : pub_trie_;
    trie.erase(it->second.pattern, SubscriberRef{s.id(), id});
    s.subscriptions.erase(it);
    --subscriptions_;
    ++generation_;
    bus::v1::Envelope ack;
    ack.mutable_ack()->set_ref(id);
    (void)s.enqueue_control(ack);
}

void BrokerCore::flush_deferred() {
    // Still deferring while flushing: an in-process client's handler runs here and its output
    // joins this round; a failed write may close a session and queue output for others.
    while (!flush_pending.empty()) {
        auto pending = std::move(flush_pending);
        flush_pending.clear();
        for (auto& s : pending) s->flush_now();
    }
    deferring_flush = false;
    ++flush_round;
}

// --- publish and routing --------------------------------------------------------------------

TopicRootMetrics* BrokerCore::root_metrics(std::string_view topic) {
    std::string_view root = first_level(topic);
    auto it = roots_.find(root);
    if (it == roots_.end()) {
        if (roots_.size() >= kMaxTopicRoots) root = "(other)";
        it = roots_.try_emplace(std::string(root)).first;
        it->second.root = it->first;
    }
    return &it->second;
}

void BrokerCore::on_publish_bytes(Session& s, std::span<const std::uint8_t> msg) {
    // The topic is all the broker needs; the rest is forwarded as the publisher encoded it.
    // Checked whole, as protobuf would: what the broker forwards parses for every subscriber.
    const auto view = MessageView::parse(msg);
    if (!view) {
        protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL,
                       "malformed publish: " + view.error().message);
        return;
    }
    const std::string_view topic = view->topic();
    if (msg.size() + kWrapperReserve > options.max_frame_bytes) {
        protocol_error(s, bus::v1::ERROR_CODE_LIMIT,
                       "publish to '" + std::string(topic) + "': message of " +
                           std::to_string(msg.size()) + " bytes cannot be delivered within " +
                           std::to_string(options.max_frame_bytes) + "-byte frames");
        return;
    }
    RouteCache& rc = s.route;
    if (!rc.valid || rc.topic != topic) {
        if (auto v = validate_topic(topic); !v) {
            protocol_error(
                s, bus::v1::ERROR_CODE_INVALID_TOPIC,
                "publish to invalid topic '" + std::string(topic) + "': " + v.error().message);
            return;
        }
        rc.topic.assign(topic);
        rc.valid = true;
        rc.allowed = s.acl.allows(topic);
        rc.generation = 0;
        rc.root = root_metrics(topic);
    }
    if (!rc.allowed) {
        ++counters.denials;
        ++s.denied;
        auto why = s.acl.check(topic);
        const std::string message = why ? "denied" : why.error().message;
        spdlog::warn("eventbus: {}: {}", s.describe(), message);
        if (!s.enqueue_error(bus::v1::ERROR_CODE_DENIED, message)) {
            s.close("outbound queue full while reporting: " + message);
        }
        return;
    }
    auto seq = s.sequencer.next(topic);
    if (!seq) {
        protocol_error(s, bus::v1::ERROR_CODE_LIMIT,
                       "publish to '" + std::string(topic) + "': session already publishes on " +
                           std::to_string(s.sequencer.topics()) + " distinct topics");
        return;
    }
    MessageRef buf = pool->allocate(msg.size() + stamp_size(s.id(), *seq));
    std::memcpy(buf->data(), msg.data(), msg.size());
    const std::uint8_t* end = write_stamp(buf->data() + msg.size(), s.id(), *seq);
    buf->size = static_cast<std::uint32_t>(end - buf->data());
    ++s.published;
    ++counters.publishes;
    ++rc.root->publishes;
    route(rc, buf);
}

Result<void, BusError> BrokerCore::publish_local(Session& s, std::string_view topic,
                                                 std::string_view payload_type,
                                                 std::span<const std::uint8_t> payload,
                                                 const common::v1::CorrelationMetadata* corr) {
    if (s.closing || stopped)
        return unexpected(BusError{BusError::Code::NotConnected, "broker stopped"});
    RouteCache& rc = s.route;
    if (!rc.valid || rc.topic != topic) {
        if (auto v = validate_topic(topic); !v) {
            return unexpected(
                BusError{BusError::Code::InvalidTopic,
                         "invalid topic '" + std::string(topic) + "': " + v.error().message});
        }
        rc.topic.assign(topic);
        rc.valid = true;
        rc.allowed = s.acl.allows(topic);
        rc.generation = 0;
        rc.root = root_metrics(topic);
    }
    if (!rc.allowed) {
        ++counters.denials;
        ++s.denied;
        return unexpected(BusError{BusError::Code::Denied, s.acl.check(topic).error().message});
    }
    auto seq = s.sequencer.next(topic);
    if (!seq) return unexpected(BusError{BusError::Code::Limit, "too many distinct topics"});
    MessageEncoder enc(topic, payload_type, payload, unix_now_ns(), corr);
    if (enc.size() + kWrapperReserve > options.max_frame_bytes) {
        return unexpected(BusError{
            BusError::Code::Limit,
            "message of " + std::to_string(enc.size()) + " bytes exceeds max_frame_bytes"});
    }
    MessageRef buf = pool->allocate(enc.size() + stamp_size(s.id(), *seq));
    std::uint8_t* p = enc.write(buf->data());
    p = write_stamp(p, s.id(), *seq);
    buf->size = static_cast<std::uint32_t>(p - buf->data());
    ++s.published;
    ++counters.publishes;
    ++rc.root->publishes;
    route(rc, buf);
    return {};
}

void BrokerCore::resolve(RouteCache& rc) {
    rc.targets.clear();
    rc.ids.clear();
    rc.hits.clear();
    match_scratch_.clear();
    pub_trie_.match(rc.topic, [&](const SubscriberRef& ref) { match_scratch_.push_back(ref); });
    std::sort(match_scratch_.begin(), match_scratch_.end(), [](const auto& a, const auto& b) {
        return a.session_id != b.session_id ? a.session_id < b.session_id
                                            : a.subscription_id < b.subscription_id;
    });
    for (std::size_t i = 0; i < match_scratch_.size();) {
        const auto sid = match_scratch_[i].session_id;
        Session* target = find_session(sid);
        RouteTarget t{target, static_cast<std::uint32_t>(rc.ids.size()), 0};
        for (; i < match_scratch_.size() && match_scratch_[i].session_id == sid; ++i) {
            if (!target) continue;
            auto it = target->subscriptions.find(match_scratch_[i].subscription_id);
            if (it == target->subscriptions.end()) continue;
            rc.ids.push_back(match_scratch_[i].subscription_id);
            rc.hits.push_back(&it->second);
            ++t.count;
        }
        if (target && t.count > 0 && !target->closing) rc.targets.push_back(t);
    }
    rc.generation = generation_;
}

void BrokerCore::route(RouteCache& rc, const MessageRef& message) {
    if (rc.generation != generation_) resolve(rc);
    for (const RouteTarget& t : rc.targets) {
        std::span<const std::uint64_t> ids(rc.ids.data() + t.first, t.count);
        if (t.session->enqueue_delivery(message, ids)) {
            ++t.session->delivered;
            ++counters.deliveries;
            ++rc.root->deliveries;
            for (std::uint32_t i = 0; i < t.count; ++i) ++rc.hits[t.first + i]->delivered;
        } else {
            ++t.session->dropped;
            ++counters.drops;
            ++rc.root->drops;
            for (std::uint32_t i = 0; i < t.count; ++i) ++rc.hits[t.first + i]->dropped;
            note_drop(*t.session);
        }
    }
}

void BrokerCore::note_drop(Session& target) {
    if (target.drop_warning_pending) return;
    target.drop_warning_pending = true;
    const auto due = target.last_drop_warning + options.diagnostic_interval;
    if (Clock::now() < due) {
        // Inside the interval: one warning when it ends covers every drop until then, even if
        // the drops stop meanwhile.
        drop_warnings_due_.emplace_back(due, target.id());
        if (drop_warnings_due_.size() == 1) arm_drop_warning_timer();
        return;
    }
    // Emitted from a fresh handler: routing the warning may itself find full queues.
    asio::post(executor, [this, alive = liveness(), id = target.id()] {
        if (alive.lock()) emit_drop_warning(id);
    });
}

void BrokerCore::arm_drop_warning_timer() {
    if (drop_warnings_due_.empty() || stopped) return;
    drop_warning_timer_.expires_at(drop_warnings_due_.front().first);
    drop_warning_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopped) return;
        const auto now = Clock::now();
        while (!drop_warnings_due_.empty() && drop_warnings_due_.front().first <= now) {
            const auto id = drop_warnings_due_.front().second;
            drop_warnings_due_.pop_front();
            emit_drop_warning(id);
        }
        arm_drop_warning_timer();
    });
}

void BrokerCore::emit_drop_warning(std::uint64_t session_id) {
    Session* s = find_session(session_id);
    if (!s || stopped) return;
    s->drop_warning_pending = false;
    s->last_drop_warning = Clock::now();
    bus::v1::Diagnostic d;
    d.set_severity("warning");
    d.set_source("eventbus.broker");
    std::string detail;
    std::uint64_t total_new = 0;
    for (auto& [id, sub] : s->subscriptions) {
        const auto fresh = sub.dropped - sub.dropped_reported;
        if (fresh == 0) continue;
        sub.dropped_reported = sub.dropped;
        total_new += fresh;
        if (!detail.empty()) detail += ", ";
        detail += std::to_string(fresh) + " on subscription " + std::to_string(id) + " '" +
                  sub.pattern + "'";
        (*d.mutable_fields())["subscription." + std::to_string(id) + ".dropped"] =
            std::to_string(sub.dropped);
    }
    if (total_new == 0) return;
    d.set_message(s->describe() + " is not keeping up: dropped " + detail +
                  " (outbound queue full: " + std::to_string(s->queue().messages()) +
                  " messages, " + std::to_string(s->queue().bytes()) + " bytes)");
    (*d.mutable_fields())["session"] = std::to_string(s->id());
    (*d.mutable_fields())["dropped_total"] = std::to_string(s->dropped);
    spdlog::warn("eventbus: {}", d.message());
    publish_internal(kDiagnosticsTopic, d);
}

void BrokerCore::publish_internal(std::string_view topic,
                                  const google::protobuf::MessageLite& payload) {
    const std::string bytes = payload.SerializeAsString();
    // GetTypeName() returns a temporary string here (protobuf 3.21): keep it alive, the encoder
    // only holds a view.
    const std::string type_name = payload.GetTypeName();
    auto seq = own_sequencer_.next(topic);
    MessageEncoder enc(topic, type_name,
                       {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()},
                       unix_now_ns(), nullptr);
    MessageRef buf = pool->allocate(enc.size() + stamp_size(0, seq.value_or(0)));
    std::uint8_t* p = enc.write(buf->data());
    p = write_stamp(p, 0, seq.value_or(0));
    buf->size = static_cast<std::uint32_t>(p - buf->data());
    if (!own_route_.valid || own_route_.topic != topic) {
        own_route_.topic.assign(topic);
        own_route_.valid = true;
        own_route_.allowed = true;
        own_route_.generation = 0;
        own_route_.root = root_metrics(topic);
    }
    ++counters.publishes;
    ++own_route_.root->publishes;
    route(own_route_, buf);
}

// --- RPC ------------------------------------------------------------------------------------

namespace {

// What an in-process peer gets: the in-process sender's object (copied), or one parsed from the
// bytes a socket peer sent. False when those bytes do not parse.
template <class M>
bool object_for_in_process(M& out, const M* object, std::span<const std::uint8_t> body) {
    if (object) {
        out = *object;
        return true;
    }
    return out.ParseFromArray(body.data(), static_cast<int>(body.size()));
}

}  // namespace

void BrokerCore::answer_rpc(Session& requester, const RpcRequestIn& request,
                            rpc::v1::ErrorCode code, std::string message) {
    if (request.object) {
        answer_rpc(requester, request.head.correlation_id, &request.object->correlation(), code,
                   std::move(message));
        return;
    }
    // An error path: the whole body is parsed only here, for its correlation metadata.
    rpc::v1::RpcRequest parsed;
    const bool ok =
        parsed.ParseFromArray(request.body.data(), static_cast<int>(request.body.size()));
    answer_rpc(requester, request.head.correlation_id, ok ? &parsed.correlation() : nullptr, code,
               std::move(message));
}

void BrokerCore::answer_rpc(Session& requester, std::string_view correlation_id,
                            const common::v1::CorrelationMetadata* correlation,
                            rpc::v1::ErrorCode code, std::string message) {
    bus::v1::Envelope env;
    auto* r = env.mutable_rpc_response();
    r->set_correlation_id(std::string(correlation_id));
    r->set_status(rpc::v1::STATUS_ERROR);
    r->mutable_error()->set_code(code);
    r->mutable_error()->set_message(std::move(message));
    if (correlation) *r->mutable_correlation() = *correlation;
    r->set_responder("broker");
    if (!requester.enqueue_control(env)) {
        spdlog::warn("eventbus: {}: could not queue RPC error for '{}': control queue full",
                     requester.describe(), correlation_id);
    }
}

void BrokerCore::handle_rpc_request(Session& s, const RpcRequestIn& in) {
    const auto& head = in.head;
    if (head.correlation_id.empty()) {
        ++counters.protocol_errors;
        answer_rpc(s, in, rpc::v1::ERROR_CODE_INVALID_OPERATION,
                   "RPC request without a correlation id");
        return;
    }
    if (s.rpc_route.target != head.target) {  // the remembered one was validated
        if (auto v = validate_topic(head.target); !v) {
            ++counters.protocol_errors;
            answer_rpc(
                s, in, rpc::v1::ERROR_CODE_INVALID_OPERATION,
                "invalid RPC target '" + std::string(head.target) + "': " + v.error().message);
            return;
        }
    }
    if (s.collector_acl.restricted()) {
        if (auto ok = s.collector_acl.check_call(head.target); !ok) {
            ++counters.denials;
            ++s.denied;
            spdlog::warn("eventbus: {}: {}", s.describe(), ok.error().message);
            answer_rpc(s, in, rpc::v1::ERROR_CODE_DENIED, ok.error().message);
            return;
        }
    }
    if (inflight_.find(head.correlation_id) != inflight_.end()) {
        // Answered as an RPC error, so the caller's call fails now instead of at its timeout.
        // (Ids are broker-wide: a caller-chosen id may clash with another session's.)
        ++counters.protocol_errors;
        std::string why = "duplicate correlation id '" + std::string(head.correlation_id) +
                          "': a request with this id is still pending";
        spdlog::warn("eventbus: {}: {}", s.describe(), why);
        answer_rpc(s, in, rpc::v1::ERROR_CODE_INVALID_OPERATION, std::move(why));
        return;
    }
    if (inflight_.size() >= options.max_pending_requests) {
        ++counters.rpc_overloaded;
        answer_rpc(s, in, rpc::v1::ERROR_CODE_OVERLOADED,
                   "broker has " + std::to_string(inflight_.size()) +
                       " RPC requests pending (rpc.max_pending_requests)");
        return;
    }
    Session* server = rpc_server(s.rpc_route, head.target);
    if (!server) {
        ++counters.rpc_not_found;
        answer_rpc(s, in, rpc::v1::ERROR_CODE_NOT_FOUND,
                   "no session serves RPC target '" + std::string(head.target) + "'");
        return;
    }
    bool queued = false;
    const std::string& reply_to = s.reply_topic();
    if (!server->in_process()) {
        // The request's bytes (as they came from a socket, or encoded once here), plus reply_to
        // appended: a repeated singular field's last occurrence wins, so the server reads ours
        // whatever the client wrote.
        const std::size_t size = in.object ? in.object->ByteSizeLong() : in.body.size();
        const std::size_t body = size + len_field_size(reply_to.size());
        auto buf = pool->allocate(len_field_size(body));
        std::uint8_t* p = put_len_header(buf->data(), field::kEnvRpcRequest, body);
        if (in.object) {
            in.object->SerializeWithCachedSizesToArray(p);
        } else {
            std::memcpy(p, in.body.data(), size);
        }
        p = put_bytes(p + size, field::kRpcRequestReplyTo, reply_to.data(), reply_to.size());
        buf->size = static_cast<std::uint32_t>(p - buf->data());
        if (!fits_frame(buf->size)) {  // a request near the limit, grown by reply_to
            ++counters.rpc_failed;
            answer_rpc(s, in, rpc::v1::ERROR_CODE_INVALID_OPERATION,
                       "RPC request of " + std::to_string(buf->size) +
                           " bytes (with its reply_to) does not fit max_frame_bytes " +
                           std::to_string(options.max_frame_bytes));
            return;
        }
        queued = server->enqueue_control_encoded(std::move(buf));
    } else {
        // The in-process server gets an object: parsed here, once, straight into its Envelope,
        // on a reused arena (the server reads it in place; request_arenas.hpp).
        auto env = request_arenas_.envelope();
        auto* fwd = env->mutable_rpc_request();
        if (!object_for_in_process(*fwd, in.object, in.body)) {
            ++counters.protocol_errors;
            answer_rpc(s, in, rpc::v1::ERROR_CODE_INVALID_OPERATION,
                       "malformed RPC request: its body does not parse as rpc.v1.RpcRequest");
            return;
        }
        fwd->set_reply_to(reply_to);
        queued = server->enqueue_control(std::move(env));
    }
    if (!queued) {
        ++counters.rpc_failed;
        answer_rpc(s, in, rpc::v1::ERROR_CODE_COMMUNICATION_ERROR,
                   "RPC target '" + std::string(head.target) + "' (" + server->describe() +
                       ") is not reading: its queue is full");
        return;
    }
    const auto timeout = head.timeout_ms > 0 ? std::chrono::milliseconds(head.timeout_ms)
                                             : options.default_rpc_timeout;
    inflight_.emplace(
        std::string(head.correlation_id),
        InFlight{s.id(), server->id(), Clock::now() + timeout + options.late_reply_grace,
                 std::string(head.target)});
    ++counters.rpc_requests;
    arm_rpc_sweep();
}

Session* BrokerCore::rpc_server(RpcRouteCache& route, std::string_view target) {
    if (route.target == target && route.server != 0 && route.generation == generation_) {
        Session* cached = find_session(route.server);
        if (cached && !cached->closing) return cached;
    }
    // One server: an exact pattern wins over a wildcard; among equals the oldest subscription.
    Session* server = nullptr;
    bool server_exact = false;
    std::uint64_t best_sub = 0;
    rpc_trie_.match(target, [&](const SubscriberRef& ref) {
        Session* cand = find_session(ref.session_id);
        if (!cand || cand->closing) return;
        auto it = cand->subscriptions.find(ref.subscription_id);
        const bool exact = it != cand->subscriptions.end() && it->second.exact;
        const bool better = !server || (exact && !server_exact) ||
                            (exact == server_exact && cand->id() < server->id()) ||
                            (cand == server && ref.subscription_id < best_sub);
        if (better) {
            server = cand;
            server_exact = exact;
            best_sub = ref.subscription_id;
        }
    });
    route.target.assign(target);
    route.generation = generation_;
    route.server = server ? server->id() : 0;
    return server;
}

void BrokerCore::handle_rpc_response(Session& s, const RpcResponseIn& in) {
    const auto id = in.head.correlation_id;
    auto it = inflight_.find(id);
    if (it == inflight_.end()) {
        ++counters.rpc_late_replies;
        spdlog::info(
            "eventbus: {}: reply for '{}' dropped: no such request pending (late or unknown)",
            s.describe(), id);
        return;
    }
    // A server whose session closed may still answer over its reconnected one (its handler
    // outlived that session); any other session answering is refused.
    if (it->second.server != kNoSession && it->second.server != s.id()) {
        protocol_error(s, bus::v1::ERROR_CODE_DENIED,
                       "reply for '" + std::string(id) +
                           "' refused: that request was sent to another session");
        return;
    }
    Session* requester = find_session(it->second.requester);  // none once gone or answered
    inflight_.erase(it);
    if (!requester) {
        ++counters.rpc_orphaned_replies;
        spdlog::info(
            "eventbus: {}: reply for '{}' dropped: its caller has disconnected, or was "
            "answered when the server's session closed",
            s.describe(), id);
        return;
    }
    bool queued = false;
    if (!requester->in_process()) {
        // The Envelope as it came from a socket, or encoded once here (with the stamp after it).
        MessageRef buf;
        if (in.object) {
            const std::size_t body = in.object->ByteSizeLong() + (in.stamp ? in.stamp->size() : 0);
            buf = pool->allocate(len_field_size(body));
            std::uint8_t* p = put_len_header(buf->data(), field::kEnvRpcResponse, body);
            p = in.object->SerializeWithCachedSizesToArray(p);
            if (in.stamp) p = in.stamp->write(p);
            buf->size = static_cast<std::uint32_t>(p - buf->data());
        } else {
            buf = pool->allocate(in.envelope.size());
            std::memcpy(buf->data(), in.envelope.data(), in.envelope.size());
            buf->size = static_cast<std::uint32_t>(in.envelope.size());
        }
        if (!fits_frame(buf->size)) {  // e.g. an in-process server's big reply
            ++counters.rpc_failed;
            std::string why = "the reply from " + s.describe() + " (" + std::to_string(buf->size) +
                              " bytes) does not fit max_frame_bytes " +
                              std::to_string(options.max_frame_bytes);
            spdlog::warn("eventbus: reply for '{}' to {} dropped: {}", id, requester->describe(),
                         why);
            (void)s.enqueue_error(bus::v1::ERROR_CODE_LIMIT,
                                  "reply for '" + std::string(id) + "' refused: " + why);
            answer_rpc(*requester, id, nullptr, rpc::v1::ERROR_CODE_COMMUNICATION_ERROR,
                       std::move(why));
            return;
        }
        queued = requester->enqueue_control_encoded(std::move(buf));
    } else {
        auto env = std::make_shared<bus::v1::Envelope>();
        auto* rsp = env->mutable_rpc_response();
        if (!object_for_in_process(*rsp, in.object, in.body)) {
            // The caller learns at once; the server is told what was wrong with its reply.
            protocol_error(s, bus::v1::ERROR_CODE_PROTOCOL,
                           "malformed reply for '" + std::string(id) +
                               "': its body does not parse as rpc.v1.RpcResponse");
            ++counters.rpc_failed;
            answer_rpc(*requester, id, nullptr, rpc::v1::ERROR_CODE_COMMUNICATION_ERROR,
                       "the reply from " + s.describe() + " was malformed");
            return;
        }
        if (in.stamp) in.stamp->apply(*rsp);
        queued = requester->enqueue_control(std::move(env));
    }
    if (!queued) {
        ++counters.rpc_failed;
        (void)s.enqueue_error(bus::v1::ERROR_CODE_BACKPRESSURE,
                              "reply for '" + std::string(id) + "' could not be queued: " +
                                  requester->describe() + " is not reading");
        return;
    }
    ++counters.rpc_responses;
}

bool BrokerCore::fits_frame(std::size_t envelope_bytes) const {
    return len_field_size(envelope_bytes) <= options.max_frame_bytes;
}

void BrokerCore::fail_inflight_for(std::uint64_t session_id) {
    // Entries stay until their reply or their deadline, whichever side left: a server's client
    // may still answer (a handler that outlived its session replies over the reconnected one),
    // and an id freed now could be taken by another caller, who would then get this reply.
    for (auto& [id, f] : inflight_) {
        if (f.server == session_id) {
            f.server = kNoSession;
            if (f.requester == session_id) {
                f.requester = kNoSession;
            } else if (Session* req = find_session(f.requester)) {
                ++counters.rpc_failed;
                answer_rpc(*req, id, nullptr, rpc::v1::ERROR_CODE_COMMUNICATION_ERROR,
                           "RPC target '" + f.target + "' went away before replying");
                f.requester = kNoSession;  // answered: a reply now has nobody to go to
            }
        } else if (f.requester == session_id) {
            f.requester = kNoSession;
        }
    }
}

void BrokerCore::arm_rpc_sweep() {
    if (sweep_armed_ || inflight_.empty()) return;
    sweep_armed_ = true;
    rpc_sweep_.expires_after(std::chrono::seconds(1));
    rpc_sweep_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled by stop() or by the destructor: `this` may be gone
        sweep_armed_ = false;
        if (stopped) return;
        const auto now = Clock::now();
        std::erase_if(inflight_, [&](const auto& kv) { return kv.second.expires <= now; });
        arm_rpc_sweep();
    });
}

// --- metrics --------------------------------------------------------------------------------

BrokerMetrics BrokerCore::metrics() const {
    BrokerMetrics m = counters;
    m.subscriptions = subscriptions_;
    m.rpc_pending = inflight_.size();
    m.queue_capacity = options.message_buffer_size;
    m.queued_messages = 0;
    m.queued_bytes = 0;
    m.max_session_queue = 0;
    for (const auto& [id, s] : sessions_) {
        const auto& q = const_cast<Session&>(*s).queue();
        m.queued_messages += q.messages();
        m.queued_bytes += q.bytes();
        m.max_session_queue = std::max<std::uint64_t>(m.max_session_queue, q.messages());
    }
    m.topic_roots.clear();
    for (const auto& [root, r] : roots_) m.topic_roots.push_back(r);
    return m;
}

std::vector<SessionStats> BrokerCore::session_stats() const {
    std::vector<SessionStats> out;
    for (const auto& [id, s] : sessions_) {
        if (s->welcomed) out.push_back(s->stats());
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.session_id < b.session_id; });
    return out;
}

}  // namespace daemoneye::eventbus
