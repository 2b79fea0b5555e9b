// Tests proto/src/framed_stream.cpp through real socketpairs and the coroutine API: round trips,
// delivery patterns, every IpcError the stream produces, deadlines and cancellation.
#include "daemoneye/wire/framed_stream.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "daemoneye/bus/v1/bus.pb.h"

namespace daemoneye::wire {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Bytes = std::vector<std::uint8_t>;
using Socket = FramedStream::Socket;
using FrameResult = Result<Bytes, IpcError>;
using VoidResult = Result<void, IpcError>;

constexpr std::size_t kMax = 1024 * 1024;
// Hang guard only: a test that needs it has failed. Never a timing assertion.
constexpr auto kGuard = 60s;

Bytes random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng());
    return v;
}

Bytes frame_of(const Bytes& payload, Crc32Variant v = Crc32Variant::Ieee) {
    Bytes out;
    EXPECT_TRUE(append_frame(out, payload, v, kMax));
    return out;
}

StreamOptions options(std::chrono::milliseconds read_timeout = 30s,
                      Crc32Variant v = Crc32Variant::Ieee) {
    StreamOptions o;
    o.max_frame_bytes = kMax;
    o.read_timeout = read_timeout;
    o.crc32_variant = v;
    return o;
}

// A coroutine started on the io_context whose result the test collects later.
template <class T>
struct Task {
    std::shared_ptr<std::optional<T>> result = std::make_shared<std::optional<T>>();
    bool done() const { return result->has_value(); }
    T take() { return std::move(**result); }
};

// (Through a void coroutine: co_spawn's own completion needs a default-constructible T.)
// A coroutine lambda must outlive its coroutine: tests keep it in a named variable.
template <class T>
Task<T> spawn(asio::io_context& io, asio::awaitable<T> body) {
    Task<T> t;
    auto store = [](asio::awaitable<T> b,
                    std::shared_ptr<std::optional<T>> r) -> asio::awaitable<void> {
        r->emplace(co_await std::move(b));
    };
    asio::co_spawn(io, store(std::move(body), t.result), [](std::exception_ptr ex) {
        if (ex) std::rethrow_exception(ex);
    });
    return t;
}

// Runs the loop until `done()` (a stream's idle deadline timer may keep it busy longer).
template <class Pred>
void run_until(asio::io_context& io, Pred done) {
    const auto guard = std::chrono::steady_clock::now() + kGuard;
    io.restart();
    while (!done() && !io.stopped() && std::chrono::steady_clock::now() < guard) {
        io.run_one_until(guard);
    }
    ASSERT_TRUE(done()) << "hung: no result within " << kGuard.count() << " s";
}

template <class T>
T run(asio::io_context& io, asio::awaitable<T> body) {
    auto t = spawn(io, std::move(body));
    run_until(io, [&] { return t.done(); });
    if (!t.done()) throw std::runtime_error("hung");
    return t.take();
}

asio::awaitable<FrameResult> read_copy(FramedStream& s) {
    auto r = co_await s.read_frame();
    if (!r) co_return unexpected(r.error());
    co_return Bytes(r->begin(), r->end());
}

asio::awaitable<std::vector<Bytes>> read_n(FramedStream& s, std::size_t n) {
    std::vector<Bytes> out;
    while (out.size() < n) {
        auto r = co_await s.read_frame();
        if (!r) {
            ADD_FAILURE() << "frame " << out.size() << ": " << r.error().message();
            break;
        }
        out.emplace_back(r->begin(), r->end());
    }
    co_return out;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

struct Pair {
    explicit Pair(asio::io_context& io) : a(io), b(io) { asio::local::connect_pair(a, b); }
    Socket a;
    Socket b;
};

class FramedStreamTest : public ::testing::Test {
  protected:
    asio::io_context io;
};

TEST_F(FramedStreamTest, RoundTripsFromOneByteToMaxFrameBytes) {
    for (auto variant : {Crc32Variant::Ieee, Crc32Variant::Castagnoli}) {
        Pair p(io);
        FramedStream writer(std::move(p.a), options(30s, variant));
        FramedStream reader(std::move(p.b), options(30s, variant));
        std::vector<Bytes> payloads;
        for (std::size_t n :
             {std::size_t{1}, std::size_t{2}, std::size_t{100}, std::size_t{4096},
              std::size_t{65536}, std::size_t{65537}, std::size_t{300000}, kMax - 1, kMax}) {
            payloads.push_back(random_bytes(n, static_cast<std::uint32_t>(n)));
        }
        auto w_body = [&]() -> asio::awaitable<VoidResult> {
            for (const auto& pl : payloads) {
                auto r = co_await writer.write_frame(std::span<const std::uint8_t>(pl));
                if (!r) co_return r;
            }
            co_return VoidResult{};
        };
        auto w = spawn(io, w_body());
        auto got = run(io, read_n(reader, payloads.size()));
        run_until(io, [&] { return w.done(); });
        ASSERT_TRUE(w.take());
        ASSERT_EQ(got.size(), payloads.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i], payloads[i]) << to_string(variant) << " frame " << i;
        }
    }
}

