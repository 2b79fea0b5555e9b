// RpcRequest's builders, CollectorRpcClient against a real broker (a server that checks every
// field of what it receives and answers), NotFound and Timeout, and the execution time every
// served response carries, for each pairing of in-process and socket caller and server.
#include "daemoneye/eventbus/collector_rpc_client.hpp"

#include <memory>

#include <boost/asio/as_tuple.hpp>

#include "bus_test_loop.hpp"
#include "message_encoder.hpp"  // unix_now_ns

namespace daemoneye::eventbus {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// --- RpcRequest builders (pure) ---------------------------------------------------------------

TEST(RpcRequestBuilders, LifecycleCarriesEveryArgument) {
    const auto before = unix_now_ns();
    auto r =
        RpcRequest::lifecycle("agent", "control.collector.procmond", rpcv1::OPERATION_STOP,
                              RpcRequest::stop_payload("procmond", true, "procmond-1"), 1500ms);
    const auto after = unix_now_ns();
    const auto& p = r.proto();
    EXPECT_EQ(p.client_id(), "agent");
    EXPECT_EQ(p.target(), "control.collector.procmond");
    EXPECT_EQ(p.operation(), rpcv1::OPERATION_STOP);
    EXPECT_EQ(p.timeout_ms(), 1500u);
    ASSERT_EQ(p.payload_case(), rpcv1::RpcRequest::kLifecycle);
    EXPECT_EQ(p.lifecycle().collector(), "procmond");
    EXPECT_EQ(p.lifecycle().instance(), "procmond-1");
    EXPECT_TRUE(p.lifecycle().graceful());
    EXPECT_GE(p.timestamp().unix_nanos(), before);
    EXPECT_LE(p.timestamp().unix_nanos(), after);
    // Left to the client at call(): the id (unless set), reply_to, the correlation metadata.
    EXPECT_TRUE(p.correlation_id().empty());
    EXPECT_TRUE(p.reply_to().empty());
    EXPECT_FALSE(p.has_correlation());

    const auto start = RpcRequest::start_payload("netmond");
    EXPECT_EQ(start.collector(), "netmond");
    EXPECT_EQ(start.instance(), "");
    EXPECT_FALSE(start.graceful());
    EXPECT_FALSE(RpcRequest::stop_payload("netmond", false).graceful());
}

TEST(RpcRequestBuilders, TheOtherBuildersAndCorrelation) {
    auto h = RpcRequest::health_check("cli", "control.collector.a", 2s, true);
    EXPECT_EQ(h.proto().operation(), rpcv1::OPERATION_HEALTH_CHECK);
    ASSERT_TRUE(h.proto().has_health_check());
    EXPECT_TRUE(h.proto().health_check().verbose());
    EXPECT_EQ(h.proto().timeout_ms(), 2000u);

    auto c =
        RpcRequest::config_update("cli", "control.collector.a", {{"k1", "v1"}, {"k2", "v2"}}, 3s);
    EXPECT_EQ(c.proto().operation(), rpcv1::OPERATION_UPDATE_CONFIG);
    ASSERT_TRUE(c.proto().has_config_update());
    EXPECT_EQ(c.proto().config_update().config().size(), 2);
    EXPECT_EQ(c.proto().config_update().config().at("k2"), "v2");

    rpcv1::TaskRequest task;
    task.set_task_id("t-9");
    task.set_kind("list_listeners");
    auto t = RpcRequest::task("cli", "control.collector.a", task, 4s);
    EXPECT_EQ(t.proto().operation(), rpcv1::OPERATION_EXECUTE_TASK);
    EXPECT_EQ(t.proto().task().task_id(), "t-9");
    EXPECT_EQ(t.proto().task().kind(), "list_listeners");

    auto o =
        RpcRequest::operation("cli", "control.collector.a", rpcv1::OPERATION_FORCE_SHUTDOWN, 5s);
    EXPECT_EQ(o.proto().operation(), rpcv1::OPERATION_FORCE_SHUTDOWN);
    EXPECT_EQ(o.proto().payload_case(), rpcv1::RpcRequest::PAYLOAD_NOT_SET);
    EXPECT_EQ(o.proto().timeout_ms(), 5000u);

    common::v1::CorrelationMetadata m;
    m.set_root_correlation_id("root");
    (*m.mutable_tags())["k"] = "v";
    o.correlation_id("mine").correlation(m);
    EXPECT_EQ(o.proto().correlation_id(), "mine");
    EXPECT_EQ(o.proto().correlation().root_correlation_id(), "root");
    EXPECT_EQ(o.proto().correlation().tags().at("k"), "v");

    EXPECT_STREQ(to_string(rpcv1::ERROR_CODE_OVERLOADED), "Overloaded");
    EXPECT_STREQ(to_string(rpcv1::ERROR_CODE_NOT_FOUND), "NotFound");
    EXPECT_EQ(rpc_ok().status(), rpcv1::STATUS_OK);
    const auto f = rpc_failure(rpcv1::ERROR_CODE_EXECUTION_ERROR, "nope");
    EXPECT_EQ(f.status(), rpcv1::STATUS_ERROR);
    EXPECT_EQ(f.error().code(), rpcv1::ERROR_CODE_EXECUTION_ERROR);
    EXPECT_EQ(f.error().message(), "nope");
}

// --- CollectorRpcClient against a broker ------------------------------------------------------

class CollectorRpc : public test::BusTestLoop {
  protected:
    // Serves control.collector.# on `server`, keeping a copy of each request; the reply names the
    // operation and target it got and echoes the correlation id in its message.
    void serve_recording(BusClient& server) {
        RpcHandler h = [this](const rpcv1::RpcRequest& req) -> asio::awaitable<rpcv1::RpcResponse> {
            received_.push_back(req);
            auto r = rpc_ok();
            r.mutable_lifecycle()->set_state(rpcv1::Operation_Name(req.operation()) + " " +
                                             req.target());
            r.mutable_lifecycle()->set_message(req.correlation_id());
            co_return r;
        };
        auto op = server.serve("control.collector.#", std::move(h));
        auto ok = run(std::move(op));
        ASSERT_TRUE(ok) << ok.error().message;
    }

