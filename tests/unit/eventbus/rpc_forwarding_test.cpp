// RPC through the broker in every pairing of caller and server (in-process / socket), and what
// the broker does to the bytes it forwards: a socket request goes on as it came with the broker's
// reply_to appended (whatever reply_to the caller wrote), unknown fields pass through, replies
// reach the caller unchanged, and a malformed RPC body is refused without ending the session.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "daemoneye/eventbus/broker.hpp"
#include "daemoneye/eventbus/bus_client.hpp"
#include "daemoneye/eventbus/protocol.hpp"
#include "daemoneye/wire/frame_codec.hpp"
#include "wire_format.hpp"

namespace daemoneye::eventbus {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class RpcForwarding : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = "/tmp/de-rpcfwd-" + std::to_string(::getpid());
        BrokerOptions o;
        o.socket_path = dir_ + "/bus.sock";
        broker_ = Broker::create(io_.get_executor(), o).value();
        ASSERT_TRUE(broker_->listen());
        thread_ = std::thread([this] { io_.run(); });
        local_server_ = on_loop([this]() -> asio::awaitable<std::unique_ptr<BusClient>> {
            ClientOptions o;
            o.client_name = "local-server";
            auto c = BusClient::connect_local(*broker_, o).value();
            auto op = c->serve("control.fwd.local", handler("local-server"));
            EXPECT_TRUE(co_await std::move(op));
            co_return c;
        });
        remote_server_ = socket_client("remote-server");
        on_loop([this]() -> asio::awaitable<bool> {
            auto op = remote_server_->serve("control.fwd.remote", handler("remote-server"));
            co_return static_cast<bool>(co_await std::move(op));
        });
    }
    void TearDown() override {
        on_loop([this]() -> asio::awaitable<bool> {
            local_server_.reset();
            remote_server_.reset();
            callers_.clear();
            broker_->stop();
            co_return true;
        });
        work_.reset();
        io_.stop();
        thread_.join();
        std::filesystem::remove_all(dir_);
    }

    // Runs a coroutine on the broker's loop and waits for its result.
    template <class F>
    auto on_loop(F f) -> typename std::invoke_result_t<F>::value_type {
        using T = typename std::invoke_result_t<F>::value_type;
        std::promise<T> p;
        asio::co_spawn(
            io_,
            [&]() -> asio::awaitable<void> {
                auto op = f();
                p.set_value(co_await std::move(op));
            },
            asio::detached);
        auto fut = p.get_future();
        EXPECT_EQ(fut.wait_for(30s), std::future_status::ready);
        return fut.get();
    }

    // Read on the broker's loop: its state belongs to that thread.
    BrokerMetrics metrics() {
        return on_loop(
            [this]() -> asio::awaitable<BrokerMetrics> { co_return broker_->metrics(); });
    }

    std::unique_ptr<BusClient> socket_client(const std::string& name) {
        return on_loop([&]() -> asio::awaitable<std::unique_ptr<BusClient>> {
            ClientOptions o;
            o.client_name = name;
            o.socket_path = dir_ + "/bus.sock";
            auto op = BusClient::connect(io_.get_executor(), o);
            auto c = co_await std::move(op);
            EXPECT_TRUE(c) << c.error().message;
            co_return c ? std::move(*c) : nullptr;
        });
    }

    std::unique_ptr<BusClient> local_client(const std::string& name) {
        return on_loop([&]() -> asio::awaitable<std::unique_ptr<BusClient>> {
            ClientOptions o;
            o.client_name = name;
            co_return BusClient::connect_local(*broker_, o).value();
        });
    }

    RpcHandler handler(const std::string& name) {
        return [this, name](const rpcv1::RpcRequest& req) -> asio::awaitable<rpcv1::RpcResponse> {
            {
                std::lock_guard lock(mu_);
                seen_reply_to_[name] = req.reply_to();
            }
            auto r = rpc_ok();
            r.mutable_health()->set_message(name + " saw " + req.client_id());
            co_return r;
        };
    }
    std::string seen_reply_to(const std::string& server) {
        std::lock_guard lock(mu_);
        return seen_reply_to_[server];
    }

    std::string dir_;
    asio::io_context io_{1};
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    std::unique_ptr<Broker> broker_;
    std::thread thread_;
    std::unique_ptr<BusClient> local_server_, remote_server_;
    std::vector<std::pair<std::string, std::unique_ptr<BusClient>>> callers_;
    std::mutex mu_;
    std::map<std::string, std::string> seen_reply_to_;
};