TEST_F(FramedStreamTest, ScatterGatherAndMessages) {
    Pair p(io);
    FramedStream a(std::move(p.a), options());
    FramedStream b(std::move(p.b), options());
    const Bytes x = {1, 2, 3}, y = {4}, z = random_bytes(5000, 1);
    const std::array<asio::const_buffer, 3> parts = {asio::buffer(x), asio::buffer(y),
                                                     asio::buffer(z)};
    bus::v1::Envelope hello;
    hello.mutable_hello()->set_instance_id("fsmond-1");
    hello.mutable_hello()->set_protocol_version(1);
    auto w_body = [&]() -> asio::awaitable<VoidResult> {
        auto r = co_await a.write_frame(std::span<const asio::const_buffer>(parts));
        if (!r) co_return r;
        co_return co_await a.write_message(hello);
    };
    auto w = spawn(io, w_body());
    auto first = run(io, read_copy(b));
    ASSERT_TRUE(first) << first.error().message();
    Bytes expect = x;
    expect.insert(expect.end(), y.begin(), y.end());
    expect.insert(expect.end(), z.begin(), z.end());
    EXPECT_EQ(*first, expect);
    bus::v1::Envelope back;
    auto second = run(io, b.read_message(back));
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_EQ(back.hello().instance_id(), "fsmond-1");
    EXPECT_EQ(back.hello().protocol_version(), 1u);
    run_until(io, [&] { return w.done(); });
    EXPECT_TRUE(w.take());
}

TEST_F(FramedStreamTest, NonBlockingWritesAndTheirRest) {
    Pair p(io);
    FramedStream a(std::move(p.a), options());
    FramedStream b(std::move(p.b), options());
    // Small: the socket takes it whole, nothing asynchronous involved.
    const Bytes x = {1, 2, 3}, y = random_bytes(300, 2);
    const std::array<asio::const_buffer, 2> small = {asio::buffer(x), asio::buffer(y)};
    auto sent = a.try_write_frame(std::span<const asio::const_buffer>(small));
    ASSERT_TRUE(sent) << sent.error().message();
    EXPECT_EQ(*sent, kFrameHeaderSize + x.size() + y.size());
    const Bytes raw = frame_of(random_bytes(50, 3));
    auto sent_raw = a.try_write_raw(raw);
    ASSERT_TRUE(sent_raw);
    EXPECT_EQ(*sent_raw, raw.size());
    // Larger than the socket buffer: part now, the rest by write_frame_rest while b reads.
    const Bytes big1 = random_bytes(kMax / 2, 4), big2 = random_bytes(kMax / 2 - 100, 5);
    const std::array<asio::const_buffer, 2> big = {asio::buffer(big1), asio::buffer(big2)};
    auto part = a.try_write_frame(std::span<const asio::const_buffer>(big));
    ASSERT_TRUE(part) << part.error().message();
    const std::size_t whole = kFrameHeaderSize + big1.size() + big2.size();
    ASSERT_LT(*part, whole);  // a unix socket buffer is far below 1 MiB
    auto w = spawn(io, a.write_frame_rest(std::span<const asio::const_buffer>(big), *part));
    auto got = run(io, read_n(b, 3));
    run_until(io, [&] { return w.done(); });
    ASSERT_TRUE(w.take());
    ASSERT_EQ(got.size(), 3u);
    Bytes first = x;
    first.insert(first.end(), y.begin(), y.end());
    EXPECT_EQ(got[0], first);
    EXPECT_EQ(got[1], random_bytes(50, 3));
    Bytes third = big1;
    third.insert(third.end(), big2.begin(), big2.end());
    EXPECT_EQ(got[2], third);
    // A frame over the limit is refused before anything is sent; a closed peer is PeerClosed.
    const Bytes huge(kMax + 1, 0);
    const asio::const_buffer h = asio::buffer(huge);
    auto too_large = a.try_write_frame(std::span<const asio::const_buffer>(&h, 1));
    ASSERT_FALSE(too_large);
    EXPECT_EQ(too_large.error().kind, IpcError::Kind::TooLarge);
    b.close();
    auto gone = a.try_write_raw(raw);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().kind, IpcError::Kind::PeerClosed);
}

