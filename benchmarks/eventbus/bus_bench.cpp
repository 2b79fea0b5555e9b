// Process-level EventBus benchmarks: the broker runs on its own thread here (as in the agent),
// every publisher, subscriber, RPC client and server is its own process (this binary re-executed
// with --role). Usage:
//   eventbus_bench throughput --pubs 4 --subs 1 [--count N] [--rate R] [--size 256]
//   eventbus_bench rpc [--count N] [--rounds 5] [--window 32] [--placement same|split|free]
// Throughput: --rate 0 = as fast as the publishers can (messages/s delivered, drops); --rate R =
// fixed offered load of R msg/s in total (end-to-end latency p50/p99, CLOCK_MONOTONIC stamped in
// the payload by the publisher, read by the subscriber).
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>

#include <spdlog/spdlog.h>
#include "../../tests/integration/eventbus/child_process.hpp"
#include "../bench_clock.hpp"

#include "daemoneye/eventbus/broker.hpp"
#include "daemoneye/eventbus/bus_client.hpp"
#include "raw_baselines.hpp"

namespace asio = boost::asio;
namespace eb = daemoneye::eventbus;
using daemoneye::bench::mono_ns;
using daemoneye::bench::thread_cpu_us;
using daemoneye::bench::thread_user_us;
using daemoneye::test::ChildProcess;
using namespace std::chrono_literals;

namespace {

std::map<std::string, std::string> parse(int argc, char** argv, int from) {
    std::map<std::string, std::string> m;
    for (int i = from; i + 1 < argc; i += 2) m[argv[i]] = argv[i + 1];
    return m;
}

std::uint64_t num(const std::map<std::string, std::string>& a, const std::string& k,
                  std::uint64_t def) {
    auto it = a.find(k);
    return it == a.end() ? def : std::stoull(it->second);
}

std::string str(const std::map<std::string, std::string>& a, const std::string& k) {
    auto it = a.find(k);
    return it == a.end() ? std::string() : it->second;
}

double pct(std::vector<std::uint64_t>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))]) /
           1000.0;
}

eb::ClientOptions opts(const std::string& socket, const std::string& name) {
    eb::ClientOptions o;
    o.socket_path = socket;
    o.client_name = name;
    o.max_pending_requests = 100000;
    return o;
}

// --- child roles ------------------------------------------------------------------------------

asio::awaitable<int> role_pub(std::map<std::string, std::string> a) {
    auto ex = co_await asio::this_coro::executor;
    auto connect_op = eb::BusClient::connect(ex, opts(str(a, "--socket"), "bench-pub"));
    auto c = co_await std::move(connect_op);
    if (!c) co_return 1;
    auto& client = **c;
    const auto count = num(a, "--count", 100000);
    const auto rate = num(a, "--rate", 0);
    std::vector<std::uint8_t> payload(num(a, "--size", 256), 0x42);
    std::cout << "READY" << std::endl;
    asio::steady_timer t(ex);
    const auto go = str(a, "--go");
    while (::access(go.c_str(), F_OK) != 0) {  // start together
        t.expires_after(1ms);
        co_await t.async_wait(asio::use_awaitable);
    }
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < count;) {
        if (rate > 0) {
            const auto due = start + std::chrono::nanoseconds(i * 1000000000ull / rate);
            if (due > std::chrono::steady_clock::now()) {
                t.expires_at(due);
                co_await t.async_wait(asio::use_awaitable);
            }
        }
        if (rate > 0) {  // latency runs stamp the send time into the payload
            const std::uint64_t now = mono_ns();
            std::memcpy(payload.data(), &now, sizeof now);
        }
        auto r = client.publish("events.bench.data", "bench.Blob", payload);
        if (r) {
            ++i;
        } else if (r.error().code == eb::BusError::Code::Backpressure) {
            co_await client.wait_writable();
        } else {
            std::cerr << "publish failed: " << r.error().message << "\n";
            co_return 1;
        }
    }
    co_await client.flush();
    t.expires_after(500ms);
    co_await t.async_wait(asio::use_awaitable);
    std::cout << "DONE" << std::endl;
    co_return 0;
}