TEST_F(RpcForwarding, EveryPairingOfCallerAndServerRoundTripsWithCorrelation) {
    callers_.emplace_back("local-caller", local_client("local-caller"));
    callers_.emplace_back("socket-caller", socket_client("socket-caller"));
    for (auto& entry : callers_) {
        const std::string& name = entry.first;
        BusClient* caller = entry.second.get();
        for (const std::string server : {"local-server", "remote-server"}) {
            const std::string target =
                server == "local-server" ? "control.fwd.local" : "control.fwd.remote";
            common::v1::CorrelationMetadata corr;
            corr.set_parent_correlation_id("parent-7");
            corr.set_workflow_stage("probe");
            (*corr.mutable_tags())["k"] = "v";
            auto req = RpcRequest::health_check(name, target, 5s);
            req.correlation(corr);
            auto rsp = on_loop([&]() { return caller->call(req, 5s); });
            ASSERT_TRUE(rsp) << name << " -> " << server << ": " << rsp.error().message;
            EXPECT_EQ(rsp->health().message(), server + " saw " + name);
            EXPECT_EQ(rsp->correlation().parent_correlation_id(), "parent-7");
            EXPECT_EQ(rsp->correlation().workflow_stage(), "probe");
            EXPECT_EQ(rsp->correlation().tags().at("k"), "v");
            // Filled in by the caller's client: the call's id, and the root it starts.
            EXPECT_FALSE(rsp->correlation_id().empty());
            EXPECT_EQ(rsp->correlation().correlation_id(), rsp->correlation_id());
            EXPECT_EQ(rsp->correlation().root_correlation_id(), rsp->correlation_id());
            EXPECT_EQ(rsp->responder(), server);
            EXPECT_EQ(seen_reply_to(server), reply_topic(caller->session_id()));

            // A caller's own metadata id becomes the root; no client id: the client's name.
            auto own = RpcRequest::health_check("", target, 5s);
            own.proto().mutable_correlation()->set_correlation_id("mine");
            rsp = on_loop([&]() { return caller->call(own, 5s); });
            ASSERT_TRUE(rsp) << name << " -> " << server << ": " << rsp.error().message;
            EXPECT_EQ(rsp->health().message(), server + " saw " + name);
            EXPECT_EQ(rsp->correlation().correlation_id(), "mine");
            EXPECT_EQ(rsp->correlation().root_correlation_id(), "mine");
            EXPECT_NE(rsp->correlation_id(), "mine");
        }
    }
    EXPECT_EQ(metrics().rpc_responses, 8u);
}

// A server adds the request's correlation id and metadata to its handler's reply after the
// reply's own bytes (reply_stamp.hpp): whatever correlation the handler set is replaced, not
// merged into, and a responder the handler named is kept — in every pairing.
TEST_F(RpcForwarding, AServerReplacesTheHandlersCorrelationAndKeepsItsResponder) {
    RpcHandler own = [](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
        auto r = rpc_ok();
        r.set_correlation_id("handler-id");
        r.mutable_correlation()->set_workflow_stage("handler-stage");
        (*r.mutable_correlation()->mutable_tags())["h"] = "x";
        r.set_responder("custom");
        co_return r;
    };
    for (BusClient* server : {local_server_.get(), remote_server_.get()}) {
        const std::string pattern =
            server == local_server_.get() ? "control.own.local" : "control.own.remote";
        ASSERT_TRUE(on_loop([&]() -> asio::awaitable<bool> {
            auto op = server->serve(pattern, own);
            co_return static_cast<bool>(co_await std::move(op));
        }));
    }
    callers_.emplace_back("local-caller", local_client("local-caller"));
    callers_.emplace_back("socket-caller", socket_client("socket-caller"));
    for (auto& entry : callers_) {
        // Plain references: clang 14 cannot capture structured bindings in lambdas.
        const std::string& name = entry.first;
        auto& caller = entry.second;
        for (const std::string target : {"control.own.local", "control.own.remote"}) {
            common::v1::CorrelationMetadata corr;
            corr.set_parent_correlation_id("parent-9");
            (*corr.mutable_tags())["k"] = "v";
            auto req = RpcRequest::health_check(name, target, 5s).correlation_id(name + target);
            req.correlation(corr);
            auto rsp = on_loop([&]() { return caller->call(req, 5s); });
            ASSERT_TRUE(rsp) << name << " -> " << target << ": " << rsp.error().message;
            EXPECT_EQ(rsp->correlation_id(), name + target);
            EXPECT_EQ(rsp->correlation().parent_correlation_id(), "parent-9");
            EXPECT_EQ(rsp->correlation().correlation_id(), name + target);
            EXPECT_EQ(rsp->correlation().workflow_stage(), "") << name << " -> " << target;
            EXPECT_EQ(rsp->correlation().tags().size(), 1u) << name << " -> " << target;
            EXPECT_EQ(rsp->responder(), "custom");
        }
    }
}