// A frame built in one buffer with room for its header: one send(); a big one finishes with
// write_raw() of what the socket did not take.
TEST_F(FramedStreamTest, WholeFrameWritesAndTheirRest) {
    Pair p(io);
    FramedStream a(std::move(p.a), options());
    FramedStream b(std::move(p.b), options());
    auto in_place = [](const Bytes& payload) {
        Bytes f(kFrameHeaderSize, 0);
        f.insert(f.end(), payload.begin(), payload.end());
        return f;
    };
    Bytes small = in_place(random_bytes(200, 1));
    auto sent = a.try_write_whole_frame(small);
    ASSERT_TRUE(sent) << sent.error().message();
    EXPECT_EQ(*sent, small.size());
    Bytes big = in_place(random_bytes(kMax - 10, 2));
    auto part = a.try_write_whole_frame(big);
    ASSERT_TRUE(part) << part.error().message();
    ASSERT_LT(*part, big.size());  // a unix socket buffer is far below 1 MiB
    auto w = spawn(io, a.write_raw(std::span<const std::uint8_t>(big).subspan(*part)));
    auto got = run(io, read_n(b, 2));
    run_until(io, [&] { return w.done(); });
    ASSERT_TRUE(w.take());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], random_bytes(200, 1));
    EXPECT_EQ(got[1], random_bytes(kMax - 10, 2));
    Bytes huge = in_place(Bytes(kMax + 1, 0));
    auto too_large = a.try_write_whole_frame(huge);
    ASSERT_FALSE(too_large);
    EXPECT_EQ(too_large.error().kind, IpcError::Kind::TooLarge);
}

TEST_F(FramedStreamTest, ByteByByteDelivery) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options());
    const std::vector<Bytes> payloads = {random_bytes(1, 1), random_bytes(40, 2),
                                         random_bytes(9, 3)};
    Bytes stream;
    for (const auto& pl : payloads) {
        auto f = frame_of(pl);
        stream.insert(stream.end(), f.begin(), f.end());
    }
    auto w_body = [&]() -> asio::awaitable<bool> {
        for (auto byte : stream) {
            co_await asio::async_write(p.a, asio::buffer(&byte, 1), asio::use_awaitable);
            co_await sleep_for(1ms);  // let the reader see this byte on its own
        }
        co_return true;
    };
    auto w = spawn(io, w_body());
    auto got = run(io, read_n(reader, payloads.size()));
    EXPECT_EQ(got, payloads);
    run_until(io, [&] { return w.done(); });
}

TEST_F(FramedStreamTest, ManyFramesInOneWrite) {
    Pair p(io);
    FramedStream a(std::move(p.a), options());
    FramedStream b(std::move(p.b), options());
    std::vector<Bytes> payloads;
    Bytes frames;
    for (int i = 0; i < 1000; ++i) {
        payloads.push_back(random_bytes(1 + i % 100, i));
        ASSERT_TRUE(append_frame(frames, payloads.back(), Crc32Variant::Ieee, kMax));
    }
    auto w = spawn(io, a.write_raw(frames));
    auto got = run(io, read_n(b, payloads.size()));
    EXPECT_EQ(got, payloads);
    run_until(io, [&] { return w.done(); });
    EXPECT_TRUE(w.take());
}

TEST_F(FramedStreamTest, HalfAFrameThenStallIsTimeout) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options(300ms));
    const Bytes f = frame_of(random_bytes(100, 1));
    asio::write(p.a, asio::buffer(f.data(), 10));  // header + 2 of 100 payload bytes, then nothing
    auto r = run(io, read_copy(reader));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::Timeout);
    EXPECT_EQ(r.error().size, 10u);
    EXPECT_EQ(r.error().max_size, 108u);
    EXPECT_THAT(
        r.error().message(),
        HasSubstr("read deadline of 300 ms passed with 10 of 108 bytes of a frame received"));
}

