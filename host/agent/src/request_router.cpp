// IPC requests -> the agent's parts. Collector lifecycle goes over the bus as an RPC to
// control.collector.<name> (the same path any bus client uses), not straight into the manager.
#include <spdlog/spdlog.h>

#include <boost/asio/use_awaitable.hpp>

#include "agent.hpp"
#include "logging.hpp"
#include "notifier.hpp"

namespace daemoneye::agent {

namespace asio = boost::asio;
namespace ipcv1 = daemoneye::ipc::v1;
namespace rpcv1 = daemoneye::rpc::v1;
using Clock = std::chrono::steady_clock;

namespace {

std::string kind_name(const ipcv1::Request& r) {
    const auto* field = r.GetDescriptor()->FindFieldByNumber(static_cast<int>(r.kind_case()));
    return field ? field->name() : "unknown";
}

}  // namespace

asio::awaitable<void> Agent::handle(ipcv1::Request request, Responder responder) {
    const std::string kind = kind_name(request);
    ++ipc_requests_by_kind_[kind];
    const auto t0 = Clock::now();
    spdlog::debug("ipc request {} {}", request.request_id(), kind);
    ipcv1::Response resp;
    switch (request.kind_case()) {
        case ipcv1::Request::kPing:
            *resp.mutable_pong() = request.ping();
            responder.finish(std::move(resp));
            break;
        case ipcv1::Request::kHealthCheck: {
            if (request.health_check().verbose()) {
                // `message` and `health` share a oneof: the summary goes first, on its own.
                ipcv1::Response text;
                text.set_message(summary());
                responder.send(std::move(text));
            }
            *resp.mutable_health() = health();
            responder.finish(std::move(resp));
            break;
        }
        case ipcv1::Request::kCollectorsList: {
            for (auto& ci : pm_->list()) {
                ipcv1::Response item;
                *item.mutable_collector() = std::move(ci);
                responder.send(std::move(item));
            }
            responder.finish(std::move(resp));
            break;
        }
        case ipcv1::Request::kCollectorStatus: {
            const auto& name = request.collector_status().name();
            auto infos = pm_->status(name);
            if (infos.empty()) {
                ++ipc_errors_by_kind_[kind];
                responder.fail(ipcv1::RESULT_CODE_NOT_FOUND, "no collector named '" + name + "'");
                break;
            }
            for (auto& ci : infos) {
                ipcv1::Response item;
                *item.mutable_collector() = std::move(ci);
                responder.send(std::move(item));
            }
            responder.finish(std::move(resp));
            break;
        }
        case ipcv1::Request::kCollectorControl:
            co_await handle_collector_control(request.collector_control(), responder);
            break;
        case ipcv1::Request::kPluginsList:
            for (auto& p : registry_->list()) {
                ipcv1::Response item;
                *item.mutable_plugin() = std::move(p);
                responder.send(std::move(item));
            }
            responder.finish(std::move(resp));
            break;
        case ipcv1::Request::kPluginInstalled:
            co_await handle_plugin_installed(request.plugin_installed(), responder);
            break;
        case ipcv1::Request::kPluginRemove: {
            auto s = co_await registry_->remove(request.plugin_remove().name());
            if (!s) {
                ++ipc_errors_by_kind_[kind];
                responder.fail(ipcv1::RESULT_CODE_FAILED, s.error().message);
            } else {
                resp.set_message("removed " + request.plugin_remove().name());
                responder.finish(std::move(resp));
            }
            break;
        }
        case ipcv1::Request::kPluginInspect:
            // Inspection reads the file with Boost.DLL's library_info in the CLI, where the
            // operator's file is; the agent never maps a library it has not probed.
            responder.fail(
                ipcv1::RESULT_CODE_INVALID_REQUEST,
                "plugins inspect runs in daemoneye-cli; the agent does not inspect files");
            break;
        case ipcv1::Request::kEventsTail:
            co_await handle_events_tail(request.events_tail(), responder);
            break;
        case ipcv1::Request::kTopicsList:
            if (!bus_->available()) {
                responder.fail(ipcv1::RESULT_CODE_UNAVAILABLE, bus_->why_unavailable());
                break;
            }
            *resp.mutable_topics() = bus_->topics();
            responder.finish(std::move(resp));
            break;
        case ipcv1::Request::kMetrics: {
            auto* m = resp.mutable_metrics();
            for (const auto& [k, v] : metrics()) (*m->mutable_values())[k] = v;
            if (request.metrics().prometheus()) m->set_prometheus_text(prometheus_text());
            responder.finish(std::move(resp));
            break;
        }
        case ipcv1::Request::kQuery:
        case ipcv1::Request::kAlertsList:
            responder.fail(ipcv1::RESULT_CODE_UNAVAILABLE,
                           "detection (SQLite store, query, alerts) is not built in this agent");
            break;
        case ipcv1::Request::kConfigValidate: {
            const auto& cv = request.config_validate();
            auto r = parse_config(cv.contents(), cv.path().empty() ? "<config>" : cv.path(),
                                  ConfigEnvironment::current());
            auto* rep = resp.mutable_config();
            rep->set_valid(r.ok());
            if (!r.ok())
                for (const auto& e : r.error().errors) rep->add_errors(e.to_string());
            responder.finish(std::move(resp));
            break;
        }
        case ipcv1::Request::KIND_NOT_SET:
            responder.fail(ipcv1::RESULT_CODE_INVALID_REQUEST, "request has no kind");
            break;
    }
    // Streams (events tail) are measured too: their latency is how long the stream lasted.
    ipc_latency_[kind].observe(Clock::now() - t0);
    co_return;
}

asio::awaitable<void> Agent::handle_collector_control(const ipcv1::CollectorControl& c,
                                                      Responder& responder) {
    const std::string& name = c.name();
    if (!pm_->has_plugin(name)) {
        ++ipc_errors_by_kind_["collector_control"];
        responder.fail(ipcv1::RESULT_CODE_NOT_FOUND, "no collector named '" + name + "'");
        co_return;
    }
    rpcv1::RpcRequest req;
    req.set_correlation_id("cli-" + std::to_string(::getpid()) + "-" +
                           std::to_string(responder.request_id()) + "-" +
                           std::to_string(Clock::now().time_since_epoch().count()));
    req.set_client_id("daemoneye-cli");
    req.set_target("control.collector." + name);
    auto* lc = req.mutable_lifecycle();
    lc->set_collector(name);
    lc->set_graceful(!c.force());
    switch (c.action()) {
        case ipcv1::CollectorControl::ACTION_START:
            req.set_operation(rpcv1::OPERATION_START);
            break;
        case ipcv1::CollectorControl::ACTION_STOP:
            req.set_operation(c.force() ? rpcv1::OPERATION_FORCE_SHUTDOWN : rpcv1::OPERATION_STOP);
            break;
        case ipcv1::CollectorControl::ACTION_RESTART:
            req.set_operation(rpcv1::OPERATION_RESTART);
            break;
        default:
            responder.fail(ipcv1::RESULT_CODE_INVALID_REQUEST,
                           "collector control without an action");
            co_return;
    }
    const auto& pmc = config_.process_manager;
    // Long enough for the slowest legitimate path: a graceful stop that ends in SIGKILL, then a
    // start.
    const auto timeout = std::chrono::seconds(pmc.graceful_shutdown_timeout_seconds +
                                              pmc.force_shutdown_timeout_seconds +
                                              config_.broker.startup_timeout_seconds + 10);
    req.set_timeout_ms(static_cast<std::uint64_t>(std::chrono::milliseconds(timeout).count()));
    rpcv1::RpcResponse resp;
    if (bus_->available()) {
        resp = co_await bus_->call(req, timeout);
    } else {
        // No broker to carry the RPC: the manager answers in-process (and will report that it
        // cannot start anything without a broker).
        resp = co_await pm_->handle_rpc(req);
    }
    {
        CorrelationScope scope(req.correlation_id());
        spdlog::info("collector {} {}: {}", name, rpcv1::Operation_Name(req.operation()),
                     resp.status() == rpcv1::STATUS_OK ? "ok" : resp.error().message());
    }
    ipcv1::Response out;
    if (resp.status() != rpcv1::STATUS_OK) {
        ++ipc_errors_by_kind_["collector_control"];
        out.set_code(
            resp.error().code() == rpcv1::ERROR_CODE_NOT_FOUND ? ipcv1::RESULT_CODE_NOT_FOUND
            : resp.error().code() == rpcv1::ERROR_CODE_TIMEOUT ? ipcv1::RESULT_CODE_TIMEOUT
                                                               : ipcv1::RESULT_CODE_FAILED);
        out.set_error(resp.error().message());
    }
    for (auto& ci : pm_->status(name)) {
        ipcv1::Response item;
        *item.mutable_collector() = std::move(ci);
        responder.send(std::move(item));
    }
    responder.finish(std::move(out));
}

asio::awaitable<void> Agent::handle_plugin_installed(const ipcv1::PluginInstalled& p,
                                                     Responder& responder) {
    const auto wait = std::chrono::milliseconds(p.wait_ms() ? p.wait_ms() : 30000);
    auto info = co_await registry_->wait_for_drop_in(p.file_name(), wait);
    if (!info) {
        responder.fail(ipcv1::RESULT_CODE_TIMEOUT,
                       "the agent has not decided about " + p.file_name() + " within " +
                           std::to_string(wait.count()) + " ms (is the drop-in watch running?)");
        co_return;
    }
    ipcv1::Response r;
    if (!info->accepted()) {
        r.set_code(ipcv1::RESULT_CODE_FAILED);
        r.set_error("refused: " + info->reason());
    }
    *r.mutable_plugin() = std::move(*info);
    responder.finish(std::move(r));
}

asio::awaitable<void> Agent::handle_events_tail(const ipcv1::EventsTail& t, Responder& responder) {
    if (!bus_->available()) {
        responder.fail(ipcv1::RESULT_CODE_UNAVAILABLE, bus_->why_unavailable());
        co_return;
    }
    std::vector<std::string> patterns(t.patterns().begin(), t.patterns().end());
    if (patterns.empty()) patterns.push_back("#");
    struct State {
        std::uint64_t sent = 0;
        std::uint64_t dropped = 0;
        std::uint64_t last_session = 0;
        std::uint64_t last_seq = 0;
        std::string last_topic;
        bool any = false;
        Notifier changed;
    };
    auto state = std::make_shared<State>();
    const std::uint64_t limit = t.count();
    std::vector<std::uint64_t> subs;
    for (const auto& p : patterns) {
        // Named before co_await: GCC 12 destroys co_await full-expression temporaries twice.
        MessageHandler handler = [state, responder, limit,
                                  bus = bus_.get()](const daemoneye::bus::v1::Message& m) mutable {
            if (limit && state->sent >= limit) return;
            // Overlapping patterns deliver one message once per subscription: show it once. The
            // broker numbers messages per (session, topic), so the topic is part of the identity.
            const std::uint64_t seq = m.correlation().sequence_number();
            if (state->any && m.source_session() == state->last_session && seq == state->last_seq &&
                seq != 0 && m.topic() == state->last_topic)
                return;
            state->any = true;
            state->last_session = m.source_session();
            state->last_seq = seq;
            state->last_topic = m.topic();
            ipcv1::Response r;
            auto* e = r.mutable_event();
            e->set_topic(m.topic());
            e->set_payload_type(m.payload_type());
            e->set_payload(m.payload());
            *e->mutable_timestamp() = m.timestamp();
            *e->mutable_correlation() = m.correlation();
            e->set_source_session(m.source_session());
            e->set_publisher(bus->publisher(m.source_session()));
            if (responder.send(std::move(r)))
                ++state->sent;
            else
                ++state->dropped;
            state->changed.notify();
        };
        auto op = bus_->subscribe(p, std::move(handler));
        auto sub = co_await std::move(op);
        if (!sub) {
            for (auto id : subs) bus_->unsubscribe(id);
            responder.fail(ipcv1::RESULT_CODE_INVALID_REQUEST,
                           "pattern '" + p + "': " + sub.error().message);
            co_return;
        }
        subs.push_back(*sub);
    }
    while (responder.open() && !(limit && state->sent >= limit) && !stopping_) {
        co_await state->changed.wait_until(Clock::now() + std::chrono::seconds(1));
    }
    for (auto id : subs) bus_->unsubscribe(id);
    ipcv1::Response fin;
    fin.set_message(std::to_string(state->sent) + " event(s), " + std::to_string(state->dropped) +
                    " dropped (client too slow)");
    responder.finish(std::move(fin));
}

}  // namespace daemoneye::agent
