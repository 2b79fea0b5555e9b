// A small bus client process driven by the integration tests (and handy by hand). It speaks on
// stdout, one line per event, so the test can follow it:
//   READY                         subscribed / serving
//   RESULT sub=<id> pattern=<p> received=<n> gaps=<g>
//   DONE published=<n> refused=<r> broker_errors=<e>
//   ERROR code=<n> message=<text>   an Error frame from the broker (raw mode and publish mode)
//   CLOSED                        the broker closed the connection (raw mode)
//   REFUSED <message>             the broker refused the session
//   RPC ok exec_us=<n> corr=<id> root=<id> tag=<v>  /  RPCERROR code=<name> message=<text>
//   STATE reconnecting|connected|closed
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/eventbus/bus_client.hpp"
#include "daemoneye/eventbus/protocol.hpp"
#include "daemoneye/wire/frame_codec.hpp"

namespace asio = boost::asio;
namespace eb = daemoneye::eventbus;
namespace bus = daemoneye::bus::v1;
using namespace std::chrono_literals;

namespace {

struct Args {
    std::string socket;
    std::string mode;
    std::vector<std::string> patterns;
    std::string topic = "events.test.data";
    std::string target;
    std::string raw_case;
    std::size_t count = 0;
    std::size_t size = 64;
    int stall_ms = 0;
    int idle_exit_ms = 3000;
    int timeout_ms = 1000;
    int wait_ms = 0;
    int linger_ms = 0;  // stay connected this long after RESULT (lets the test read counters)
    int rate = 0;       // messages per second, 0 = as fast as possible
    int as_uid = -1;
    std::size_t max_pending = 1000;
    int concurrent = 1;
};

void say(const std::string& line) {
    std::cout << line << std::endl;  // flushes: the test reads line by line
}

std::string arg_value(int& i, int argc, char** argv) {
    if (i + 1 >= argc) {
        std::cerr << "missing value for " << argv[i] << "\n";
        std::exit(2);
    }
    return argv[++i];
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--socket")
            a.socket = arg_value(i, argc, argv);
        else if (k == "--mode")
            a.mode = arg_value(i, argc, argv);
        else if (k == "--pattern")
            a.patterns.push_back(arg_value(i, argc, argv));
        else if (k == "--topic")
            a.topic = arg_value(i, argc, argv);
        else if (k == "--target")
            a.target = arg_value(i, argc, argv);
        else if (k == "--case")
            a.raw_case = arg_value(i, argc, argv);
        else if (k == "--count")
            a.count = std::stoul(arg_value(i, argc, argv));
        else if (k == "--size")
            a.size = std::stoul(arg_value(i, argc, argv));
        else if (k == "--stall-ms")
            a.stall_ms = std::stoi(arg_value(i, argc, argv));
        else if (k == "--idle-exit-ms")
            a.idle_exit_ms = std::stoi(arg_value(i, argc, argv));
        else if (k == "--timeout-ms")
            a.timeout_ms = std::stoi(arg_value(i, argc, argv));
        else if (k == "--wait-ms")
            a.wait_ms = std::stoi(arg_value(i, argc, argv));
        else if (k == "--linger-ms")
            a.linger_ms = std::stoi(arg_value(i, argc, argv));
        else if (k == "--rate")
            a.rate = std::stoi(arg_value(i, argc, argv));
        else if (k == "--as-uid")
            a.as_uid = std::stoi(arg_value(i, argc, argv));
        else if (k == "--max-pending")
            a.max_pending = std::stoul(arg_value(i, argc, argv));
        else if (k == "--concurrent")
            a.concurrent = std::stoi(arg_value(i, argc, argv));
        else {
            std::cerr << "unknown argument " << k << "\n";
            std::exit(2);
        }
    }
    return a;
}

eb::ClientOptions client_options(const Args& a, const std::string& name) {
    eb::ClientOptions o;
    o.socket_path = a.socket;
    o.client_name = name;
    o.max_pending_requests = a.max_pending;
    o.reconnect.initial = 50ms;
    o.reconnect.max = 500ms;
    return o;
}

// --- socket modes -----------------------------------------------------------------------------