TEST_F(FramedStreamTest, PartialHeaderThenStallIsTimeout) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options(200ms));
    const Bytes f = frame_of(random_bytes(100, 1));
    asio::write(p.a, asio::buffer(f.data(), 5));
    auto r = run(io, read_copy(reader));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::Timeout);
    EXPECT_EQ(r.error().size, 5u);
    EXPECT_EQ(r.error().max_size, 0u);
    EXPECT_THAT(r.error().message(), HasSubstr("5 of 8 bytes of a frame header received"));
}

TEST_F(FramedStreamTest, IdleTimeoutBoundsTheWaitForAFirstByte) {
    Pair p(io);
    auto o = options();
    o.idle_timeout = 200ms;
    FramedStream reader(std::move(p.b), o);
    auto r = run(io, read_copy(reader));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::Timeout);
    EXPECT_EQ(r.error().size, 0u);
    EXPECT_THAT(r.error().message(),
                HasSubstr("no frame started within the idle timeout of 200 ms"));
}

TEST_F(FramedStreamTest, ReadTimeoutStartsAtTheFramesFirstByte) {
    // A quiet peer is not a stalled one: with no idle timeout, waiting longer than the read
    // timeout for a frame to start is fine.
    Pair p(io);
    FramedStream reader(std::move(p.b), options(100ms));
    const Bytes payload = random_bytes(64, 4);
    auto w_body = [&]() -> asio::awaitable<bool> {
        co_await sleep_for(400ms);
        const Bytes f = frame_of(payload);
        co_await asio::async_write(p.a, asio::buffer(f), asio::use_awaitable);
        co_return true;
    };
    auto w = spawn(io, w_body());
    auto r = run(io, read_copy(reader));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(*r, payload);
}

TEST_F(FramedStreamTest, PeerClosedMidFrame) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options());
    const Bytes f = frame_of(random_bytes(100, 1));
    asio::write(p.a, asio::buffer(f.data(), 20));
    p.a.close();
    auto r = run(io, read_copy(reader));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::PeerClosed);
    EXPECT_EQ(r.error().size, 20u);
    EXPECT_EQ(r.error().max_size, 108u);
    EXPECT_THAT(r.error().message(), HasSubstr("mid-frame, after 20 of 108 bytes of a frame"));
}

TEST_F(FramedStreamTest, PeerClosedBetweenFramesIsACleanClose) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options());
    const Bytes payload = random_bytes(30, 1);
    asio::write(p.a, asio::buffer(frame_of(payload)));
    p.a.close();
    auto first = run(io, read_copy(reader));
    ASSERT_TRUE(first);
    EXPECT_EQ(*first, payload);
    auto second = run(io, read_copy(reader));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().kind, IpcError::Kind::PeerClosed);
    EXPECT_EQ(second.error().size, 0u);
    EXPECT_EQ(second.error().message(), "peer closed the connection");
}

// No read timeout at all: if the reader waited for the announced payload, the hang guard fails.
TEST_F(FramedStreamTest, BadLengthsAreRejectedWithoutWaitingForThePayload) {
    struct Case {
        std::uint32_t length;
        IpcError::Kind kind;
    };
    for (const Case c :
         {Case{kMax + 1, IpcError::Kind::TooLarge}, Case{0xFFFFFFFFu, IpcError::Kind::TooLarge},
          Case{0, IpcError::Kind::InvalidLength}}) {
        Pair p(io);
        FramedStream reader(std::move(p.b), options(0ms));
        std::uint8_t header[kFrameHeaderSize];
        write_header(header, {c.length, 0x12345678u});
        asio::write(p.a, asio::buffer(header));
        auto r = run(io, read_copy(reader));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().kind, c.kind) << c.length;
        EXPECT_EQ(r.error().size, c.length);
        if (c.kind == IpcError::Kind::TooLarge) {
            EXPECT_EQ(r.error().max_size, kMax);
            EXPECT_THAT(r.error().message(),
                        HasSubstr("exceeds max_frame_bytes 1048576 by " +
                                  std::to_string(std::uint64_t{c.length} - kMax)));
        }
    }
}