    // Runs one CollectorRpcClient call and returns what the server received; the reply is
    // checked against it.
    rpcv1::RpcRequest one(BusClient& caller, CollectorRpcClient::Reply reply,
                          const std::string& want_operation, const std::string& want_target) {
        const auto n = received_.size();
        auto r = run(std::move(reply));
        EXPECT_TRUE(r) << want_operation << ": " << r.error().message;
        EXPECT_EQ(received_.size(), n + 1) << want_operation;
        if (!r || received_.size() != n + 1) return {};
        const auto& req = received_.back();
        EXPECT_EQ(rpcv1::Operation_Name(req.operation()), want_operation);
        EXPECT_EQ(req.target(), want_target);
        EXPECT_EQ(req.client_id(), "cli-id");
        EXPECT_FALSE(req.correlation_id().empty());
        EXPECT_EQ(req.reply_to(), reply_topic(caller.session_id()));
        EXPECT_NE(req.timestamp().unix_nanos(), 0u);
        // The reply that came back is the one to this request.
        EXPECT_EQ(r->correlation_id(), req.correlation_id());
        EXPECT_EQ(r->lifecycle().state(), want_operation + " " + want_target);
        EXPECT_EQ(r->lifecycle().message(), req.correlation_id());
        EXPECT_EQ(r->responder(), "agent-pm");
        return req;
    }