asio::awaitable<int> run_subscribe(Args a) {
    auto ex = co_await asio::this_coro::executor;
    // Named first: GCC 12 double-destroys temporaries that share a full-expression with co_await.
    auto connect_op = eb::BusClient::connect(ex, client_options(a, "test-subscriber"));
    auto c = co_await std::move(connect_op);
    if (!c) {
        say("REFUSED " + c.error().message);
        co_return 1;
    }
    auto& client = **c;
    client.on_state_change([](eb::ConnectionState s) {
        say(std::string("STATE ") + (s == eb::ConnectionState::Connected      ? "connected"
                                     : s == eb::ConnectionState::Reconnecting ? "reconnecting"
                                                                              : "closed"));
    });
    std::size_t total = 0;
    auto last = std::chrono::steady_clock::now();
    bool stalled = a.stall_ms == 0;
    for (const auto& p : a.patterns) {
        eb::MessageHandler handler = [&](const eb::MessageView&) {
            ++total;
            last = std::chrono::steady_clock::now();
            if (!stalled) {
                stalled = true;
                // Deliberately stop reading: the broker's queue for us fills up.
                std::this_thread::sleep_for(std::chrono::milliseconds(a.stall_ms));
            }
        };
        auto sub_op = client.subscribe(p, std::move(handler));
        auto sub = co_await std::move(sub_op);
        if (!sub) {
            say("ERROR code=0 message=" + sub.error().message);
            co_return 1;
        }
    }
    say("READY");
    asio::steady_timer t(ex);
    const auto idle = std::chrono::milliseconds(a.idle_exit_ms);
    for (;;) {
        t.expires_after(20ms);
        co_await t.async_wait(asio::use_awaitable);
        if (a.count && total >= a.count) break;
        if (std::chrono::steady_clock::now() - last > idle && (total > 0 || a.count == 0)) break;
        if (std::chrono::steady_clock::now() - last > idle * 5) break;
    }
    for (const auto& s : client.subscription_stats()) {
        say("RESULT sub=" + std::to_string(s.subscription_id) + " pattern=" + s.pattern +
            " received=" + std::to_string(s.received) + " gaps=" + std::to_string(s.gaps));
    }
    if (a.linger_ms > 0) {
        t.expires_after(std::chrono::milliseconds(a.linger_ms));
        co_await t.async_wait(asio::use_awaitable);
    }
    co_return 0;
}

asio::awaitable<int> run_publish(Args a) {
    auto ex = co_await asio::this_coro::executor;
    // Named first: GCC 12 double-destroys temporaries that share a full-expression with co_await.
    auto connect_op = eb::BusClient::connect(ex, client_options(a, "test-publisher"));
    auto c = co_await std::move(connect_op);
    if (!c) {
        say("REFUSED " + c.error().message);
        co_return 1;
    }
    auto& client = **c;
    std::size_t errors = 0;
    client.on_broker_error([&](const bus::Error& e) {
        ++errors;
        say("ERROR code=" + std::to_string(e.code()) + " message=" + e.message());
    });
    std::vector<std::uint8_t> payload(a.size, 0x5A);
    std::size_t published = 0, refused = 0;
    const auto start = std::chrono::steady_clock::now();
    asio::steady_timer t(ex);
    while (published < a.count) {
        if (a.rate > 0) {
            const auto due = start + std::chrono::microseconds(published * 1000000ull / a.rate);
            if (due > std::chrono::steady_clock::now()) {
                t.expires_at(due);
                co_await t.async_wait(asio::use_awaitable);
            }
        }
        auto r = client.publish(a.topic, "test.Blob", payload);
        if (r) {
            ++published;
        } else if (r.error().code == eb::BusError::Code::Backpressure) {
            co_await client.wait_writable();
        } else {
            ++refused;
            say("ERROR code=local message=" + r.error().message);
            break;
        }
    }
    co_await client.flush();
    t.expires_after(std::chrono::milliseconds(std::max(a.wait_ms, 200)));
    co_await t.async_wait(asio::use_awaitable);
    say("DONE published=" + std::to_string(published) + " refused=" + std::to_string(refused) +
        " broker_errors=" + std::to_string(errors));
    co_return 0;
}