// The broker remembers the server of a caller's last target; every subscription change (a
// better server arriving, the cached one going away) is seen by the next call.
TEST_F(RpcForwarding, ACallersRememberedServerFollowsSubscriptionChanges) {
    callers_.emplace_back("socket-caller", socket_client("socket-caller"));
    BusClient* caller = callers_.back().second.get();
    auto call = [&]() -> std::string {
        auto rsp = on_loop([&]() {
            return caller->call(RpcRequest::health_check("c", "control.route.x", 5s), 5s);
        });
        return rsp ? rsp->health().message() : std::string(to_string(rsp.error().code));
    };
    auto serve = [&](BusClient& c, const std::string& pattern, const std::string& name) {
        on_loop([&]() -> asio::awaitable<bool> {
            auto op = c.serve(pattern, handler(name));
            co_return static_cast<bool>(co_await std::move(op));
        });
    };
    EXPECT_EQ(call(), "NotFound");
    auto wildcard = local_client("wildcard");
    serve(*wildcard, "control.route.+", "wildcard");
    EXPECT_EQ(call(), "wildcard saw c");
    EXPECT_EQ(call(), "wildcard saw c");
    auto exact = socket_client("exact");
    serve(*exact, "control.route.x", "exact");
    EXPECT_EQ(call(), "exact saw c");  // an exact pattern wins over the remembered wildcard
    on_loop([&]() -> asio::awaitable<bool> {
        exact.reset();
        co_return true;
    });
    for (int i = 0; i < 100 && metrics().sessions_active > 4; ++i) {
        std::this_thread::sleep_for(10ms);  // the socket session's close reaches the broker
    }
    EXPECT_EQ(call(), "wildcard saw c");
    on_loop([&]() -> asio::awaitable<bool> {
        wildcard.reset();
        co_return true;
    });
    EXPECT_EQ(call(), "NotFound");
}

// An in-process server reads each request in place, from an Envelope on a reused arena
// (request_arenas.hpp): with more requests suspended in handlers than the broker keeps arenas
// for, every handler still reads its own request after it resumes, and every caller gets its
// own answer (ASan checks that no arena is reset under a job still holding it).
TEST_F(RpcForwarding, InProcessServerReadsEachRequestInPlaceWhileManyAreSuspended) {
    auto slow = local_client("slow-server");
    on_loop([&]() -> asio::awaitable<bool> {
        RpcHandler h = [](const rpcv1::RpcRequest& req) -> asio::awaitable<rpcv1::RpcResponse> {
            const std::string before = req.client_id() + "/" + req.correlation_id();
            asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
            co_await t.async_wait(asio::use_awaitable);
            auto r = rpc_ok();
            r.mutable_health()->set_message(before == req.client_id() + "/" + req.correlation_id()
                                                ? before
                                                : "changed under the handler: " + before);
            co_return r;
        };
        auto op = slow->serve("control.fwd.slow", std::move(h));
        co_return static_cast<bool>(co_await std::move(op));
    });
    callers_.emplace_back("local-caller", local_client("local-caller"));
    callers_.emplace_back("socket-caller", socket_client("socket-caller"));
    constexpr int kPerCaller = 25;  // 50 suspended at once, more than RequestArenas::kSlots
    std::mutex mu;
    std::map<std::string, std::string> answers;  // correlation id -> what the handler saw
    int done = 0;
    on_loop([&]() -> asio::awaitable<bool> {
        for (auto& entry : callers_) {
            // Plain references: clang 14 cannot capture structured bindings in lambdas.
            const std::string& name = entry.first;
            auto& caller = entry.second;
            for (int i = 0; i < kPerCaller; ++i) {
                const std::string id = name + "-" + std::to_string(i);
                caller->async_call(
                    RpcRequest::health_check(name, "control.fwd.slow", 5s).correlation_id(id), 5s,
                    [&, id](Result<rpcv1::RpcResponse, RpcError> r) {
                        std::lock_guard lock(mu);
                        answers[id] = r ? r->health().message() : "error: " + r.error().message;
                        ++done;
                    });
            }
        }
        co_return true;
    });
    for (int i = 0; i < 500; ++i) {
        {
            std::lock_guard lock(mu);
            if (done == 2 * kPerCaller) break;
        }
        std::this_thread::sleep_for(10ms);
    }
    std::lock_guard lock(mu);
    ASSERT_EQ(done, 2 * kPerCaller);
    for (const auto& [id, seen] : answers) {
        const std::string name = id.substr(0, id.rfind('-'));
        EXPECT_EQ(seen, name + "/" + id);
    }
    on_loop([&]() -> asio::awaitable<bool> {
        slow.reset();
        co_return true;
    });
}

