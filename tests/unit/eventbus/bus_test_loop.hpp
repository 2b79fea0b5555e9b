// A broker and its clients on one io_context driven by the test thread: in-process clients
// (connect_local), socket clients in this same process (BusClient::connect to the broker's
// listener in a temporary directory) and raw sockets speaking hand-made frames.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/eventbus/broker.hpp"
#include "daemoneye/eventbus/bus_client.hpp"
#include "daemoneye/eventbus/protocol.hpp"
#include "daemoneye/wire/frame_codec.hpp"
#include "loop_driver.hpp"

namespace daemoneye::eventbus::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class BusTestLoop : public ::testing::Test {
  protected:
    void TearDown() override {
        if (broker_) {  // tests' observers capture their locals
            broker_->on_session_open(nullptr);
            broker_->on_session_closed(nullptr);
        }
        for (auto& c : clients_) {  // so do clients' (closing reports a state change)
            c->on_state_change(nullptr);
            c->on_broker_error(nullptr);
        }
        clients_.clear();
        for (int fd : raw_) ::close(fd);
        raw_.clear();
        if (broker_) broker_->stop();
        spin(20ms);
        broker_.reset();
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }

    // A broker with these options, listening on a socket in a fresh temporary directory.
    void start(BrokerOptions options = {}) {
        char tmpl[] = "/tmp/debus-unit-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        options.socket_path = dir_ + "/bus.sock";
        broker_ = Broker::create(io_.get_executor(), options).value();
        auto ok = broker_->listen();
        ASSERT_TRUE(ok) << ok.error().message;
    }

    BusClient& local(const std::string& name, ClientOptions o = {}) {
        o.client_name = name;
        clients_.push_back(BusClient::connect_local(*broker_, o).value());
        return *clients_.back();
    }

    BusClient& remote(const std::string& name, ClientOptions o = {}) {
        o.client_name = name;
        o.socket_path = broker_->socket_path();
        auto op = BusClient::connect(io_.get_executor(), o);
        auto c = run(std::move(op));
        if (!c) throw std::runtime_error("connect failed: " + c.error().message);
        clients_.push_back(std::move(*c));
        return *clients_.back();
    }

    // Runs `a` on the loop to completion (the loop serves everything else meanwhile).
    template <class T>
    T run(asio::awaitable<T> a, std::chrono::milliseconds limit = 5s) {
        return run_to_end(io_, std::move(a), limit);
    }

    void spin(std::chrono::milliseconds d = 20ms) { test::spin(io_, d); }

    template <class Pred>
    bool spin_until(Pred pred, std::chrono::milliseconds limit = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!pred()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            spin(5ms);
        }
        return true;
    }

    // --- raw sockets: hand-made frames --------------------------------------------------------

    int raw_connect() {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const auto& path = broker_->socket_path();
        std::memcpy(addr.sun_path, path.data(), path.size());
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error(std::string("raw connect: ") + std::strerror(errno));
        }
        raw_.push_back(fd);
        return fd;
    }

    static void raw_send(int fd, const bus::v1::Batch& batch) {
        std::vector<std::uint8_t> f;
        ASSERT_TRUE(wire::append_message_frame(f, batch, wire::Crc32Variant::Ieee, 1 << 20));
        ASSERT_EQ(::send(fd, f.data(), f.size(), MSG_NOSIGNAL), static_cast<ssize_t>(f.size()));
    }

    static bus::v1::Batch hello_batch(const std::string& name) {
        bus::v1::Batch b;
        auto* h = b.add_items()->mutable_hello();
        h->set_protocol_version(kProtocolVersion);
        h->set_role(bus::v1::ROLE_CLIENT);
        h->set_client_name(name);
        return b;
    }

    struct RawReply {
        std::vector<bus::v1::Envelope> items;
        bool closed = false;  // the broker closed the connection
    };

    // Spins the loop and collects what arrives on `fd` until `enough` says so, the peer closes,
    // or the limit passes.
    template <class Enough>
    RawReply raw_read(int fd, Enough enough, std::chrono::milliseconds limit = 3s) {
        RawReply r;
        wire::FrameDecoder dec(1 << 20, wire::Crc32Variant::Ieee);
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!enough(r) && !r.closed && std::chrono::steady_clock::now() < deadline) {
            spin(5ms);
            for (;;) {
                auto space = dec.prepare(64 * 1024);
                const auto n = ::recv(fd, space.data(), space.size(), MSG_DONTWAIT);
                if (n == 0) r.closed = true;
                if (n <= 0) break;
                dec.commit(static_cast<std::size_t>(n));
            }
            for (;;) {
                auto f = dec.next();
                if (!f || !*f) break;
                bus::v1::Batch b;
                if (!b.ParseFromArray((*f)->data(), static_cast<int>((*f)->size()))) continue;
                for (auto& item : *b.mutable_items()) r.items.push_back(std::move(item));
            }
        }
        return r;
    }

    asio::io_context io_{1};
    std::string dir_;
    std::unique_ptr<Broker> broker_;
    std::vector<std::unique_ptr<BusClient>> clients_;
    std::vector<int> raw_;
};

inline std::span<const std::uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace daemoneye::eventbus::test
