// broker.socket_path as the listener treats it (broker_listener.cpp): what is at the path before
// the broker binds (nothing, a stale socket, a live one, a file that is not a socket), the
// sun_path limit, and an accept loop out of file descriptors.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "broker_core.hpp"
#include "broker_listener.hpp"
#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/eventbus/broker.hpp"
#include "daemoneye/eventbus/bus_client.hpp"
#include "daemoneye/eventbus/protocol.hpp"
#include "daemoneye/wire/frame_codec.hpp"
#include "loop_driver.hpp"

namespace daemoneye::eventbus {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
    return addr;
}

// A socket bound to `path`; listening (with that backlog) or not (closed right away: a stale
// socket file).
int bind_raw(const std::string& path, bool listen, int backlog = 8) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const auto addr = address_of(path);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ADD_FAILURE() << "bind " << path << ": " << std::strerror(errno);
        return -1;
    }
    if (listen && ::listen(fd, backlog) != 0) ADD_FAILURE() << "listen: " << std::strerror(errno);
    if (!listen) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool connects(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const auto addr = address_of(path);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class BrokerSocketPath : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/debus-path-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        clients_.clear();
        for (auto& b : brokers_) b->stop();
        spin(20ms);
        brokers_.clear();
        std::filesystem::remove_all(dir_);
    }

    Result<std::unique_ptr<Broker>, BusError> make_broker(const std::string& path) {
        BrokerOptions o;
        o.socket_path = path;
        return Broker::create(io_.get_executor(), o);
    }

    // A socket client in this process, on this loop: Welcome or the error.
    Result<std::unique_ptr<BusClient>, BusError> connect_client(const std::string& path) {
        ClientOptions o;
        o.socket_path = path;
        o.client_name = "path-test";
        o.reconnect.enabled = false;
        o.handshake_timeout = 3s;
        auto op = BusClient::connect(io_.get_executor(), o);
        return run(std::move(op));
    }

    template <class T>
    T run(asio::awaitable<T> a) {
        return test::run_to_end(io_, std::move(a));
    }
    void spin(std::chrono::milliseconds d) { test::spin(io_, d); }

    asio::io_context io_{1};
    std::string dir_;
    std::vector<std::unique_ptr<Broker>> brokers_;
    std::vector<std::unique_ptr<BusClient>> clients_;
};

TEST_F(BrokerSocketPath, AStaleSocketFileIsReplacedAndTheBrokerThenAcceptsConnections) {
    const std::string path = dir_ + "/bus.sock";
    bind_raw(path, false);  // bound, never listened, closed: what a crashed broker leaves
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    ASSERT_TRUE(S_ISSOCK(st.st_mode));
    ASSERT_FALSE(connects(path));  // nobody listens: stale

    auto broker = make_broker(path);
    ASSERT_TRUE(broker) << broker.error().message;
    auto listened = (*broker)->listen();
    ASSERT_TRUE(listened) << listened.error().message;
    EXPECT_EQ((*broker)->socket_path(), path);
    brokers_.push_back(std::move(*broker));

    auto client = connect_client(path);
    ASSERT_TRUE(client) << client.error().message;
    EXPECT_NE((*client)->session_id(), 0u);
    const auto sessions = brokers_.back()->sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0].transport, "socket");
    EXPECT_EQ(sessions[0].name, "path-test");
    clients_.push_back(std::move(*client));
}