// A hand-written client over the socket: frames in, frames out, nothing else.
class RawClient {
  public:
    explicit RawClient(const std::string& path) : decoder_(1 << 20, wire::Crc32Variant::Ieee) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
        EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~RawClient() { ::close(fd_); }
    void send_items(const std::vector<std::string>& envelopes) {
        std::string batch;
        for (const auto& e : envelopes) {
            std::uint8_t head[16];
            auto* p = wirefmt::put_len_header(head, wirefmt::field::kBatchItems, e.size());
            batch.append(reinterpret_cast<char*>(head), static_cast<std::size_t>(p - head));
            batch += e;
        }
        std::vector<std::uint8_t> out;
        ASSERT_TRUE(wire::append_frame(
            out, {reinterpret_cast<const std::uint8_t*>(batch.data()), batch.size()},
            wire::Crc32Variant::Ieee, 1 << 20));
        ASSERT_EQ(::write(fd_, out.data(), out.size()), static_cast<ssize_t>(out.size()));
    }
    // The next Envelope from the broker (skipping deliveries and heartbeats), or nullopt.
    std::optional<bus::v1::Envelope> next() {
        for (;;) {
            while (pending_.empty()) {
                auto f = decoder_.next();
                if (!f) return std::nullopt;
                if (*f) {
                    bus::v1::Batch b;
                    if (!b.ParseFromArray((*f)->data(), static_cast<int>((*f)->size()))) {
                        return std::nullopt;
                    }
                    for (auto& e : *b.mutable_items()) pending_.push_back(std::move(e));
                    continue;
                }
                auto room = decoder_.prepare(4096);
                const auto n = ::read(fd_, room.data(), room.size());
                if (n <= 0) return std::nullopt;
                decoder_.commit(static_cast<std::size_t>(n));
            }
            auto e = std::move(pending_.front());
            pending_.erase(pending_.begin());
            if (e.has_heartbeat() || e.has_deliver()) continue;
            return e;
        }
    }

  private:
    int fd_ = -1;
    wire::FrameDecoder decoder_;
    std::vector<bus::v1::Envelope> pending_;
};

std::string envelope_with(const google::protobuf::MessageLite& body, std::uint32_t field,
                          const std::string& extra_body_bytes = {}) {
    const std::string b = body.SerializeAsString() + extra_body_bytes;
    std::uint8_t head[16];
    auto* p = wirefmt::put_len_header(head, field, b.size());
    return std::string(reinterpret_cast<char*>(head), static_cast<std::size_t>(p - head)) + b;
}