asio::awaitable<int> run_call(Args a) {
    auto ex = co_await asio::this_coro::executor;
    // Named first: GCC 12 double-destroys temporaries that share a full-expression with co_await.
    auto connect_op = eb::BusClient::connect(ex, client_options(a, "test-caller"));
    auto c = co_await std::move(connect_op);
    if (!c) {
        say("REFUSED " + c.error().message);
        co_return 1;
    }
    auto& client = **c;
    int outstanding = a.concurrent;
    for (int i = 0; i < a.concurrent; ++i) {
        auto req = eb::RpcRequest::health_check("test-caller", a.target,
                                                std::chrono::milliseconds(a.timeout_ms));
        daemoneye::common::v1::CorrelationMetadata corr;
        corr.set_correlation_id("corr-" + std::to_string(::getpid()) + "-" + std::to_string(i));
        corr.set_root_correlation_id("root-1");
        corr.set_workflow_stage("test");
        (*corr.mutable_tags())["k"] = "v" + std::to_string(i);
        req.correlation(corr);
        client.async_call(
            std::move(req), std::chrono::milliseconds(a.timeout_ms),
            [&](daemoneye::Result<eb::rpcv1::RpcResponse, eb::RpcError> r) {
                --outstanding;
                if (r) {
                    const auto& c2 = r->correlation();
                    auto tag = c2.tags().find("k");
                    say("RPC ok exec_us=" + std::to_string(r->execution_time_us()) +
                        " corr=" + c2.correlation_id() + " root=" + c2.root_correlation_id() +
                        " stage=" + c2.workflow_stage() +
                        " tag=" + (tag == c2.tags().end() ? "" : tag->second));
                } else {
                    say(std::string("RPCERROR code=") + eb::to_string(r.error().code) +
                        " message=" + r.error().message);
                }
            });
    }
    asio::steady_timer t(ex);
    while (outstanding > 0) {
        t.expires_after(10ms);
        co_await t.async_wait(asio::use_awaitable);
    }
    if (a.wait_ms > 0) {
        t.expires_after(std::chrono::milliseconds(a.wait_ms));
        co_await t.async_wait(asio::use_awaitable);
    }
    say("STATS late=" + std::to_string(client.stats().rpc_late_replies) +
        " timeouts=" + std::to_string(client.stats().rpc_timeouts));
    co_return 0;
}

// --- raw mode: hand-made frames, blocking I/O ---------------------------------------------------

int raw_connect(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        say(std::string("REFUSED connect: ") + std::strerror(errno));
        std::exit(1);
    }
    return fd;
}

void send_all(int fd, const std::vector<std::uint8_t>& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        const auto n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
    }
}

std::vector<std::uint8_t> frame_of(const google::protobuf::MessageLite& m) {
    std::vector<std::uint8_t> out;
    (void)daemoneye::wire::append_message_frame(out, m, daemoneye::wire::Crc32Variant::Ieee,
                                                1 << 20);
    return out;
}

std::vector<std::uint8_t> frame_of_bytes(const std::string& payload) {
    std::vector<std::uint8_t> out;
    (void)daemoneye::wire::append_frame(
        out, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()},
        daemoneye::wire::Crc32Variant::Ieee, 1 << 20);
    return out;
}

bus::Batch hello_batch(std::uint32_t version = eb::kProtocolVersion) {
    bus::Batch b;
    auto* h = b.add_items()->mutable_hello();
    h->set_protocol_version(version);
    h->set_role(bus::ROLE_CLIENT);
    h->set_client_name("raw-test");
    return b;
}

// Reads frames until `until` returns true, EOF or the timeout; prints what arrives.
void read_replies(int fd, int timeout_ms, std::size_t want_errors, bool want_heartbeat) {
    daemoneye::wire::FrameDecoder dec(1 << 20, daemoneye::wire::Crc32Variant::Ieee);
    std::size_t errors = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        auto space = dec.prepare(64 * 1024);
        const auto n = ::recv(fd, space.data(), space.size(), 0);
        if (n <= 0) {
            say("CLOSED");
            return;
        }
        dec.commit(static_cast<std::size_t>(n));
        for (;;) {
            auto f = dec.next();
            if (!f || !*f) break;
            bus::Batch b;
            if (!b.ParseFromArray((*f)->data(), static_cast<int>((*f)->size()))) continue;
            for (const auto& item : b.items()) {
                if (item.has_error()) {
                    ++errors;
                    say("ERROR code=" + std::to_string(item.error().code()) +
                        " message=" + item.error().message());
                } else if (item.has_welcome()) {
                    say("WELCOME session=" + std::to_string(item.welcome().session_id()));
                } else if (item.has_rpc_response()) {
                    const auto& r = item.rpc_response();
                    if (r.status() == daemoneye::rpc::v1::STATUS_ERROR) ++errors;
                    say("RPC_RESPONSE id=" + r.correlation_id() + " status=" +
                        std::to_string(r.status()) + " code=" + std::to_string(r.error().code()) +
                        " message=" + r.error().message());
                } else if (item.has_heartbeat()) {
                    say("HEARTBEAT");
                    if (want_heartbeat) return;
                }
            }
        }
        if (want_errors && errors >= want_errors && !want_heartbeat) return;
    }
    say("TIMEOUT");
}

