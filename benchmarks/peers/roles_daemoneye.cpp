// DaemonEye's side of the comparison: BusClient in each role process, talking to the Broker that
// runs on a thread of the harness (see peers_bench.cpp), through its public API only.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "daemoneye/eventbus/bus_client.hpp"
#include "daemoneye_calls.hpp"
#include "roles.hpp"

namespace asio = boost::asio;
namespace eb = daemoneye::eventbus;
using namespace std::chrono_literals;

namespace peers {
namespace {

eb::ClientOptions options(const Args& a, const std::string& name) {
    eb::ClientOptions o;
    o.socket_path = str(a, "--socket");
    o.client_name = name;
    o.max_pending_requests = 100000;
    o.reconnect.enabled = false;
    return o;
}

asio::awaitable<int> pub(Args a) {
    auto ex = co_await asio::this_coro::executor;
    auto connect_op = eb::BusClient::connect(ex, options(a, "peers-pub"));
    auto c = co_await std::move(connect_op);
    if (!c) {
        std::cerr << "de-pub: connect: " << c.error().message << "\n";
        co_return 1;
    }
    auto& client = **c;
    const auto count = num(a, "--count", 100000);
    const auto topic = str(a, "--topic", "events.bench.data");
    std::vector<std::uint8_t> payload(num(a, "--size", 256), 0x42);
    std::cout << "READY" << std::endl;
    asio::steady_timer t(ex);
    const auto go = str(a, "--go");
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (::access(go.c_str(), F_OK) != 0) {  // start together
        if (std::chrono::steady_clock::now() > deadline) co_return 1;
        t.expires_after(1ms);
        co_await t.async_wait(asio::use_awaitable);
    }
    for (std::uint64_t i = 0; i < count;) {
        auto r = client.publish(topic, "bench.Blob", payload);
        if (r) {
            ++i;
        } else if (r.error().code == eb::BusError::Code::Backpressure) {
            co_await client.wait_writable();
        } else {
            std::cerr << "de-pub: publish failed: " << r.error().message << "\n";
            co_return 1;
        }
    }
    co_await client.flush();
    std::cout << "DONE" << std::endl;
    // Stay connected until the harness has the subscribers' results (it kills us then).
    t.expires_after(std::chrono::hours(1));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return 0;
}

asio::awaitable<int> sub(Args a) {
    auto ex = co_await asio::this_coro::executor;
    auto connect_op = eb::BusClient::connect(ex, options(a, "peers-sub"));
    auto c = co_await std::move(connect_op);
    if (!c) {
        std::cerr << "de-sub: connect: " << c.error().message << "\n";
        co_return 1;
    }
    auto& client = **c;
    Watch watch(a);
    Counter n;
    n.expect = watch.expect();
    eb::MessageHandler h = [&n](const eb::MessageView&) { n.hit(); };
    auto sub_op = client.subscribe(str(a, "--pattern", "events.#"), std::move(h));
    auto s = co_await std::move(sub_op);
    if (!s) {
        std::cerr << "de-sub: subscribe: " << s.error().message << "\n";
        co_return 1;
    }
    std::cout << "READY" << std::endl;
    asio::steady_timer t(ex);
    while (!watch.done(n.received)) {
        t.expires_after(10ms);
        co_await t.async_wait(asio::use_awaitable);
    }
    std::uint64_t gaps = 0;
    for (const auto& st : client.subscription_stats()) gaps += st.gaps;
    print_sub_result(n.received, n.first, n.last, gaps);
    co_return 0;
}

asio::awaitable<int> rpc_server(Args a) {
    auto ex = co_await asio::this_coro::executor;
    auto connect_op = eb::BusClient::connect(ex, options(a, "peers-rpc-server"));
    auto c = co_await std::move(connect_op);
    if (!c) co_return 1;
    eb::RpcHandler h = [](const eb::rpcv1::RpcRequest&) -> asio::awaitable<eb::rpcv1::RpcResponse> {
        co_return eb::rpc_ok();
    };
    auto serve_op = (*c)->serve(str(a, "--target"), std::move(h));
    if (!(co_await std::move(serve_op))) co_return 1;
    std::cout << "READY" << std::endl;
    asio::steady_timer t(ex, std::chrono::hours(1));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return 0;
}

asio::awaitable<int> rpc_client(Args a) {
    auto ex = co_await asio::this_coro::executor;
    auto connect_op = eb::BusClient::connect(ex, options(a, "peers-rpc-client"));
    auto c = co_await std::move(connect_op);
    if (!c) co_return 1;
    auto op = daemoneye_sequential_calls(**c, str(a, "--target"), num(a, "--count", 10000),
                                         num(a, "--warmup", 1000));
    auto lat = co_await std::move(op);
    if (lat.empty()) co_return 1;
    print_rpc_result(lat);
    co_return 0;
}

template <class F>
int run(F f, const Args& a) {
    asio::io_context io(1);
    int rc = 1;
    asio::co_spawn(io, f(a), [&](std::exception_ptr e, int r) {
        rc = e ? 3 : r;
        io.stop();
    });
    io.run();
    return rc;
}

}  // namespace

asio::awaitable<std::vector<std::uint64_t>> daemoneye_sequential_calls(eb::BusClient& client,
                                                                       std::string target,
                                                                       std::uint64_t count,
                                                                       std::uint64_t warmup) {
    std::vector<std::uint64_t> lat;
    lat.reserve(count);
    for (std::uint64_t i = 0; i < warmup + count; ++i) {
        auto req = eb::RpcRequest::health_check("peers", target, 5s);
        const auto t0 = mono_ns();
        auto op = client.call(std::move(req), 5s);
        auto r = co_await std::move(op);
        if (!r) {
            std::cerr << "DaemonEye caller: call to " << target << " failed: " << r.error().message
                      << "\n";
            co_return std::vector<std::uint64_t>{};
        }
        if (i >= warmup) lat.push_back(mono_ns() - t0);
    }
    co_return lat;
}

int dispatch_daemoneye(const std::string& role, const Args& a) {
    if (role == "de-pub") return run(pub, a);
    if (role == "de-sub") return run(sub, a);
    if (role == "de-rpc-server") return run(rpc_server, a);
    if (role == "de-rpc-client") return run(rpc_client, a);
    return kUnknownRole;
}

}  // namespace peers