TEST_F(FramedStreamTest, CrcMismatchCarriesBothValues) {
    for (auto variant : {Crc32Variant::Ieee, Crc32Variant::Castagnoli}) {
        Pair p(io);
        FramedStream reader(std::move(p.b), options(30s, variant));
        const Bytes payload = random_bytes(256, 6);
        Bytes f = frame_of(payload, variant);
        f.back() ^= 0x80;
        asio::write(p.a, asio::buffer(f));
        auto r = run(io, read_copy(reader));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().kind, IpcError::Kind::CrcMismatch);
        EXPECT_EQ(r.error().expected, crc32(variant, payload.data(), payload.size()));
        EXPECT_EQ(r.error().actual, crc32(variant, f.data() + kFrameHeaderSize, payload.size()));
    }
}

TEST_F(FramedStreamTest, WrongMessageIsDecodeAndTheStreamGoesOn) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options());
    const Bytes junk = {0x0A, 0x7F, 0x01};  // field 1, length 127, but only 1 byte follows
    asio::write(p.a, asio::buffer(frame_of(junk)));
    bus::v1::Envelope ok;
    ok.mutable_heartbeat();
    ok.mutable_goodbye()->set_reason("done");
    Bytes good;
    ASSERT_TRUE(append_message_frame(good, ok, Crc32Variant::Ieee, kMax));
    asio::write(p.a, asio::buffer(good));

    bus::v1::Envelope m;
    auto bad = run(io, reader.read_message(m));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, IpcError::Kind::Decode);
    EXPECT_THAT(bad.error().message(),
                HasSubstr("a payload of 3 bytes is not a valid daemoneye.bus.v1.Envelope"));
    auto next = run(io, reader.read_message(m));
    ASSERT_TRUE(next) << next.error().message();
    EXPECT_EQ(m.goodbye().reason(), "done");
}

TEST_F(FramedStreamTest, WriteTimeoutWhenThePeerNeverReads) {
    Pair p(io);
    p.a.set_option(asio::socket_base::send_buffer_size(4096));
    p.b.set_option(asio::socket_base::receive_buffer_size(4096));
    auto o = options();
    o.max_frame_bytes = 8 * kMax;
    o.write_timeout = 200ms;
    FramedStream writer(std::move(p.a), o);
    const Bytes payload(4 * kMax, 0x5A);
    auto r = run(io, writer.write_frame(std::span<const std::uint8_t>(payload)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::Timeout);
    EXPECT_EQ(r.error().max_size, 4 * kMax + kFrameHeaderSize);
    EXPECT_LT(r.error().size, r.error().max_size);
    EXPECT_THAT(r.error().message(),
                HasSubstr("write deadline of 200 ms passed with " + std::to_string(r.error().size) +
                          " of 4194312 bytes written"));
}

TEST_F(FramedStreamTest, WriteToAClosedPeerIsPeerClosed) {
    Pair p(io);
    FramedStream writer(std::move(p.a), options());
    p.b.close();
    const Bytes payload = random_bytes(1000, 1);
    // MSG_NOSIGNAL: no SIGPIPE kills the test process here.
    auto r = run(io, writer.write_frame(std::span<const std::uint8_t>(payload)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::PeerClosed);
    EXPECT_THAT(r.error().message(), HasSubstr("while writing"));
}

TEST_F(FramedStreamTest, BadWritesSendNothing) {
    Pair p(io);
    FramedStream writer(std::move(p.a), options());
    const Bytes big(kMax + 1, 1);
    auto large = run(io, writer.write_frame(std::span<const std::uint8_t>(big)));
    ASSERT_FALSE(large);
    EXPECT_EQ(large.error().kind, IpcError::Kind::TooLarge);
    EXPECT_EQ(large.error().size, kMax + 1);
    auto empty = run(io, writer.write_frame(std::span<const std::uint8_t>()));
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().kind, IpcError::Kind::InvalidLength);
    bus::v1::Envelope nothing;
    auto enc = run(io, writer.write_message(nothing));
    ASSERT_FALSE(enc);
    EXPECT_EQ(enc.error().kind, IpcError::Kind::Encode);
    EXPECT_EQ(p.b.available(), 0u);
}

// A deadline cancels only its own direction: a reader timing out must not abort a write that is
// still in flight (the session's writer coroutine).
TEST_F(FramedStreamTest, ReadTimeoutLeavesAConcurrentWriteAlone) {
    Pair p(io);
    p.a.set_option(asio::socket_base::send_buffer_size(4096));
    auto o = options();
    o.max_frame_bytes = 4 * kMax;
    o.idle_timeout = 200ms;
    o.write_timeout = 0ms;
    FramedStream a(std::move(p.a), o);
    const Bytes payload(2 * kMax, 0x11);
    auto w = spawn(io, a.write_frame(std::span<const std::uint8_t>(payload)));
    auto r = run(io, read_copy(a));  // nothing comes from b: idle timeout
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::Timeout);
    EXPECT_FALSE(w.done()) << "the write ended with the read: "
                           << (w.take() ? std::string("ok") : w.take().error().message());
    Bytes sink(payload.size() + kFrameHeaderSize);
    auto drained_body = [&]() -> asio::awaitable<bool> {
        co_await asio::async_read(p.b, asio::buffer(sink), asio::use_awaitable);
        co_return true;
    };
    auto drained = spawn(io, drained_body());
    run_until(io, [&] { return w.done() && drained.done(); });
    auto wr = w.take();
    EXPECT_TRUE(wr) << wr.error().message();
    EXPECT_EQ(Bytes(sink.begin() + kFrameHeaderSize, sink.end()), payload);
}