// Hello, then a Publish of `message` exactly as given (under 128 bytes), then a Heartbeat: prints
// the Error the publish gets and the echo that proves the session carried on.
void publish_raw(int fd, const Args& a, const std::string& message) {
    auto wrap = [](char key, const std::string& body) {
        return std::string(1, key) + static_cast<char>(body.size()) + body;  // one-byte length
    };
    bus::Batch hb;
    hb.add_items()->mutable_heartbeat()->set_sequence(7);
    send_all(fd, frame_of(hello_batch()));
    // Batch.items(1) { Envelope.publish(5) { Publish.message(1) } }
    send_all(fd, frame_of_bytes(wrap('\x0A', wrap('\x2A', wrap('\x0A', message)))));
    send_all(fd, frame_of(hb));
    read_replies(fd, a.timeout_ms, 1, true);
}

int run_raw(const Args& a) {
    const int fd = raw_connect(a.socket);
    const std::string c = a.raw_case;
    auto after_hello = [&](const bus::Batch& b, std::size_t want_errors) {
        send_all(fd, frame_of(hello_batch()));
        send_all(fd, frame_of(b));
        bus::Batch hb;
        hb.add_items()->mutable_heartbeat()->set_sequence(7);
        send_all(fd, frame_of(hb));  // proves the session carries on after the error
        read_replies(fd, a.timeout_ms, want_errors, true);
    };
    if (c == "crc") {
        auto f = frame_of(hello_batch());
        f[4] ^= 0xFF;  // corrupt the CRC field
        send_all(fd, f);
        read_replies(fd, a.timeout_ms, 1, false);
        read_replies(fd, a.timeout_ms, 0, false);
    } else if (c == "oversized") {
        std::vector<std::uint8_t> f(8, 0);
        daemoneye::wire::write_header(f.data(), {0x7FFFFFF0u, 0});
        send_all(fd, f);
        read_replies(fd, a.timeout_ms, 1, false);
        read_replies(fd, a.timeout_ms, 0, false);
    } else if (c == "zero-length") {
        std::vector<std::uint8_t> f(8, 0);
        send_all(fd, f);
        read_replies(fd, a.timeout_ms, 1, false);
        read_replies(fd, a.timeout_ms, 0, false);
    } else if (c == "not-a-batch") {
        send_all(fd, frame_of_bytes(std::string("\xFF\xFF\xFF\xFF garbage", 12)));
        read_replies(fd, a.timeout_ms, 1, false);
        read_replies(fd, a.timeout_ms, 0, false);
    } else if (c == "before-hello") {
        bus::Batch b;
        b.add_items()->mutable_subscribe()->set_pattern("events.#");
        send_all(fd, frame_of(b));
        read_replies(fd, a.timeout_ms, 1, false);
        read_replies(fd, a.timeout_ms, 0, false);
    } else if (c == "bad-version") {
        send_all(fd, frame_of(hello_batch(99)));
        read_replies(fd, a.timeout_ms, 1, false);
        read_replies(fd, a.timeout_ms, 0, false);
    } else if (c == "no-hello") {
        read_replies(fd, a.timeout_ms, 1, false);
        read_replies(fd, a.timeout_ms, 0, false);
    } else if (c == "silent-after-welcome") {
        // Welcomed, then never a heartbeat: the broker's idle deadline.
        send_all(fd, frame_of(hello_batch()));
        read_replies(fd, a.timeout_ms, 1, false);
        read_replies(fd, a.timeout_ms, 0, false);
    } else if (c == "half-frame") {
        // Welcomed, then half of a frame header: the broker's whole-frame read deadline.
        send_all(fd, frame_of(hello_batch()));
        send_all(fd, std::vector<std::uint8_t>{0x10, 0, 0, 0});
        read_replies(fd, a.timeout_ms, 1, false);
        read_replies(fd, a.timeout_ms, 0, false);
    } else if (c == "unknown-type") {
        send_all(fd, frame_of(hello_batch()));
        // Batch { items: Envelope { field 15: "x" } }
        send_all(fd, frame_of_bytes(std::string("\x0A\x03\x7A\x01x", 5)));
        bus::Batch hb;
        hb.add_items()->mutable_heartbeat()->set_sequence(7);
        send_all(fd, frame_of(hb));
        read_replies(fd, a.timeout_ms, 1, true);
    } else if (c == "invalid-topic") {
        bus::Batch b;
        auto* m = b.add_items()->mutable_publish()->mutable_message();
        m->set_topic("events..bad");
        after_hello(b, 1);
    } else if (c == "invalid-pattern") {
        bus::Batch b;
        auto* s = b.add_items()->mutable_subscribe();
        s->set_subscription_id(1);
        s->set_pattern("events.#.tail");
        after_hello(b, 1);
    } else if (c == "denied") {
        bus::Batch b;
        b.add_items()->mutable_publish()->mutable_message()->set_topic("events.other.thing");
        after_hello(b, 1);
    } else if (c == "reply-topic") {
        bus::Batch b;
        auto* s = b.add_items()->mutable_subscribe();
        s->set_subscription_id(1);
        s->set_pattern("control.rpc.reply.999999");
        after_hello(b, 1);
    } else if (c == "malformed-publish") {
        send_all(fd, frame_of(hello_batch()));
        // Batch { Envelope { publish: Publish { message: <truncated bytes> } } }
        send_all(fd, frame_of_bytes(std::string("\x0A\x06\x2A\x04\x0A\x02\x0A\x09", 8)));
        bus::Batch hb;
        hb.add_items()->mutable_heartbeat()->set_sequence(7);
        send_all(fd, frame_of(hb));
        read_replies(fd, a.timeout_ms, 1, true);
    } else if (c == "spoofed-topic") {
        // A Message on a granted topic with a second topic field behind a five-byte key whose
        // bits past 31 are set: protobuf drops those bits and reads "control.forged" as the
        // topic; the broker must refuse the publish, not route it as "events.test.spoof".
        bus::Message m;
        m.set_topic("events.test.spoof");
        const std::string forged = "control.forged";
        publish_raw(fd, a,
                    m.SerializeAsString() + std::string("\x8A\x80\x80\x80\x10", 5) +
                        static_cast<char>(forged.size()) + forged);
    } else if (c == "malformed-inside") {
        // A well-formed top level whose correlation tag is not UTF-8: protobuf subscribers could
        // not parse it, so the broker must refuse it rather than forward it.
        bus::Message m;
        m.set_topic("events.test.inside");
        publish_raw(fd, a,
                    m.SerializeAsString() + std::string("\x32\x06\x32\x04\x0A\x02\xC3\x28", 8));
    } else if (c == "duplicate-correlation") {
        bus::Batch b;
        for (int i = 0; i < 2; ++i) {
            auto* r = b.add_items()->mutable_rpc_request();
            r->set_correlation_id("dup-1");
            r->set_target(a.target);
            r->set_timeout_ms(5000);
        }
        after_hello(b, 1);
    } else {
        std::cerr << "unknown raw case " << c << "\n";
        return 2;
    }
    ::close(fd);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args a = parse(argc, argv);
    if (a.as_uid >= 0) {
        if (::setgid(static_cast<gid_t>(a.as_uid)) != 0 ||
            ::setuid(static_cast<uid_t>(a.as_uid)) != 0) {
            say(std::string("SETUID failed: ") + std::strerror(errno));
            return 3;
        }
    }
    if (a.mode == "raw") return run_raw(a);
    asio::io_context io(1);
    int rc = 2;
    asio::awaitable<int> (*fn)(Args) = nullptr;
    if (a.mode == "subscribe")
        fn = run_subscribe;
    else if (a.mode == "publish")
        fn = run_publish;
    else if (a.mode == "call")
        fn = run_call;
    else {
        std::cerr << "usage: bus_test_client --socket PATH --mode subscribe|publish|call|raw ...\n";
        return 2;
    }
    asio::co_spawn(io, fn(a), [&](std::exception_ptr e, int r) {
        rc = e ? 4 : r;
        io.stop();
    });
    io.run();
    return rc;
}