TEST_F(RpcForwarding, SocketRequestIsForwardedAsItCameWithTheBrokersReplyTo) {
    RawClient raw(dir_ + "/bus.sock");
    bus::v1::Envelope hello;
    hello.mutable_hello()->set_protocol_version(kProtocolVersion);
    hello.mutable_hello()->set_client_name("raw");
    raw.send_items({hello.SerializeAsString()});
    auto welcome = raw.next();
    ASSERT_TRUE(welcome && welcome->has_welcome());
    const std::string mine = welcome->welcome().reply_topic();

    rpcv1::RpcRequest req;
    req.set_correlation_id("raw-1");
    req.set_client_id("raw");
    req.set_target("control.fwd.remote");
    req.set_timeout_ms(5000);
    req.set_reply_to(reply_topic(1));  // somebody else's: the broker's own wins
    req.mutable_correlation()->set_workflow_stage("raw-stage");
    req.mutable_health_check();
    // An unknown field (a newer client's): passes through to the server untouched.
    const std::string unknown = "\xf8\x06\x2a";  // field 111, varint 42
    raw.send_items({envelope_with(req, wirefmt::field::kEnvRpcRequest, unknown)});
    auto rsp = raw.next();
    ASSERT_TRUE(rsp && rsp->has_rpc_response()) << (rsp ? rsp->DebugString() : "nothing");
    EXPECT_EQ(rsp->rpc_response().correlation_id(), "raw-1");
    EXPECT_EQ(rsp->rpc_response().status(), rpcv1::STATUS_OK);
    EXPECT_EQ(rsp->rpc_response().correlation().workflow_stage(), "raw-stage");
    EXPECT_EQ(seen_reply_to("remote-server"), mine);

    // A malformed body (invalid UTF-8 in a string field): an Error naming it, session goes on.
    rpcv1::RpcRequest bad = req;
    bad.set_correlation_id("raw-2");
    std::string bytes = envelope_with(bad, wirefmt::field::kEnvRpcRequest);
    const auto at = bytes.find("raw-2");
    ASSERT_NE(at, std::string::npos);
    bytes[at] = '\xff';
    raw.send_items({bytes});
    auto err = raw.next();
    ASSERT_TRUE(err && err->has_error()) << (err ? err->DebugString() : "nothing");
    EXPECT_NE(err->error().message().find("malformed rpc_request"), std::string::npos)
        << err->error().message();

    req.set_correlation_id("raw-3");
    req.set_target("control.fwd.local");
    raw.send_items({envelope_with(req, wirefmt::field::kEnvRpcRequest)});
    rsp = raw.next();
    ASSERT_TRUE(rsp && rsp->has_rpc_response()) << (rsp ? rsp->DebugString() : "nothing");
    EXPECT_EQ(rsp->rpc_response().correlation_id(), "raw-3");
    EXPECT_EQ(rsp->rpc_response().responder(), "local-server");
    EXPECT_EQ(seen_reply_to("local-server"), mine);
}

// The broker checks an RPC body's top level only (rpc_head.hpp); a body malformed deeper down is
// answered by whoever parses it, and nobody's connection ends.
std::string with_bad_utf8(std::string bytes, const std::string& marker) {
    const auto at = bytes.find(marker);
    EXPECT_NE(at, std::string::npos) << marker;
    if (at != std::string::npos) bytes[at] = '\xff';
    return bytes;
}

RawClient hello_raw(const std::string& path, const std::string& name) {
    RawClient raw(path);
    bus::v1::Envelope hello;
    hello.mutable_hello()->set_protocol_version(kProtocolVersion);
    hello.mutable_hello()->set_client_name(name);
    raw.send_items({hello.SerializeAsString()});
    auto welcome = raw.next();
    EXPECT_TRUE(welcome && welcome->has_welcome());
    return raw;
}

TEST_F(RpcForwarding, RequestMalformedInsideIsAnsweredByWhoeverParsesIt) {
    auto raw = hello_raw(dir_ + "/bus.sock", "raw");
    rpcv1::RpcRequest req;
    req.set_target("control.fwd.remote");
    req.set_timeout_ms(5000);
    req.mutable_correlation()->set_workflow_stage("stage-to-break");
    req.mutable_health_check();
    // The remote server's client library cannot parse it: it answers, its session goes on.
    req.set_correlation_id("deep-1");
    raw.send_items(
        {with_bad_utf8(envelope_with(req, wirefmt::field::kEnvRpcRequest), "stage-to-break")});
    auto rsp = raw.next();
    ASSERT_TRUE(rsp && rsp->has_rpc_response()) << (rsp ? rsp->DebugString() : "nothing");
    EXPECT_EQ(rsp->rpc_response().correlation_id(), "deep-1");
    EXPECT_EQ(rsp->rpc_response().error().code(), rpcv1::ERROR_CODE_INVALID_OPERATION);
    EXPECT_EQ(rsp->rpc_response().responder(), "remote-server");
    EXPECT_EQ(on_loop([this]() -> asio::awaitable<std::uint64_t> {
                  co_return remote_server_->stats().rpc_malformed;
              }),
              1u);
    // The in-process server gets an object, so the broker parses it and answers.
    req.set_correlation_id("deep-2");
    req.set_target("control.fwd.local");
    raw.send_items(
        {with_bad_utf8(envelope_with(req, wirefmt::field::kEnvRpcRequest), "stage-to-break")});
    rsp = raw.next();
    ASSERT_TRUE(rsp && rsp->has_rpc_response()) << (rsp ? rsp->DebugString() : "nothing");
    EXPECT_EQ(rsp->rpc_response().correlation_id(), "deep-2");
    EXPECT_EQ(rsp->rpc_response().error().code(), rpcv1::ERROR_CODE_INVALID_OPERATION);
    EXPECT_EQ(rsp->rpc_response().responder(), "broker");
    // Both servers still serve.
    for (const std::string target : {"control.fwd.remote", "control.fwd.local"}) {
        req.set_correlation_id("fine-" + target);
        req.set_target(target);
        raw.send_items({envelope_with(req, wirefmt::field::kEnvRpcRequest)});
        rsp = raw.next();
        ASSERT_TRUE(rsp && rsp->has_rpc_response()) << target;
        EXPECT_EQ(rsp->rpc_response().status(), rpcv1::STATUS_OK) << rsp->DebugString();
    }
}