    void every_operation(BusClient& caller) {
        CollectorRpcClient rpc(caller, "cli-id", 4s);
        const std::string pm = "control.collector.procmond";
        const std::string inst = "control.collector.procmond.procmond-1";

        auto req = one(caller, rpc.start("procmond"), "OPERATION_START", pm);
        EXPECT_EQ(req.timeout_ms(), 4000u);  // the client's default timeout
        ASSERT_TRUE(req.has_lifecycle());
        EXPECT_EQ(req.lifecycle().collector(), "procmond");
        EXPECT_EQ(req.lifecycle().instance(), "");

        req = one(caller, rpc.start("procmond", "procmond-1"), "OPERATION_START", inst);
        EXPECT_EQ(req.lifecycle().collector(), "procmond");
        EXPECT_EQ(req.lifecycle().instance(), "procmond-1");

        req = one(caller, rpc.stop("procmond"), "OPERATION_STOP", pm);
        EXPECT_TRUE(req.lifecycle().graceful());
        req = one(caller, rpc.stop("procmond", false, "procmond-1"), "OPERATION_STOP", inst);
        EXPECT_FALSE(req.lifecycle().graceful());
        EXPECT_EQ(req.lifecycle().instance(), "procmond-1");

        req = one(caller, rpc.restart("procmond", "procmond-1"), "OPERATION_RESTART", inst);
        EXPECT_EQ(req.lifecycle().collector(), "procmond");
        EXPECT_EQ(req.lifecycle().instance(), "procmond-1");

        req = one(caller, rpc.health_check("procmond"), "OPERATION_HEALTH_CHECK", pm);
        ASSERT_TRUE(req.has_health_check());
        EXPECT_FALSE(req.health_check().verbose());
        req = one(caller, rpc.health_check("procmond", "procmond-1", true),
                  "OPERATION_HEALTH_CHECK", inst);
        EXPECT_TRUE(req.health_check().verbose());

        req = one(caller,
                  rpc.update_config("procmond", "procmond-1",
                                    {{"scan_interval_ms", "500"}, {"paths.0", "/usr/bin"}}),
                  "OPERATION_UPDATE_CONFIG", inst);
        ASSERT_TRUE(req.has_config_update());
        EXPECT_EQ(req.config_update().config().size(), 2);
        EXPECT_EQ(req.config_update().config().at("scan_interval_ms"), "500");
        EXPECT_EQ(req.config_update().config().at("paths.0"), "/usr/bin");

        req = one(caller, rpc.get_capabilities("procmond"), "OPERATION_GET_CAPABILITIES", pm);
        EXPECT_EQ(req.payload_case(), rpcv1::RpcRequest::PAYLOAD_NOT_SET);

        rpcv1::TaskRequest task;
        task.set_task_id("task-7");
        task.set_kind("enumerate_processes");
        (*task.mutable_params())["name"] = "sshd";
        req = one(caller, rpc.execute_task("procmond", "procmond-1", task),
                  "OPERATION_EXECUTE_TASK", inst);
        ASSERT_TRUE(req.has_task());
        EXPECT_EQ(req.task().task_id(), "task-7");
        EXPECT_EQ(req.task().kind(), "enumerate_processes");
        EXPECT_EQ(req.task().params().at("name"), "sshd");

        req = one(caller, rpc.graceful_shutdown("procmond", "procmond-1"),
                  "OPERATION_GRACEFUL_SHUTDOWN", inst);
        EXPECT_EQ(req.payload_case(), rpcv1::RpcRequest::PAYLOAD_NOT_SET);

        rpc.set_default_timeout(1234ms);
        req = one(caller, rpc.health_check("procmond"), "OPERATION_HEALTH_CHECK", pm);
        EXPECT_EQ(req.timeout_ms(), 1234u);

        // The generic form: an explicit timeout wins; correlation metadata travels both ways.
        common::v1::CorrelationMetadata corr;
        corr.set_correlation_id("wf-42");
        corr.set_parent_correlation_id("parent-1");
        corr.set_root_correlation_id("root-1");
        corr.set_workflow_stage("restart-all");
        (*corr.mutable_tags())["ticket"] = "T-1";
        auto generic = RpcRequest::lifecycle("cli-id", pm, rpcv1::OPERATION_START,
                                             RpcRequest::start_payload("procmond"), 9s);
        generic.correlation(corr);
        const auto n = received_.size();
        auto r = run(rpc.call(std::move(generic), 2500ms));
        ASSERT_TRUE(r) << r.error().message;
        ASSERT_EQ(received_.size(), n + 1);
        const auto& got = received_.back();
        EXPECT_EQ(got.timeout_ms(), 2500u);
        EXPECT_EQ(got.correlation().parent_correlation_id(), "parent-1");
        EXPECT_EQ(got.correlation().root_correlation_id(), "root-1");
        EXPECT_EQ(got.correlation().workflow_stage(), "restart-all");
        EXPECT_EQ(got.correlation().tags().at("ticket"), "T-1");
        EXPECT_EQ(r->correlation().parent_correlation_id(), "parent-1");
        EXPECT_EQ(r->correlation().root_correlation_id(), "root-1");
        EXPECT_EQ(r->correlation().workflow_stage(), "restart-all");
        EXPECT_EQ(r->correlation().tags().at("ticket"), "T-1");
    }