asio::awaitable<int> role_sub(std::map<std::string, std::string> a) {
    auto ex = co_await asio::this_coro::executor;
    auto connect_op = eb::BusClient::connect(ex, opts(str(a, "--socket"), "bench-sub"));
    auto c = co_await std::move(connect_op);
    if (!c) co_return 1;
    auto& client = **c;
    const auto expect = num(a, "--expect", 0);
    const bool sample = num(a, "--latency", 0) != 0;
    std::uint64_t received = 0, first = 0, last = 0;
    std::vector<std::uint64_t> lat;
    lat.reserve(sample ? expect : 0);
    eb::MessageHandler h = [&](const eb::MessageView& m) {
        // Clock reads only where needed: at max rate the handler is part of what is measured.
        if (received++ == 0) first = mono_ns();
        if (received == expect) last = mono_ns();
        if (sample && m.payload().size() >= 8) {
            std::uint64_t sent = 0;
            std::memcpy(&sent, m.payload().data(), 8);
            lat.push_back(mono_ns() - sent);
        }
    };
    auto sub_op = client.subscribe(str(a, "--pattern"), std::move(h));
    auto sub = co_await std::move(sub_op);
    if (!sub) co_return 1;
    std::cout << "READY" << std::endl;
    asio::steady_timer t(ex);
    auto idle_since = std::chrono::steady_clock::now();
    std::uint64_t seen = 0;
    while (received < expect) {
        t.expires_after(10ms);
        co_await t.async_wait(asio::use_awaitable);
        if (received != seen) {
            seen = received;
            idle_since = std::chrono::steady_clock::now();
            if (received < expect) last = mono_ns();
        } else if (std::chrono::steady_clock::now() - idle_since > 5s) {
            break;  // the rest was dropped: report what arrived
        }
    }
    std::uint64_t gaps = 0;
    for (const auto& s : client.subscription_stats()) gaps += s.gaps;
    std::cout << "RESULT received=" << received << " gaps=" << gaps << " first=" << first
              << " last=" << last << " p50_us=" << pct(lat, 0.50) << " p99_us=" << pct(lat, 0.99)
              << std::endl;
    co_return 0;
}

asio::awaitable<int> role_rpc_server(std::map<std::string, std::string> a) {
    if (!str(a, "--cpu").empty()) daemoneye::bench::pin_to(static_cast<int>(num(a, "--cpu", 0)));
    const std::string target =
        str(a, "--target").empty() ? "control.bench.remote" : str(a, "--target");
    auto ex = co_await asio::this_coro::executor;
    auto connect_op = eb::BusClient::connect(ex, opts(str(a, "--socket"), "bench-server"));
    auto c = co_await std::move(connect_op);
    if (!c) co_return 1;
    eb::RpcHandler h = [](const eb::rpcv1::RpcRequest&) -> asio::awaitable<eb::rpcv1::RpcResponse> {
        co_return eb::rpc_ok();
    };
    auto serve_op = (*c)->serve(target, std::move(h));
    if (!(co_await std::move(serve_op))) co_return 1;
    std::cout << "READY" << std::endl;
    asio::steady_timer t(ex, std::chrono::hours(1));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return 0;
}

// What a run of calls measured: sequential latencies after the warm-up and the calling thread's
// CPU per call, or with a window, the calls kept in flight per second.
struct CallRun {
    std::vector<std::uint64_t> latencies_ns;
    double cpu_us = 0, user_us = 0, pipelined_rps = 0;
    bool ok = false;
};

