// Tests host/agent/src/ipc_server.cpp over real Unix sockets: permissions, request ids,
// streaming, malformed input (answered or disconnected, counted, others unaffected), limits.
#include "ipc_server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "daemoneye/wire/frame_codec.hpp"

using namespace daemoneye::agent;
namespace ipcv1 = daemoneye::ipc::v1;
namespace asio = boost::asio;

namespace {

class Client {
  public:
    explicit Client(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        timeval tv{20, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~Client() { ::close(fd_); }
    bool connected() const { return connected_; }
    void send_raw(const std::vector<std::uint8_t>& bytes) {
        ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }
    void send(const ipcv1::Request& r) {
        std::vector<std::uint8_t> f;
        ASSERT_TRUE(daemoneye::wire::append_message_frame(f, r, daemoneye::wire::Crc32Variant::Ieee,
                                                          1 << 20)
                        .ok());
        send_raw(f);
    }
    // Next response, or nullopt when the server closed the connection (or 20 s passed).
    std::optional<ipcv1::Response> receive() {
        for (;;) {
            auto n = decoder_.next();
            if (!n) return std::nullopt;
            if (*n) {
                ipcv1::Response r;
                r.ParseFromArray((*n)->data(), static_cast<int>((*n)->size()));
                return r;
            }
            auto buf = decoder_.prepare(65536);
            ssize_t got = ::recv(fd_, buf.data(), buf.size(), 0);
            if (got <= 0) return std::nullopt;
            decoder_.commit(static_cast<std::size_t>(got));
        }
    }

  private:
    int fd_ = -1;
    bool connected_ = false;
    daemoneye::wire::FrameDecoder decoder_{1 << 20, daemoneye::wire::Crc32Variant::Ieee};
};

class IpcServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/de-ipc-test-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        config_.endpoint_path = dir_ + "/sub/agent.sock";
        config_.max_connections = 2;
        config_.read_timeout_ms = 2000;
    }
    void TearDown() override {
        if (thread_.joinable()) {
            asio::post(io_, [this] { server_->stop(); });
            work_.reset();
            thread_.join();
        }
        std::filesystem::remove_all(dir_);
    }
    void start() {
        server_ = std::make_unique<IpcServer>(
            io_, config_, ::geteuid(),
            [](ipcv1::Request req, Responder r) -> asio::awaitable<void> {
                if (req.has_ping()) {
                    ipcv1::Response resp;
                    *resp.mutable_pong() = req.ping();
                    r.finish(std::move(resp));
                } else if (req.has_collectors_list()) {
                    for (int i = 0; i < 3; ++i) {
                        ipcv1::Response item;
                        item.mutable_collector()->set_instance("c-" + std::to_string(i));
                        r.send(std::move(item));
                    }
                    r.finish({});
                } else {
                    r.fail(ipcv1::RESULT_CODE_UNAVAILABLE, "not in this test");
                }
                co_return;
            });
        ASSERT_TRUE(server_->start().ok());
        work_.emplace(io_.get_executor());
        thread_ = std::thread([this] { io_.run(); });
    }
    IpcServerStats stats() {
        std::promise<IpcServerStats> p;
        asio::post(io_, [&] { p.set_value(server_->stats()); });
        return p.get_future().get();
    }

    std::string dir_;
    daemoneye::wire::IpcConfig config_;
    asio::io_context io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::unique_ptr<IpcServer> server_;
    std::thread thread_;
};

ipcv1::Request ping(std::uint64_t id, std::string echo) {
    ipcv1::Request r;
    r.set_request_id(id);
    r.mutable_ping()->set_echo(std::move(echo));
    return r;
}

}  // namespace