TEST_F(RpcForwarding, ReplyMalformedInsideFailsTheCallAndNothingElse) {
    // A hand-written server whose replies carry invalid UTF-8 inside their correlation metadata.
    auto raw = hello_raw(dir_ + "/bus.sock", "raw-server");
    bus::v1::Envelope sub;
    sub.mutable_subscribe()->set_subscription_id(1);
    sub.mutable_subscribe()->set_pattern("control.fwd.raw");
    sub.mutable_subscribe()->set_rpc_server(true);
    raw.send_items({sub.SerializeAsString()});
    auto ack = raw.next();
    ASSERT_TRUE(ack && ack->has_ack()) << (ack ? ack->DebugString() : "nothing");

    callers_.emplace_back("local-caller", local_client("local-caller"));
    callers_.emplace_back("socket-caller", socket_client("socket-caller"));
    for (auto& entry : callers_) {
        // Plain references: clang 14 cannot capture structured bindings in lambdas.
        const std::string& name = entry.first;
        auto& caller = entry.second;
        std::promise<Result<rpcv1::RpcResponse, RpcError>> result;
        BusClient* c = caller.get();
        asio::post(io_, [&, c] {
            c->async_call(
                RpcRequest::health_check(name, "control.fwd.raw", 5s), 5s,
                [&](Result<rpcv1::RpcResponse, RpcError> r) { result.set_value(std::move(r)); });
        });
        auto got = raw.next();
        ASSERT_TRUE(got && got->has_rpc_request()) << (got ? got->DebugString() : "nothing");
        rpcv1::RpcResponse reply = rpc_ok();
        reply.set_correlation_id(got->rpc_request().correlation_id());
        reply.mutable_correlation()->set_workflow_stage("stage-to-break");
        raw.send_items({with_bad_utf8(envelope_with(reply, wirefmt::field::kEnvRpcResponse),
                                      "stage-to-break")});
        auto fut = result.get_future();
        ASSERT_EQ(fut.wait_for(10s), std::future_status::ready) << name;
        auto r = fut.get();
        ASSERT_FALSE(r) << name;
        EXPECT_EQ(r.error().code, rpcv1::ERROR_CODE_COMMUNICATION_ERROR) << name;
        EXPECT_NE(r.error().message.find("malformed"), std::string::npos)
            << name << ": " << r.error().message;
        if (name == "local-caller") {
            // The broker parsed it for its in-process caller and told the server what was wrong.
            auto err = raw.next();
            ASSERT_TRUE(err && err->has_error()) << (err ? err->DebugString() : "nothing");
            EXPECT_NE(err->error().message().find("malformed reply"), std::string::npos)
                << err->error().message();
        } else {
            EXPECT_EQ(on_loop([c]() -> asio::awaitable<std::uint64_t> {
                          co_return c->stats().rpc_malformed;
                      }),
                      1u);
        }
    }
    // The socket caller's connection is still up: a good call goes through.
    auto ok = on_loop([this]() {
        return callers_[1].second->call(
            RpcRequest::health_check("socket-caller", "control.fwd.remote", 5s), 5s);
    });
    EXPECT_TRUE(ok) << ok.error().message;
}

}  // namespace
}  // namespace daemoneye::eventbus
