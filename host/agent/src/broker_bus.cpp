// BusPort over the embedded daemoneye::eventbus::Broker and one in-process BusClient (role
// AGENT): the broker listens on broker.socket_path, adopts each collector's socketpair end with
// the identity the process manager vouches for, and reports sessions opening and closing.
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "agent.hpp"
#include "bus_port.hpp"
#include "daemoneye/eventbus/broker.hpp"
#include "daemoneye/eventbus/bus_client.hpp"
#include "metrics.hpp"

namespace daemoneye::agent {

namespace asio = boost::asio;
namespace eb = daemoneye::eventbus;
namespace rpcv1 = daemoneye::rpc::v1;

namespace {

// rpc.enable_correlation_tracking: one line per RPC the agent serves or makes, with the ids that
// tie it to its request chain (the same fields travel in every request and reply regardless).
// The caller's side reads the ids off the reply when it has them: the client fills in what the
// request lacked (its id, the root) as it sends it, and the server stamps those on the reply.
void log_rpc(const char* what, const rpcv1::RpcRequest& req, const rpcv1::RpcResponse& rsp,
             std::chrono::steady_clock::duration took) {
    const bool from_reply = !rsp.correlation_id().empty() && rsp.has_correlation();
    const auto& c = from_reply ? rsp.correlation() : req.correlation();
    spdlog::info(
        "rpc {} {} {} correlation={} root={} parent={} stage={} client={} -> {}{} in {} us", what,
        req.target(), rpcv1::Operation_Name(req.operation()),
        from_reply ? rsp.correlation_id() : req.correlation_id(), c.root_correlation_id(),
        c.parent_correlation_id(), c.workflow_stage(), req.client_id(),
        rpcv1::Status_Name(rsp.status()),
        rsp.status() == rpcv1::STATUS_ERROR
            ? " " + rpcv1::ErrorCode_Name(rsp.error().code()) + ": " + rsp.error().message()
            : std::string(),
        std::chrono::duration_cast<std::chrono::microseconds>(took).count());
}

class BrokerBus final : public BusPort {
  public:
    BrokerBus(asio::io_context& io, const Config& config) : io_(io), config_(config) {}
    ~BrokerBus() override { stop(); }

    bool available() const override { return true; }
    std::string why_unavailable() const override {
        return error_.empty() ? "broker stopped" : error_;
    }