    std::vector<rpcv1::RpcRequest> received_;
};

TEST_F(CollectorRpc, EveryOperationReachesAnInProcessServerAsBuilt) {
    start();
    serve_recording(local("agent-pm"));
    every_operation(local("cli"));
}

TEST_F(CollectorRpc, EveryOperationReachesASocketServerFromASocketCallerAsBuilt) {
    start();
    serve_recording(remote("agent-pm"));
    every_operation(remote("cli"));
}

TEST_F(CollectorRpc, NoServerIsNotFoundAtOnceFromTheBroker) {
    start();
    for (BusClient* caller : {&local("cli-local"), &remote("cli-socket")}) {
        CollectorRpcClient rpc(*caller, "cli-id");  // 30 s default timeout: NotFound is at once
        const auto before = broker_->metrics().rpc_not_found;
        const auto t0 = std::chrono::steady_clock::now();
        auto r = run(rpc.health_check("nobody", "nobody-1"));
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, rpcv1::ERROR_CODE_NOT_FOUND);
        EXPECT_NE(r.error().message.find("control.collector.nobody.nobody-1"), std::string::npos)
            << r.error().message;
        EXPECT_EQ(r.error().response.responder(), "broker");
        EXPECT_EQ(broker_->metrics().rpc_not_found, before + 1);
        EXPECT_EQ(caller->pending_requests(), 0u);
    }
}

TEST_F(CollectorRpc, AServerThatDoesNotAnswerInTimeIsATimeoutAndItsLateReplyIsDropped) {
    start();
    auto& server = local("agent-pm");
    std::vector<asio::steady_timer*> waiting;
    RpcHandler never = [&](const rpcv1::RpcRequest&) -> asio::awaitable<rpcv1::RpcResponse> {
        asio::steady_timer t(co_await asio::this_coro::executor, 10s);
        waiting.push_back(&t);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        std::erase(waiting, &t);
        co_return rpc_ok();
    };
    auto op = server.serve("control.collector.stuck", std::move(never));
    ASSERT_TRUE(run(std::move(op)));
    for (BusClient* caller : {&local("cli-local"), &remote("cli-socket")}) {
        CollectorRpcClient rpc(*caller, "cli-id", 150ms);
        auto r = run(rpc.get_capabilities("stuck"));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, rpcv1::ERROR_CODE_TIMEOUT);
        EXPECT_NE(r.error().message.find("150 ms"), std::string::npos) << r.error().message;
        EXPECT_EQ(caller->stats().rpc_timeouts, 1u);
        EXPECT_EQ(caller->pending_requests(), 0u);
        // The server answers now: the caller drops the reply and counts it.
        ASSERT_EQ(waiting.size(), 1u);
        waiting.front()->cancel();
        EXPECT_TRUE(spin_until([&] { return caller->stats().rpc_late_replies == 1; }))
            << caller->stats().rpc_late_replies;
    }
}

// --- execution time ---------------------------------------------------------------------------

// Every response a server returns says how long its handler ran: a handler that waits 20 ms
// reports at least 15 ms (timers do not fire early; 15 leaves room for clock granularity),
// whether caller and server are in-process or behind sockets, and on an error response too.
TEST_F(CollectorRpc, EveryServedResponseCarriesItsExecutionTime) {
    start();
    RpcHandler slow = [](const rpcv1::RpcRequest& req) -> asio::awaitable<rpcv1::RpcResponse> {
        asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
        co_await t.async_wait(asio::use_awaitable);
        if (req.operation() == rpcv1::OPERATION_FORCE_SHUTDOWN) {
            co_return rpc_failure(rpcv1::ERROR_CODE_EXECUTION_ERROR, "refused");
        }
        co_return rpc_ok();
    };
    auto& in_process = local("server-local");
    auto& socket = remote("server-socket");
    auto op1 = in_process.serve("control.exec.local", slow);
    ASSERT_TRUE(run(std::move(op1)));
    auto op2 = socket.serve("control.exec.socket", slow);
    ASSERT_TRUE(run(std::move(op2)));

    for (BusClient* caller : {&local("caller-local"), &remote("caller-socket")}) {
        for (const char* target : {"control.exec.local", "control.exec.socket"}) {
            SCOPED_TRACE("caller session " + std::to_string(caller->session_id()) + " -> " +
                         target);
            auto ok = run(caller->call(RpcRequest::health_check("c", target, 2s), 2s));
            ASSERT_TRUE(ok) << ok.error().message;
            EXPECT_GE(ok->execution_time_us(), 15000u);
            EXPECT_LT(ok->execution_time_us(), 2000000u);

            auto failed = run(caller->call(
                RpcRequest::operation("c", target, rpcv1::OPERATION_FORCE_SHUTDOWN, 2s), 2s));
            ASSERT_FALSE(failed);
            EXPECT_EQ(failed.error().code, rpcv1::ERROR_CODE_EXECUTION_ERROR);
            EXPECT_GE(failed.error().response.execution_time_us(), 15000u);
        }
    }
}

}  // namespace
}  // namespace daemoneye::eventbus