TEST_F(BrokerSocketPath, ALiveListenerIsRefusedAndLeftAlone) {
    const std::string path = dir_ + "/bus.sock";
    const int live = bind_raw(path, true);
    ASSERT_GE(live, 0);
    struct stat before {};
    ASSERT_EQ(::lstat(path.c_str(), &before), 0);

    auto broker = make_broker(path);
    ASSERT_TRUE(broker) << broker.error().message;
    auto listened = (*broker)->listen();
    ASSERT_FALSE(listened);
    EXPECT_EQ(listened.error().code, BusError::Code::Io);
    EXPECT_EQ(listened.error().message, "another broker is listening on " + path);
    EXPECT_EQ((*broker)->socket_path(), "");

    // The live socket is the same file and still reachable.
    struct stat after {};
    ASSERT_EQ(::lstat(path.c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_TRUE(connects(path));
    (*broker)->stop();  // must not unlink what it never bound
    ASSERT_EQ(::lstat(path.c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    ::close(live);
}

// A live broker that is not accepting (hung, or busy) with its backlog full: a blocking probe
// connect() would wait for room forever, so listen() must neither hang nor take the socket
// over.
TEST_F(BrokerSocketPath, ALiveListenerWithAFullBacklogIsRefusedWithoutWaiting) {
    const std::string path = dir_ + "/bus.sock";
    const int live = bind_raw(path, true, 0);
    ASSERT_GE(live, 0);
    std::vector<int> queued;  // fill the backlog
    const auto addr = address_of(path);
    for (int i = 0; i < 64; ++i) {
        const int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (::connect(c, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            ASSERT_EQ(errno, EAGAIN) << std::strerror(errno);
            ::close(c);
            break;
        }
        queued.push_back(c);
    }
    ASSERT_LT(queued.size(), 64u) << "the backlog never filled";
    struct stat before {};
    ASSERT_EQ(::lstat(path.c_str(), &before), 0);

    auto broker = make_broker(path);
    ASSERT_TRUE(broker);
    auto result = std::async(std::launch::async, [&] { return (*broker)->listen(); });
    const bool returned = result.wait_for(3s) == std::future_status::ready;
    if (!returned) {
        // Unblock the stuck probe so the thread can end: make room in the backlog.
        ::fcntl(live, F_SETFL, O_NONBLOCK);
        while (result.wait_for(10ms) != std::future_status::ready) {
            for (int a; (a = ::accept(live, nullptr, nullptr)) >= 0;) ::close(a);
        }
    }
    auto r = result.get();
    EXPECT_TRUE(returned) << "listen() blocked on a live listener with a full backlog";
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "another broker is listening on " + path);
    struct stat after {};
    ASSERT_EQ(::lstat(path.c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    (*broker)->stop();
    for (int c : queued) ::close(c);
    ::close(live);
}

TEST_F(BrokerSocketPath, ALiveBrokerIsRefusedAndKeepsServing) {
    const std::string path = dir_ + "/bus.sock";
    auto first = make_broker(path);
    ASSERT_TRUE(first);
    ASSERT_TRUE((*first)->listen());
    brokers_.push_back(std::move(*first));

    auto second = make_broker(path);
    ASSERT_TRUE(second);
    auto r = (*second)->listen();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "another broker is listening on " + path);
    (*second)->stop();

    auto client = connect_client(path);
    ASSERT_TRUE(client) << client.error().message;
    clients_.push_back(std::move(*client));
    EXPECT_EQ(brokers_[0]->sessions().size(), 1u);
}

TEST_F(BrokerSocketPath, PathsOverTheSunPathLimitAreAClearErrorAndTheLimitItselfWorks) {
    constexpr std::size_t kLimit = sizeof(sockaddr_un{}.sun_path) - 1;
    ASSERT_EQ(kLimit, 107u);
    const std::string base = dir_ + "/";
    ASSERT_LT(base.size(), kLimit);
    const std::string at_limit = base + std::string(kLimit - base.size(), 's');
    const std::string over = base + std::string(kLimit + 1 - base.size(), 's');
    ASSERT_EQ(at_limit.size(), 107u);
    ASSERT_EQ(over.size(), 108u);

    auto refused = make_broker(over);
    ASSERT_FALSE(refused);
    const auto& msg = refused.error().message;
    EXPECT_NE(msg.find("is 108 bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at most 107 bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find(over), std::string::npos) << msg;
    EXPECT_FALSE(std::filesystem::exists(over));
    auto direct = BrokerListener::check_path(over);
    ASSERT_FALSE(direct);
    EXPECT_EQ(direct.error().message, msg);

    auto ok = make_broker(at_limit);
    ASSERT_TRUE(ok) << ok.error().message;
    auto listened = (*ok)->listen();
    ASSERT_TRUE(listened) << listened.error().message;
    brokers_.push_back(std::move(*ok));
    auto client = connect_client(at_limit);
    ASSERT_TRUE(client) << client.error().message;
    clients_.push_back(std::move(*client));
}

TEST_F(BrokerSocketPath, SomethingThatIsNotASocketIsNeverRemoved) {
    const std::string file = dir_ + "/bus.sock";
    {
        std::ofstream out(file);
        out << "precious";
    }
    auto broker = make_broker(file);
    ASSERT_TRUE(broker);
    auto r = (*broker)->listen();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "broker.socket_path '" + file +
                                     "' exists and is not a socket; refusing to replace it");
    (*broker)->stop();
    EXPECT_EQ(read_file(file), "precious");

    // A directory, and a symlink to a stale socket (lstat sees the link), likewise.
    const std::string directory = dir_ + "/a-directory";
    ASSERT_TRUE(std::filesystem::create_directory(directory));
    auto b2 = make_broker(directory);
    ASSERT_TRUE(b2);
    auto r2 = (*b2)->listen();
    ASSERT_FALSE(r2);
    EXPECT_NE(r2.error().message.find("is not a socket"), std::string::npos) << r2.error().message;
    EXPECT_TRUE(std::filesystem::is_directory(directory));

    const std::string stale = dir_ + "/stale.sock";
    bind_raw(stale, false);
    const std::string link = dir_ + "/link.sock";
    ASSERT_EQ(::symlink(stale.c_str(), link.c_str()), 0);
    auto b3 = make_broker(link);
    ASSERT_TRUE(b3);
    auto r3 = (*b3)->listen();
    ASSERT_FALSE(r3);
    EXPECT_NE(r3.error().message.find("is not a socket"), std::string::npos) << r3.error().message;
    EXPECT_TRUE(std::filesystem::is_symlink(link));
    EXPECT_TRUE(std::filesystem::is_socket(stale));
}

TEST_F(BrokerSocketPath, MissingParentDirectoriesAreCreatedOwnerOnlyAndTheSocketIs0600) {
    const std::string path = dir_ + "/a/b/bus.sock";
    auto broker = make_broker(path);
    ASSERT_TRUE(broker);
    ASSERT_TRUE((*broker)->listen());
    brokers_.push_back(std::move(*broker));
    for (const auto& d : {dir_ + "/a", dir_ + "/a/b"}) {
        struct stat st {};
        ASSERT_EQ(::stat(d.c_str(), &st), 0) << d;
        EXPECT_EQ(st.st_mode & 0777, 0700u) << d;
    }
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // stop() unlinks the socket it bound.
    brokers_.back()->stop();
    EXPECT_FALSE(std::filesystem::exists(path));
}

// --- accept() out of file descriptors ---------------------------------------------------------

// Counts log lines containing `needle` (spdlog 1.10 has no callback sink).
class CountingSink : public spdlog::sinks::base_sink<std::mutex> {
  public:
    explicit CountingSink(std::string needle) : needle_(std::move(needle)) {}
    std::size_t count() const { return count_; }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        if (std::string_view(msg.payload.data(), msg.payload.size()).find(needle_) !=
            std::string_view::npos) {
            ++count_;
        }
    }
    void flush_() override {}

  private:
    std::string needle_;
    std::size_t count_ = 0;
};

// Runs in a forked child (its own broker, loop and descriptor limit), reports on `out`:
// "failures=<accept failures while out of fds> warnings=<log lines> accepted=<0|1>".
[[noreturn]] void emfile_child(const std::string& path, int out) {
    auto report = [out](const std::string& line) {
        (void)!::write(out, line.data(), line.size());
        ::_exit(0);
    };
    auto sink = std::make_shared<CountingSink>("accept failed");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("emfile", sink));
    asio::io_context io{1};
    BrokerOptions o;
    o.socket_path = path;
    auto broker = Broker::create(io.get_executor(), o);
    if (!broker) report("error=create " + broker.error().message);
    if (auto ok = (*broker)->listen(); !ok) report("error=listen " + ok.error().message);
    bool opened = false;
    (*broker)->on_session_open([&](const SessionEvent&) { opened = true; });

    bus::v1::Batch hello;
    auto* h = hello.add_items()->mutable_hello();
    h->set_protocol_version(kProtocolVersion);
    h->set_role(bus::v1::ROLE_CLIENT);
    h->set_client_name("emfile-client");
    std::vector<std::uint8_t> frame;
    (void)wire::append_message_frame(frame, hello, wire::Crc32Variant::Ieee, 1 << 20);
    auto connect_and_hello = [&] {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const auto addr = address_of(path);
        if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
            report(std::string("error=client connect ") + std::strerror(errno));
        if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(frame.size()))
            report("error=send hello");
        return fd;
    };
    // One whole session first, while descriptors are there: UBSan's dynamic-type check needs a
    // free descriptor (to probe memory) the first time it sees a type, and reports a false
    // "invalid vptr" when it has none; after this every type the broker uses has been seen.
    const int first = connect_and_hello();
    for (int i = 0; i < 150 && !opened; ++i) {
        io.restart();
        io.run_for(std::chrono::milliseconds(20));
    }
    if (!opened) report("error=the first session was not opened");
    ::close(first);
    io.restart();
    io.run_for(std::chrono::milliseconds(50));
    opened = false;

    // Use up every descriptor but one, which the client takes: the broker has none to accept.
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_cur, 256);
    ::setrlimit(RLIMIT_NOFILE, &rl);
    std::vector<int> hog;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) hog.push_back(fd);
    if (errno != EMFILE || hog.size() < 20) report("error=could not exhaust descriptors");
    ::close(hog.back());
    hog.pop_back();
    // The client's Hello waits in the socket buffer until the broker accepts.
    (void)connect_and_hello();

    io.run_for(std::chrono::milliseconds(600));
    const auto failures = (*broker)->core().listener->accept_failures();
    const auto warnings = sink->count();

    // Descriptors free again: the waiting client is accepted and welcomed.
    for (int i = 0; i < 16 && !hog.empty(); ++i) {
        ::close(hog.back());
        hog.pop_back();
    }
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (!opened && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(std::chrono::milliseconds(20));
    }
    report("failures=" + std::to_string(failures) + " warnings=" + std::to_string(warnings) +
           " accepted=" + (opened ? "1" : "0"));
    ::_exit(1);
}

std::uint64_t field(const std::string& line, const std::string& key) {
    const auto at = line.find(key + "=");
    if (at == std::string::npos) return UINT64_MAX;
    return std::stoull(line.substr(at + key.size() + 1));
}

// Out of descriptors, accept() fails at once for as long as the shortage lasts; the loop must
// wait between attempts (it used to retry at once: a busy loop and a warning per attempt, some
// hundred thousand in 600 ms), and accept the waiting connection once descriptors are back.
TEST_F(BrokerSocketPath, OutOfDescriptorsTheAcceptLoopBacksOffAndRecovers) {
    const std::string path = dir_ + "/bus.sock";
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::close(pipe_fds[0]);
        emfile_child(path, pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    std::string line;
    pollfd p{pipe_fds[0], POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[256];
        const auto n = ::read(pipe_fds[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(pipe_fds[0]);
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    ASSERT_EQ(line.find("error="), std::string::npos) << line;
    ASSERT_NE(field(line, "failures"), UINT64_MAX)
        << "child said: '" << line << "'; its end: "
        << (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                : "exit " + std::to_string(WEXITSTATUS(status)))
        << " (a sanitizer's report is on stderr above)";
    // EMFILE did happen (else this test proves nothing), and was retried at the backoff's pace:
    // about 600 ms / 100 ms of attempts, not a busy loop.
    EXPECT_GE(field(line, "failures"), 1u) << line;
    EXPECT_LE(field(line, "failures"), 30u) << line;
    EXPECT_GE(field(line, "warnings"), 1u) << line;
    EXPECT_LE(field(line, "warnings"), 2u) << line;
    EXPECT_EQ(field(line, "accepted"), 1u) << line;
}

}  // namespace
}  // namespace daemoneye::eventbus