// `count` sequential calls to `target` after `warmup` untimed ones, or with window > 0 that many
// kept in flight; the same for a client process and for the broker's own (in-process) client.
asio::awaitable<CallRun> run_calls(eb::BusClient& client, const std::string& target,
                                   std::uint64_t count, std::uint64_t warmup,
                                   std::uint64_t window) {
    CallRun r;
    if (window > 0) {
        std::uint64_t done = 0, sent = 0;
        bool failed = false;
        const auto t0 = mono_ns();
        std::function<void()> launch = [&] {
            while (sent < count && sent - done < window) {
                ++sent;
                client.async_call(eb::RpcRequest::health_check("bench", target, 5s), 5s,
                                  [&](daemoneye::Result<eb::rpcv1::RpcResponse, eb::RpcError> x) {
                                      failed |= !x;
                                      ++done;
                                      launch();
                                  });
            }
        };
        launch();
        asio::steady_timer t(co_await asio::this_coro::executor);
        while (done < count) {
            t.expires_after(1ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        r.pipelined_rps = count / ((mono_ns() - t0) / 1e9);
        r.ok = !failed;
        co_return r;
    }
    r.latencies_ns.reserve(count);
    double cpu0 = 0, user0 = 0;
    for (std::uint64_t i = 0; i < count + warmup; ++i) {
        if (i == warmup) {
            cpu0 = thread_cpu_us();
            user0 = thread_user_us();
        }
        auto req = eb::RpcRequest::health_check("bench", target, 5s);
        const auto t0 = mono_ns();
        auto op = client.call(std::move(req), 5s);
        auto x = co_await std::move(op);
        if (!x) {
            std::cerr << "rpc to " << target << " failed: " << x.error().message << "\n";
            co_return r;
        }
        if (i >= warmup) r.latencies_ns.push_back(mono_ns() - t0);
    }
    r.cpu_us = (thread_cpu_us() - cpu0) / static_cast<double>(count);
    r.user_us = (thread_user_us() - user0) / static_cast<double>(count);
    r.ok = true;
    co_return r;
}

// A client process: its latencies written to --samples as raw little-endian u64 nanoseconds
// (sequential), or with --window W > 0 only its req/s.
asio::awaitable<int> role_rpc_client(std::map<std::string, std::string> a) {
    if (!str(a, "--cpu").empty()) daemoneye::bench::pin_to(static_cast<int>(num(a, "--cpu", 0)));
    auto ex = co_await asio::this_coro::executor;
    auto connect_op = eb::BusClient::connect(ex, opts(str(a, "--socket"), "bench-client"));
    auto c = co_await std::move(connect_op);
    if (!c) co_return 1;
    const auto window = num(a, "--window", 0);
    const auto target = str(a, "--target");
    auto op = run_calls(**c, target, num(a, "--count", 20000), num(a, "--warmup", 1000), window);
    auto r = co_await std::move(op);
    if (!r.ok) co_return 1;
    if (window > 0) {
        std::cout << "RESULT pipelined_rps=" << static_cast<std::uint64_t>(r.pipelined_rps)
                  << std::endl;
        co_return 0;
    }
    std::ofstream out(str(a, "--samples"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(r.latencies_ns.data()),
              static_cast<std::streamsize>(r.latencies_ns.size() * sizeof(std::uint64_t)));
    if (!out) co_return 1;
    std::cout << "RESULT cpu_us=" << r.cpu_us << " user_us=" << r.user_us << std::endl;
    co_return 0;
}

// --- driver -----------------------------------------------------------------------------------

struct BrokerThread {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::unique_ptr<eb::Broker> broker;
    std::thread thread;
    std::string path;
    std::vector<std::unique_ptr<eb::BusClient>> local;

    explicit BrokerThread(std::size_t buffer) {
        path = "/tmp/debench-" + std::to_string(::getpid()) + "/bus.sock";
        eb::BrokerOptions o;
        o.socket_path = path;
        o.message_buffer_size = buffer;
        o.message_buffer_bytes = 4ull << 30;
        o.max_subscribers = 1000;
        o.max_pending_requests = 100000;
        broker = eb::Broker::create(io.get_executor(), o).value();
        if (auto ok = broker->listen(); !ok) {
            std::cerr << ok.error().message << "\n";
            std::exit(1);
        }
        thread = std::thread([this] { io.run(); });
    }
    ~BrokerThread() {
        std::promise<void> p;
        asio::post(io, [&] {
            local.clear();
            broker->stop();
            p.set_value();
        });
        p.get_future().get();
        work.reset();
        io.stop();
        thread.join();
    }
};

// run_calls by the broker's own client, on the broker's thread (the agent calling a collector):
// its CPU per call is the caller's and the broker's work together.
CallRun local_calls(BrokerThread& b, const std::string& target, std::uint64_t count,
                    std::uint64_t warmup, std::uint64_t window) {
    std::promise<CallRun> done;
    asio::co_spawn(
        b.io,
        [&]() -> asio::awaitable<void> {
            auto op = run_calls(*b.local.front(), target, count, warmup, window);
            done.set_value(co_await std::move(op));
        },
        asio::detached);
    return done.get_future().get();
}

std::uint64_t field(const std::string& line, const std::string& key) {
    const auto at = line.find(key + "=");
    if (at == std::string::npos) return 0;
    return std::stoull(line.substr(at + key.size() + 1));
}
double dfield(const std::string& line, const std::string& key) {
    const auto at = line.find(key + "=");
    if (at == std::string::npos) return 0;
    return std::stod(line.substr(at + key.size() + 1));
}

int throughput(const std::string& self, const std::map<std::string, std::string>& a) {
    const auto pubs = num(a, "--pubs", 1), subs = num(a, "--subs", 1);
    const auto rate = num(a, "--rate", 0);
    const auto count =
        num(a, "--count", rate ? rate * 3 / std::max<std::uint64_t>(pubs, 1) : 500000);
    const auto size = num(a, "--size", 256);
    BrokerThread b(num(a, "--buffer", 200000));
    std::vector<std::unique_ptr<ChildProcess>> sp, pp;
    const std::string pattern = subs > 1 ? "events.+.data" : "events.#";
    for (std::uint64_t i = 0; i < subs; ++i) {
        sp.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
            self, "--role", "sub", "--socket", b.path, "--pattern", pattern, "--expect",
            std::to_string(count * pubs), "--latency", rate ? "1" : "0"}));
        if (!sp.back()->wait_for("READY", 30s)) return 1;
    }
    const std::string go = b.path + ".go";
    for (std::uint64_t i = 0; i < pubs; ++i) {
        pp.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
            self, "--role", "pub", "--socket", b.path, "--count", std::to_string(count), "--size",
            std::to_string(size), "--rate", std::to_string(rate / std::max<std::uint64_t>(pubs, 1)),
            "--go", go}));
        if (!pp.back()->wait_for("READY", 30s)) return 1;
    }
    if (FILE* f = std::fopen(go.c_str(), "w")) std::fclose(f);
    std::uint64_t received = 0, gaps = 0, first = UINT64_MAX, last = 0;
    double p50 = 0, p99 = 0;
    for (auto& s : sp) {
        auto r = s->wait_for("RESULT", 600s);
        if (!r) return 1;
        received += field(*r, "received");
        gaps += field(*r, "gaps");
        first = std::min(first, field(*r, "first"));
        last = std::max(last, field(*r, "last"));
        p50 = std::max(p50, dfield(*r, "p50_us"));
        p99 = std::max(p99, dfield(*r, "p99_us"));
    }
    for (auto& p : pp) p->wait(60s);
    const auto m = b.broker->metrics_async().get();
    const double secs = (last - first) / 1e9;
    std::cout << pubs << " pub -> " << subs << " sub (" << pattern << "), " << size << " B";
    if (rate) {
        std::cout << ", offered " << rate << " msg/s: delivered " << received << "/"
                  << count * pubs * subs << ", latency p50 " << p50 << " us p99 " << p99 << " us";
    } else {
        std::cout << ": " << static_cast<std::uint64_t>(received / secs) << " deliveries/s ("
                  << received << " in " << secs << " s)";
    }
    std::cout << ", drops " << m.drops << ", gaps seen " << gaps << std::endl;
    return m.drops == 0 && gaps == 0 ? 0 : 1;  // the target is lossless
}