    Status start() override {
        eb::BrokerOptions o;
        o.socket_path = config_.broker.socket_path;
        o.startup_timeout = std::chrono::seconds(config_.broker.startup_timeout_seconds);
        o.max_subscribers = config_.broker.max_subscribers;
        o.message_buffer_size = config_.broker.message_buffer_size;
        o.max_connections = config_.broker.max_connections;
        o.max_collector_subscriptions = config_.broker.max_subscriptions_per_collector;
        o.max_frame_bytes = config_.ipc.max_frame_bytes;
        o.crc32_variant = config_.ipc.crc32_variant;
        o.read_timeout = std::chrono::milliseconds(config_.ipc.read_timeout_ms);
        o.write_timeout = std::chrono::milliseconds(config_.ipc.write_timeout_ms);
        o.max_pending_requests = config_.rpc.max_pending_requests;
        o.default_rpc_timeout = std::chrono::seconds(config_.rpc.default_timeout_seconds);
        // Heartbeats drive the process manager's Degraded/restart decisions: announce an interval
        // well inside process_manager.heartbeat_timeout_seconds.
        o.heartbeat_interval = std::min<std::chrono::milliseconds>(
            std::chrono::seconds(5),
            std::chrono::milliseconds(config_.process_manager.heartbeat_timeout_seconds * 1000 /
                                      3));
        auto b = eb::Broker::create(io_.get_executor(), o);
        if (!b) return fail(error_ = b.error().message);
        broker_ = std::move(*b);
        broker_->on_session_open([this](const eb::SessionEvent& e) {
            if (e.transport == "adopted") {
                publishers_[e.session_id] = "collector " + e.instance_id;
            } else if (e.transport == "in-process") {
                publishers_[e.session_id] = e.name == "daemoneye-agent" ? "agent" : e.name;
            } else {
                publishers_[e.session_id] = "client " + e.name + " pid " + std::to_string(e.pid) +
                                            " uid " + std::to_string(e.uid);
            }
            auto it = adopted_.find(e.session_id);
            if (it == adopted_.end() || !it->second.on_hello) return;
            daemoneye::bus::v1::Hello hello;
            if (e.hello != nullptr) hello = *e.hello;  // manifest and sandbox layers
            hello.set_role(daemoneye::bus::v1::ROLE_COLLECTOR);
            hello.set_instance_id(e.instance_id);
            hello.set_client_name(e.name);
            for (const auto& s : broker_->sessions()) {
                if (s.session_id == e.session_id) hello.set_pid(s.pid);
            }
            it->second.on_hello(hello);
        });
        broker_->on_session_closed([this](const eb::SessionEvent& e) {
            publishers_.erase(e.session_id);
            auto it = adopted_.find(e.session_id);
            if (it == adopted_.end()) return;
            auto events = std::move(it->second);
            adopted_.erase(it);
            if (events.on_closed) events.on_closed(e.reason);
        });
        if (auto l = broker_->listen(); !l) return fail(error_ = l.error().message);
        listening_ = true;
        eb::ClientOptions co;
        co.role = daemoneye::bus::v1::ROLE_AGENT;
        co.client_name = "daemoneye-agent";
        co.instance_id = config_.agent.id;
        co.max_pending_requests = config_.rpc.max_pending_requests;
        co.default_rpc_timeout = std::chrono::seconds(config_.rpc.default_timeout_seconds);
        auto c = eb::BusClient::connect_local(*broker_, co);
        if (!c) return fail(error_ = "in-process client: " + c.error().message);
        client_ = std::move(*c);
        return {};
    }

    void stop() override {
        if (client_) client_->close("agent stopping");
        if (broker_) broker_->stop();
        listening_ = false;
    }

    bool accepting() const override { return listening_; }

    Result<std::uint64_t> adopt(asio::local::stream_protocol::socket socket,
                                CollectorIdentity identity,
                                CollectorSessionEvents events) override {
        if (!broker_) return fail(why_unavailable());
        eb::PresetIdentity p;
        p.instance_id = identity.instance_id;
        p.plugin_name = identity.plugin_name;
        p.publish_grants = identity.publish_grants;
        p.config = identity.config;
        p.subscribe_grants = identity.subscribe_grants;
        p.rpc_serve_grants = identity.rpc_serve_grants;
        p.rpc_call_grants = identity.rpc_call_grants;
        auto id = broker_->adopt(std::move(socket), std::move(p));
        if (!id) return fail(id.error().message);
        adopted_[*id] = std::move(events);
        return *id;
    }

    asio::awaitable<Result<std::uint64_t>> subscribe(std::string pattern,
                                                     MessageHandler handler) override {
        if (!client_) co_return fail(why_unavailable());
        // Named before co_await: GCC 12 destroys co_await full-expression temporaries twice.
        eb::MessageHandler adapter = [h = std::move(handler)](const eb::MessageView& v) {
            h(v.to_proto());
        };
        auto op = client_->subscribe(std::move(pattern), std::move(adapter));
        auto r = co_await std::move(op);
        if (!r) co_return fail(r.error().message);
        co_return *r;
    }

    void unsubscribe(std::uint64_t id) override {
        if (!client_) return;
        asio::co_spawn(
            io_,
            [c = client_.get(), id]() -> asio::awaitable<void> {
                auto op = c->unsubscribe(id);
                (void)co_await std::move(op);
            },
            asio::detached);
    }