TEST_F(FramedStreamTest, CallerCancellationEndsAReadAndTheStreamStillWorks) {
    using namespace asio::experimental::awaitable_operators;
    Pair p(io);
    FramedStream reader(std::move(p.b), options());
    auto raced_body = [&]() -> asio::awaitable<std::size_t> {
        auto v = co_await (reader.read_frame() || sleep_for(100ms));
        co_return v.index();
    };
    auto raced = run(io, raced_body());
    EXPECT_EQ(raced, 1u) << "the timer should win; nothing was sent";
    const Bytes payload = random_bytes(77, 8);
    asio::write(p.a, asio::buffer(frame_of(payload)));
    auto r = run(io, read_copy(reader));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(*r, payload);
}

TEST_F(FramedStreamTest, CloseEndsAPendingReadAsCancelled) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options());
    auto r = spawn(io, read_copy(reader));
    auto closer_body = [&]() -> asio::awaitable<bool> {
        co_await sleep_for(50ms);
        reader.close();
        co_return true;
    };
    auto closer = spawn(io, closer_body());
    run_until(io, [&] { return r.done(); });
    auto res = r.take();
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().kind, IpcError::Kind::Io);
    EXPECT_EQ(res.error().io, std::errc::operation_canceled) << res.error().message();
    EXPECT_FALSE(reader.is_open());
}

// --- read_frames: the callback loop the bus's readers use -----------------------------------

// What a read_frames() run saw, in order: "f<size>" per frame, "D" per on_drained.
struct FramesLog {
    std::vector<std::string> events;
    std::vector<Bytes> frames;
};

asio::awaitable<VoidResult> read_frames_into(FramedStream& s, FramesLog& log, std::size_t stop_at,
                                             std::function<void()> on_drained = {}) {
    FramedStream::FrameSink sink;
    sink.on_frame = [&log, stop_at](std::span<const std::uint8_t> f) {
        log.events.push_back("f" + std::to_string(f.size()));
        log.frames.emplace_back(f.begin(), f.end());
        return log.frames.size() < stop_at;
    };
    sink.on_drained = [&log, on_drained] {
        log.events.push_back("D");
        if (on_drained) on_drained();
    };
    co_return co_await s.read_frames(std::move(sink));
}

TEST_F(FramedStreamTest, ReadFramesHandsOutEachFrameAndSaysWhenNoneIsLeft) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options());
    Bytes first;
    for (std::size_t n : {3, 4, 5}) {
        const Bytes f = frame_of(random_bytes(n, 1));
        first.insert(first.end(), f.begin(), f.end());
    }
    asio::write(p.a, asio::buffer(first));  // three frames, one read
    FramesLog log;
    bool second_sent = false;
    auto r = run(io, read_frames_into(reader, log, 5, [&] {
                     if (second_sent) return;
                     second_sent = true;
                     Bytes more = frame_of(random_bytes(6, 2));
                     const Bytes last = frame_of(random_bytes(7, 3));
                     more.insert(more.end(), last.begin(), last.end());
                     asio::write(p.a, asio::buffer(more));
                 }));
    ASSERT_TRUE(r) << r.error().message();  // on_frame said stop at the fifth
    EXPECT_EQ(log.events, (std::vector<std::string>{"f3", "f4", "f5", "D", "f6", "f7"}));
    EXPECT_EQ(log.frames[4], random_bytes(7, 3));
}