// Percentiles of a pooled sample, in microseconds.
struct Latency {
    std::vector<std::uint64_t> all;    // every round's samples, ns
    std::vector<double> round_p50_us;  // each round's own p50

    void add(std::vector<std::uint64_t> round) {
        round_p50_us.push_back(pct(round, 0.5));
        all.insert(all.end(), round.begin(), round.end());
    }
    double p50() { return pct(all, 0.5); }
    double p99() { return pct(all, 0.99); }
};

std::vector<std::uint64_t> read_samples(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::uint64_t> v;
    std::uint64_t x = 0;
    while (in.read(reinterpret_cast<char*>(&x), sizeof x)) v.push_back(x);
    return v;
}

// Where the parties run decides which cost dominates a round trip, so each placement is measured
// on its own (every party pinned), and the raw limits under the same placement:
// - same: every party on one CPU. A unix socket wakes its reader with a sync hint, so the reader
//   runs when the writer sleeps: the round trip is the sum of every party's CPU per call.
// - split: the broker on one CPU and the caller's other end on the other: a caller in another
//   process on CPU 0 (a server there stays with the broker), or, for the broker's own caller, the
//   server on CPU 0. Every crossing is a wake-up of the other CPU (an inter-processor interrupt;
//   on this VM ~20 us when that vCPU has halted), which dominates.
// - free: no pinning; the scheduler flips between the two above (a pair stays together or
//   apart until something moves it), so ratios between kinds vary from run to run.
// The three kinds of call, and the raw limit each is held to:
// - a caller in another process, the server in the broker's process (the CLI asking the agent):
//   two socket hops, the raw ping-pong;
// - the caller in the broker's process, the server in another (the agent asking a collector):
//   two socket hops, the raw ping-pong;
// - caller and server each in another process (one collector asking another): four hops, the
//   raw relay.
// Every kind of round trip is measured in each of --rounds rounds, one after the other, and its
// percentiles taken over all rounds.
int rpc_placement(const std::string& self, const std::map<std::string, std::string>& a,
                  const std::string& placement) {
    const bool split = placement == "split";
    const int far_cpu = split ? 0 : -1;  // the other end's CPU when split
    if (!daemoneye::bench::pin_to(placement == "free" ? -1 : 1)) {
        std::cerr << "cannot pin to CPU 1 (placement " << placement << ")\n";
        return 1;
    }
    const auto count = num(a, "--count", 20000);
    const auto rounds = std::max<std::uint64_t>(1, num(a, "--rounds", 5));
    const auto per = std::max<std::uint64_t>(count / rounds, 100);
    const auto window = str(a, "--window").empty() ? 32 : num(a, "--window", 32);
    BrokerThread b(10000);  // its thread (and the remote server) inherit this thread's CPU
    // In-process server (the agent's process manager serving control.collector.<name>).
    std::promise<void> served;
    asio::co_spawn(
        b.io,
        [&]() -> asio::awaitable<void> {
            eb::ClientOptions o;
            o.client_name = "agent";
            b.local.push_back(eb::BusClient::connect_local(*b.broker, o).value());
            eb::RpcHandler h =
                [](const eb::rpcv1::RpcRequest&) -> asio::awaitable<eb::rpcv1::RpcResponse> {
                co_return eb::rpc_ok();
            };
            auto op = b.local.back()->serve("control.bench.local", std::move(h));
            (void)co_await std::move(op);
            served.set_value();
        },
        asio::detached);
    served.get_future().get();
    // The server of the four-hop calls stays with the broker; the one the broker's own client
    // calls is the far end when split.
    ChildProcess server({self, "--role", "rpc-server", "--socket", b.path});
    std::vector<std::string> far_argv = {self,   "--role",   "rpc-server",       "--socket",
                                         b.path, "--target", "control.bench.far"};
    if (placement != "free") far_argv.insert(far_argv.end(), {"--cpu", split ? "0" : "1"});
    ChildProcess far_server(far_argv);
    if (!server.wait_for("READY", 30s) || !far_server.wait_for("READY", 30s)) return 1;
    auto broker_cpu = [&b] {
        std::promise<std::pair<double, double>> p;
        asio::post(b.io, [&p] { p.set_value({thread_cpu_us(), thread_user_us()}); });
        return p.get_future().get();
    };

    // A caller in another process: on CPU 0 when split, with everybody when same, anywhere when
    // free.
    auto client_argv = [&](const std::string& target, std::vector<std::string> extra) {
        std::vector<std::string> v = {self,   "--role",   "rpc-client", "--socket",
                                      b.path, "--target", target};
        if (placement != "free") v.insert(v.end(), {"--cpu", split ? "0" : "1"});
        v.insert(v.end(), extra.begin(), extra.end());
        return v;
    };
    enum Kind { kToLocal, kFromLocal, kRemote, kKinds };
    const char* const names[kKinds] = {
        "rpc, caller in another process -> server in the broker's process: ",
        "rpc, caller in the broker's process -> server in another process: ",
        "rpc, caller and server each in another process (4 hops):        "};
    const std::string targets[kKinds] = {"control.bench.local", "control.bench.far",
                                         "control.bench.remote"};
    Latency ping, relay, ping_loop, relay_loop, rpcs[kKinds];
    double ping_cpu = 0, client_cpu[kKinds] = {}, client_user[kKinds] = {}, broker_us[kKinds] = {},
           broker_user_us[kKinds] = {};
    const std::string samples = b.path + ".samples";
    for (std::uint64_t r = 0; r < rounds; ++r) {
        auto p = daemoneye::bench::raw_pingpong(per, 200, false, far_cpu);
        ping_cpu += p.cpu_us_per_round_trip / static_cast<double>(rounds);
        ping.add(std::move(p.latencies_ns));
        relay.add(daemoneye::bench::raw_relay(per, 200, false, far_cpu).latencies_ns);
        ping_loop.add(daemoneye::bench::raw_pingpong(per, 200, true, far_cpu).latencies_ns);
        relay_loop.add(daemoneye::bench::raw_relay(per, 200, true, far_cpu).latencies_ns);
        const auto warmup = r == 0 ? 1000 : 200;
        const double share = 1.0 / static_cast<double>(rounds);
        for (int t = 0; t < kKinds; ++t) {
            if (t == kFromLocal) {
                auto c = local_calls(b, targets[t], per, warmup, 0);
                if (!c.ok) return 1;
                rpcs[t].add(std::move(c.latencies_ns));
                broker_us[t] += c.cpu_us * share;
                broker_user_us[t] += c.user_us * share;
                continue;
            }
            const auto broker0 = broker_cpu();
            ChildProcess client(
                client_argv(targets[t], {"--count", std::to_string(per), "--warmup",
                                         std::to_string(warmup), "--samples", samples}));
            auto line = client.wait_for("RESULT", 600s);
            if (!line || client.wait(10s) != 0) return 1;
            const auto broker1 = broker_cpu();
            rpcs[t].add(read_samples(samples));
            // CPU per call, robust to a loaded machine: the client's thread over its timed
            // calls; the broker's thread over the whole client run (with an in-process server
            // that includes the server's work).
            const double calls = static_cast<double>(per + warmup);
            client_cpu[t] += dfield(*line, "cpu_us") * share;
            client_user[t] += dfield(*line, "user_us") * share;
            broker_us[t] += (broker1.first - broker0.first) / calls * share;
            broker_user_us[t] += (broker1.second - broker0.second) / calls * share;
        }
    }
    std::filesystem::remove(samples);

    std::cout << "rpc, placement " << placement << ": " << rounds << " rounds of " << per
              << " sequential round trips of each kind, interleaved; percentiles over all rounds"
              << std::endl;
    auto line = [](const char* name, Latency& l) {
        std::cout << name << "p50 " << l.p50() << " us  p99 " << l.p99() << " us";
    };
    line("raw ping-pong, 2 hops (the limit): ", ping);
    std::cout << "  cpu per round trip (one side) " << ping_cpu << " us" << std::endl;
    line("raw relay, 4 hops (the limit):     ", relay);
    std::cout << std::endl;
    line("event-loop floor, ping-pong:       ", ping_loop);
    std::cout << "  (reference: epoll pattern, no work)" << std::endl;
    line("event-loop floor, relay:           ", relay_loop);
    std::cout << "  (reference)" << std::endl;

    std::string misses;  // what missed the goal, e.g. "4 hops p99 1.84x"
    const char* const short_names[kKinds] = {"to the broker's process", "from the broker's process",
                                             "4 hops"};
    for (int t = 0; t < kKinds; ++t) {
        const bool two_hops = t != kRemote;
        Latency& base = two_hops ? ping : relay;
        Latency& floor = two_hops ? ping_loop : relay_loop;
        std::uint64_t pipelined_rps = 0;
        if (t == kFromLocal) {
            pipelined_rps = static_cast<std::uint64_t>(
                local_calls(b, targets[t], count, 0, window).pipelined_rps);
        } else {
            ChildProcess pipelined(client_argv(targets[t], {"--count", std::to_string(count),
                                                            "--window", std::to_string(window)}));
            if (auto pl = pipelined.wait_for("RESULT", 600s)) {
                pipelined_rps = field(*pl, "pipelined_rps");
            }
        }
        line(names[t], rpcs[t]);
        std::cout << "  sequential " << static_cast<std::uint64_t>(1e6 / rpcs[t].p50())
                  << " req/s (at p50)  pipelined (" << window << ") " << pipelined_rps << " req/s"
                  << std::endl;
        const double r50 = rpcs[t].p50() / base.p50(), r99 = rpcs[t].p99() / base.p99();
        // The goal: p50 and p99 within 1.5x of the physical limit measured in this run.
        for (auto [name, r] : {std::pair{"p50", r50}, std::pair{"p99", r99}}) {
            if (r <= 1.5) continue;
            std::ostringstream miss;
            miss << (misses.empty() ? "" : ", ") << short_names[t] << " " << name << " "
                 << std::setprecision(3) << r << "x";
            misses += miss.str();
        }
        double lo = 1e9, hi = 0;
        for (std::size_t r = 0; r < rpcs[t].round_p50_us.size(); ++r) {
            const double x = rpcs[t].round_p50_us[r] / base.round_p50_us[r];
            lo = std::min(lo, x);
            hi = std::max(hi, x);
        }
        std::cout << "  vs " << (two_hops ? "ping-pong" : "relay") << ": p50 " << r50 << "x  p99 "
                  << r99 << "x  (p50 per round " << lo << "x-" << hi << "x)  vs its event-loop "
                  << "floor: p50 " << rpcs[t].p50() / floor.p50() << "x" << std::endl;
        if (t == kFromLocal) {
            std::cout << "  cpu per call (user part): broker thread with the caller "
                      << broker_us[t] << " us (" << broker_user_us[t] << ")" << std::endl;
        } else {
            std::cout << "  cpu per call (user part): client " << client_cpu[t] << " us ("
                      << client_user[t] << "), broker thread " << broker_us[t] << " us ("
                      << broker_user_us[t] << ")" << std::endl;
        }
    }
    std::cout << "rpc goal, placement " << placement
              << " (p50 and p99 within 1.5x of the limit measured in this run): "
              << (misses.empty() ? "met" : "MISSED (" + misses + ")") << std::endl
              << std::endl;
    daemoneye::bench::pin_to(-1);
    return misses.empty() ? 0 : 1;
}