TEST_F(IpcServerTest, SocketIsPrivate) {
    start();
    struct stat st {};
    ASSERT_EQ(::stat(config_.endpoint_path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat((dir_ + "/sub").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(IpcServerTest, RequestIdsAndEcho) {
    start();
    Client c(config_.endpoint_path);
    ASSERT_TRUE(c.connected());
    c.send(ping(7, "hello"));
    c.send(ping(8, std::string(100000, 'x')));
    auto a = c.receive();
    auto b = c.receive();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->request_id(), 7u);
    EXPECT_TRUE(a->final());
    EXPECT_EQ(a->pong().echo(), "hello");
    EXPECT_EQ(b->request_id(), 8u);
    EXPECT_EQ(b->pong().echo().size(), 100000u);
}

TEST_F(IpcServerTest, StreamingEndsWithFinal) {
    start();
    Client c(config_.endpoint_path);
    ipcv1::Request r;
    r.set_request_id(3);
    r.mutable_collectors_list();
    c.send(r);
    for (int i = 0; i < 3; ++i) {
        auto item = c.receive();
        ASSERT_TRUE(item);
        EXPECT_FALSE(item->final());
        EXPECT_EQ(item->request_id(), 3u);
        EXPECT_EQ(item->collector().instance(), "c-" + std::to_string(i));
    }
    auto fin = c.receive();
    ASSERT_TRUE(fin);
    EXPECT_TRUE(fin->final());
}

TEST_F(IpcServerTest, UndecodableRequestIsAnsweredAndTheConnectionKept) {
    start();
    Client c(config_.endpoint_path);
    std::vector<std::uint8_t> frame;
    const std::vector<std::uint8_t> garbage = {0xff, 0xff, 0xff, 0xff, 0x0f};
    ASSERT_TRUE(
        daemoneye::wire::append_frame(frame, garbage, daemoneye::wire::Crc32Variant::Ieee, 1 << 20)
            .ok());
    c.send_raw(frame);
    auto err = c.receive();
    ASSERT_TRUE(err);
    EXPECT_EQ(err->code(), ipcv1::RESULT_CODE_INVALID_REQUEST);
    EXPECT_TRUE(err->final());
    c.send(ping(9, "still here"));
    auto ok = c.receive();
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->pong().echo(), "still here");

    ipcv1::Request empty;  // no kind
    empty.set_request_id(10);
    c.send(empty);
    auto e2 = c.receive();
    ASSERT_TRUE(e2);
    EXPECT_EQ(e2->request_id(), 10u);
    EXPECT_EQ(e2->code(), ipcv1::RESULT_CODE_INVALID_REQUEST);
    EXPECT_EQ(stats().malformed, 2u);
}

TEST_F(IpcServerTest, BadCrcDisconnectsOnlyThatClient) {
    start();
    Client good(config_.endpoint_path);
    Client bad(config_.endpoint_path);
    std::vector<std::uint8_t> frame;
    ipcv1::Request r = ping(1, "corrupt me");
    ASSERT_TRUE(daemoneye::wire::append_message_frame(frame, r, daemoneye::wire::Crc32Variant::Ieee,
                                                      1 << 20)
                    .ok());
    frame.back() ^= 0x55;
    bad.send_raw(frame);
    EXPECT_FALSE(bad.receive().has_value());  // disconnected
    good.send(ping(2, "fine"));
    auto g = good.receive();
    ASSERT_TRUE(g);
    EXPECT_EQ(g->pong().echo(), "fine");
    EXPECT_GE(stats().malformed, 1u);
}

TEST_F(IpcServerTest, OversizedFrameIsRefusedBeforeItIsRead) {
    config_.max_frame_bytes = 4096;
    start();
    Client c(config_.endpoint_path);
    std::vector<std::uint8_t> header(8, 0);
    const std::uint32_t len = 1u << 30;  // announced 1 GiB; nothing follows
    std::memcpy(header.data(), &len, 4);
    c.send_raw(header);
    EXPECT_FALSE(c.receive().has_value());
    EXPECT_EQ(stats().malformed, 1u);
}

TEST_F(IpcServerTest, ConnectionLimitRefusesWithAReason) {
    start();  // max_connections = 2
    Client a(config_.endpoint_path), b(config_.endpoint_path);
    a.send(ping(1, "a"));
    b.send(ping(1, "b"));
    ASSERT_TRUE(a.receive());
    ASSERT_TRUE(b.receive());
    Client c(config_.endpoint_path);
    auto refused = c.receive();
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->code(), ipcv1::RESULT_CODE_UNAVAILABLE);
    EXPECT_NE(refused->error().find("max_connections"), std::string::npos);
    EXPECT_EQ(stats().refused_limit, 1u);
}

TEST_F(IpcServerTest, StalledHalfFrameTimesOut) {
    config_.read_timeout_ms = 300;
    start();
    Client c(config_.endpoint_path);
    std::vector<std::uint8_t> frame;
    ASSERT_TRUE(daemoneye::wire::append_message_frame(frame, ping(1, "partial"),
                                                      daemoneye::wire::Crc32Variant::Ieee, 1 << 20)
                    .ok());
    frame.resize(frame.size() / 2);
    c.send_raw(frame);
    EXPECT_FALSE(c.receive().has_value());  // dropped after read_timeout_ms
}

TEST_F(IpcServerTest, LiveSocketOfAnotherServerIsNotStolenAndStopRemovesIt) {
    start();
    asio::io_context io2;
    IpcServer second(io2, config_, ::geteuid(),
                     [](ipcv1::Request, Responder) -> asio::awaitable<void> { co_return; });
    auto s = second.start();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("already running"), std::string::npos) << s.error().message;
    std::promise<void> done;
    asio::post(io_, [&] {
        server_->stop();
        done.set_value();
    });
    done.get_future().get();
    EXPECT_FALSE(std::filesystem::exists(config_.endpoint_path));
}