    Status publish(daemoneye::bus::v1::Message m) override {
        if (!client_) return fail(why_unavailable());
        eb::PublishOptions po;
        if (m.has_correlation()) po.correlation = &m.correlation();
        auto r = client_->publish(
            m.topic(), m.payload_type(),
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(m.payload().data()),
                                          m.payload().size()),
            po);
        if (!r) return fail(r.error().message);
        return {};
    }

    asio::awaitable<Status> serve(std::string topic, RpcHandler handler) override {
        if (!client_) co_return fail(why_unavailable());
        handler = [this, h = std::move(handler)](
                      const rpcv1::RpcRequest& req) -> asio::awaitable<rpcv1::RpcResponse> {
            const auto start = std::chrono::steady_clock::now();
            auto op = h(req);
            auto rsp = co_await std::move(op);
            const auto took = std::chrono::steady_clock::now() - start;
            served_latency_[rpcv1::Operation_Name(req.operation())].observe(took);
            if (config_.rpc.enable_correlation_tracking) log_rpc("served", req, rsp, took);
            co_return rsp;
        };
        auto op = client_->serve(topic, std::move(handler));
        auto r = co_await std::move(op);
        if (!r) co_return fail(r.error().message);
        served_[topic] = *r;
        co_return Status{};
    }

    void unserve(const std::string& topic) override {
        auto it = served_.find(topic);
        if (it == served_.end()) return;
        unsubscribe(it->second);
        served_.erase(it);
    }

    asio::awaitable<rpcv1::RpcResponse> call(rpcv1::RpcRequest request,
                                             std::chrono::milliseconds timeout) override {
        rpcv1::RpcResponse out;
        if (!client_) {
            out.set_status(rpcv1::STATUS_ERROR);
            out.mutable_error()->set_code(rpcv1::ERROR_CODE_COMMUNICATION_ERROR);
            out.mutable_error()->set_message(why_unavailable());
            co_return out;
        }
        if (request.timeout_ms() == 0)
            request.set_timeout_ms(static_cast<std::uint64_t>(timeout.count()));
        const auto start = std::chrono::steady_clock::now();
        // What the log line names, not the payload (the request itself is moved into the call).
        std::optional<rpcv1::RpcRequest> logged;
        if (config_.rpc.enable_correlation_tracking) {
            logged.emplace();
            logged->set_target(request.target());
            logged->set_operation(request.operation());
            logged->set_client_id(request.client_id());
            logged->set_correlation_id(request.correlation_id());
            *logged->mutable_correlation() = request.correlation();
        }
        eb::RpcRequest rq(std::move(request));
        auto op = client_->call(std::move(rq), timeout);
        auto r = co_await std::move(op);
        if (r) {
            out = std::move(*r);
        } else {
            out = r.error().response;
            out.set_status(rpcv1::STATUS_ERROR);
            out.mutable_error()->set_code(r.error().code);
            out.mutable_error()->set_message(r.error().message);
        }
        const auto took = std::chrono::steady_clock::now() - start;
        call_latency_[out.status() == rpcv1::STATUS_ERROR ? "error" : "ok"].observe(took);
        if (logged) log_rpc("called", *logged, out, took);
        co_return out;
    }

    std::string publisher(std::uint64_t session_id) const override {
        if (session_id == 0) return "broker";  // its own diagnostics
        auto it = publishers_.find(session_id);
        return it != publishers_.end() ? it->second
                                       : "session " + std::to_string(session_id) + " (closed)";
    }

    daemoneye::ipc::v1::TopicsReport topics() const override {
        daemoneye::ipc::v1::TopicsReport rep;
        if (!broker_) return rep;
        for (const auto& s : broker_->sessions()) {
            for (const auto& sub : s.subscriptions) {
                auto* t = rep.add_subscriptions();
                t->set_session_id(s.session_id);
                t->set_session_name(s.instance_id.empty() ? s.name : s.instance_id);
                t->set_pattern(sub.rpc_server ? sub.pattern + " (rpc)" : sub.pattern);
                t->set_delivered(sub.delivered);
                t->set_dropped(sub.dropped);
            }
        }
        return rep;
    }