// --placement same|split|free; by default `same` and `split` (the goal must hold in both).
int rpc(const std::string& self, const std::map<std::string, std::string>& a) {
    const std::string only = str(a, "--placement");
    int rc = 0;
    for (const std::string placement : {"same", "split", "free"}) {
        if (only.empty() ? placement == "free" : placement != only) continue;
        if (placement == "split" && ::sysconf(_SC_NPROCESSORS_ONLN) < 2) {
            std::cout << "rpc, placement split: skipped (one CPU)" << std::endl;
            continue;
        }
        rc |= rpc_placement(self, a, placement);
    }
    return rc;
}

template <class F>
int run_role(F f, std::map<std::string, std::string> a) {
    asio::io_context io(1);
    int rc = 1;
    asio::co_spawn(io, f(std::move(a)), [&](std::exception_ptr e, int r) {
        rc = e ? 3 : r;
        io.stop();
    });
    io.run();
    return rc;
}

}  // namespace

constexpr const char* kUsage =
    "usage: eventbus_bench [throughput|rpc] [options]\n"
    "  (no command)  the standard set, as `make bench` runs it: throughput 4->1 and 1->4\n"
    "                (250 000 messages per publisher, --buffer 100000) and rpc --count 10000\n"
    "  throughput --pubs P --subs S [--count N] [--size B] [--rate R] [--buffer B]\n"
    "  rpc [--count N] [--rounds R] [--window W] [--placement same|split|free]\n"
    "Exit status 1 when a run misses its target (lossless; RPC within 1.5x of its limit).\n";