TEST_F(FramedStreamTest, ReadFramesLeavesWhatFollowsAStopForTheNextRead) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options());
    Bytes all;
    for (std::uint32_t i = 0; i < 3; ++i) {
        const Bytes f = frame_of(random_bytes(10 + i, i));
        all.insert(all.end(), f.begin(), f.end());
    }
    asio::write(p.a, asio::buffer(all));
    FramesLog log;
    ASSERT_TRUE(run(io, read_frames_into(reader, log, 1)));
    EXPECT_EQ(log.events, (std::vector<std::string>{"f10"}));
    auto second = run(io, read_copy(reader));
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_EQ(*second, random_bytes(11, 1));
    FramesLog rest;
    p.a.close();
    auto r = run(io, read_frames_into(reader, rest, 100));
    EXPECT_EQ(rest.events, (std::vector<std::string>{"f12", "D"}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::PeerClosed);
    EXPECT_EQ(r.error().message(), "peer closed the connection");  // between frames: clean
}

TEST_F(FramedStreamTest, ReadFramesReportsABadFrameAfterTheGoodOnes) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options());
    Bytes all = frame_of(random_bytes(20, 1));
    Bytes bad = frame_of(random_bytes(30, 2));
    bad.back() ^= 0xff;  // the CRC no longer matches
    all.insert(all.end(), bad.begin(), bad.end());
    asio::write(p.a, asio::buffer(all));
    FramesLog log;
    auto r = run(io, read_frames_into(reader, log, 100));
    EXPECT_EQ(log.events, (std::vector<std::string>{"f20"}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::CrcMismatch);
}

TEST_F(FramedStreamTest, ReadFramesKeepsTheWholeFrameDeadline) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options(200ms));
    const Bytes good = frame_of(random_bytes(40, 1));
    const Bytes f = frame_of(random_bytes(100, 2));
    Bytes head = good;
    head.insert(head.end(), f.begin(), f.begin() + 10);  // a whole frame, then 10 of 108 bytes
    asio::write(p.a, asio::buffer(head));
    FramesLog log;
    auto r = run(io, read_frames_into(reader, log, 100));
    EXPECT_EQ(log.events, (std::vector<std::string>{"f40", "D"}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, IpcError::Kind::Timeout);
    EXPECT_THAT(
        r.error().message(),
        HasSubstr("read deadline of 200 ms passed with 10 of 108 bytes of a frame received"));
}

TEST_F(FramedStreamTest, ReadFramesWaitsForAQuietPeerAndCloseEndsIt) {
    Pair p(io);
    FramedStream reader(std::move(p.b), options(100ms));  // no idle timeout: quiet is fine
    FramesLog log;
    auto r = spawn(io, read_frames_into(reader, log, 100));
    auto closer_body = [&]() -> asio::awaitable<bool> {
        co_await sleep_for(300ms);  // longer than the read timeout
        asio::write(p.a, asio::buffer(frame_of(random_bytes(9, 1))));
        co_await sleep_for(50ms);
        reader.close();
        co_return true;
    };
    auto closer = spawn(io, closer_body());
    run_until(io, [&] { return r.done(); });
    auto res = r.take();
    EXPECT_EQ(log.events, (std::vector<std::string>{"f9", "D"}));
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().kind, IpcError::Kind::Io);
    EXPECT_EQ(res.error().io, std::errc::operation_canceled) << res.error().message();
}

TEST_F(FramedStreamTest, OptionsFromIpcConfig) {
    IpcConfig c;
    c.max_frame_bytes = 4096;
    c.read_timeout_ms = 1234;
    c.write_timeout_ms = 567;
    c.crc32_variant = Crc32Variant::Castagnoli;
    const auto o = StreamOptions::from(c);
    EXPECT_EQ(o.max_frame_bytes, 4096u);
    EXPECT_EQ(o.read_timeout, 1234ms);
    EXPECT_EQ(o.write_timeout, 567ms);
    EXPECT_EQ(o.idle_timeout, 0ms);
    EXPECT_EQ(o.crc32_variant, Crc32Variant::Castagnoli);
    const IpcConfig defaults;
    EXPECT_EQ(defaults.max_frame_bytes, 1048576u);
    EXPECT_EQ(defaults.read_timeout_ms, 30000u);
    EXPECT_EQ(defaults.write_timeout_ms, 10000u);
    EXPECT_EQ(defaults.max_connections, 16u);
    EXPECT_EQ(defaults.crc32_variant, Crc32Variant::Ieee);
}

}  // namespace
}  // namespace daemoneye::wire