    std::map<std::string, double> metrics() const override {
        std::map<std::string, double> m;
        if (!broker_) return m;
        const auto b = broker_->metrics();
        auto d = [](std::uint64_t v) { return static_cast<double>(v); };
        m["publishes_total"] = d(b.publishes);
        m["deliveries_total"] = d(b.deliveries);
        m["drops_total"] = d(b.drops);
        m["denials_total"] = d(b.denials);
        m["protocol_errors_total"] = d(b.protocol_errors);
        m["sessions_active"] = d(b.sessions_active);
        m["sessions_total"] = d(b.sessions_total);
        m["sessions_refused_total"] = d(b.sessions_refused);
        m["subscriptions"] = d(b.subscriptions);
        m["rpc_requests_total"] = d(b.rpc_requests);
        m["rpc_responses_total"] = d(b.rpc_responses);
        m["rpc_errors_total{kind=\"not_found\"}"] = d(b.rpc_not_found);
        m["rpc_errors_total{kind=\"overloaded\"}"] = d(b.rpc_overloaded);
        m["rpc_errors_total{kind=\"failed\"}"] = d(b.rpc_failed);
        m["rpc_late_replies_total"] = d(b.rpc_late_replies);
        m["rpc_orphaned_replies_total"] = d(b.rpc_orphaned_replies);
        m["control_overflows_total"] = d(b.control_overflows);
        // RPC round trips of the agent's own calls (by outcome) and of the handlers it serves
        // (by operation), as seen by the agent.
        for (const auto& [outcome, h] : call_latency_) {
            h.export_to(m, "rpc_call_latency_seconds", "outcome=\"" + outcome + "\"");
        }
        for (const auto& [op, h] : served_latency_) {
            h.export_to(m, "rpc_served_latency_seconds", "operation=\"" + op + "\"");
        }
        m["oversized_dropped_total"] = d(b.oversized_dropped);
        m["rpc_pending"] = d(b.rpc_pending);
        m["queued_messages"] = d(b.queued_messages);
        m["queued_bytes"] = d(b.queued_bytes);
        m["buffer_utilization_max"] =
            b.queue_capacity ? d(b.max_session_queue) / d(b.queue_capacity) : 0.0;
        for (const auto& r : b.topic_roots) {
            const std::string l = "{root=\"" + r.root + "\"}";
            m["topic_publishes_total" + l] = d(r.publishes);
            m["topic_deliveries_total" + l] = d(r.deliveries);
            m["topic_drops_total" + l] = d(r.drops);
        }
        if (client_) {
            const auto cs = client_->stats();
            m["agent_client_rpc_calls_total"] = d(cs.rpc_calls);
            m["agent_client_rpc_timeouts_total"] = d(cs.rpc_timeouts);
            m["agent_client_rpc_late_replies_total"] = d(cs.rpc_late_replies);
            m["agent_client_rpc_malformed_total"] = d(cs.rpc_malformed);
            m["agent_client_gaps_total"] = d(cs.gaps);
            m["agent_client_rpc_replies_failed_total"] = d(cs.rpc_replies_failed);
            m["agent_client_late_acks_total"] = d(cs.late_acks);
        }
        return m;
    }

  private:
    asio::io_context& io_;
    const Config& config_;
    std::unique_ptr<eb::Broker> broker_;
    std::unique_ptr<eb::BusClient> client_;
    std::map<std::uint64_t, CollectorSessionEvents> adopted_;
    std::map<std::string, std::uint64_t> served_;
    std::map<std::uint64_t, std::string> publishers_;         // open sessions: who they are
    std::map<std::string, LatencyHistogram> call_latency_;    // by outcome: ok, error
    std::map<std::string, LatencyHistogram> served_latency_;  // by operation
    bool listening_ = false;
    std::string error_;
};

}  // namespace

std::unique_ptr<BusPort> make_agent_bus(asio::io_context& io, const Config& config) {
    return std::make_unique<BrokerBus>(io, config);
}

}  // namespace daemoneye::agent