int main(int argc, char** argv) {
    char self[4096] = {};
    const auto n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    const std::string me(self, n > 0 ? static_cast<std::size_t>(n) : 0);
    spdlog::set_level(spdlog::level::warn);  // sessions opening and closing are not results
    if (argc < 2) {
        int rc = 0;
        rc |= throughput(
            me, {{"--pubs", "4"}, {"--subs", "1"}, {"--count", "250000"}, {"--buffer", "100000"}});
        rc |= throughput(
            me, {{"--pubs", "1"}, {"--subs", "4"}, {"--count", "500000"}, {"--buffer", "100000"}});
        rc |= rpc(me, {{"--count", "10000"}});
        return rc;
    }
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h") {
        std::cout << kUsage;
        return 0;
    }
    if (cmd == "--role") {
        auto a = parse(argc, argv, 3);
        const std::string role = argv[2];
        if (role == "pub") return run_role(role_pub, a);
        if (role == "sub") return run_role(role_sub, a);
        if (role == "rpc-server") return run_role(role_rpc_server, a);
        if (role == "rpc-client") return run_role(role_rpc_client, a);
        return 2;
    }
    auto a = parse(argc, argv, 2);
    if (cmd == "throughput") return throughput(me, a);
    if (cmd == "rpc") return rpc(me, a);
    std::cerr << kUsage;
    return 2;
}
