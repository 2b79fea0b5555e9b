// BrokerListener::open() failing after bind(): chmod() or listen() refused. Neither fails on
// demand for a socket the process just created, so this binary interposes both: the executable's
// own chmod() and listen() are what the (static) eventbus library's calls resolve to. They fail
// while `fail_chmod` / `fail_listen` is set and pass through to the kernel otherwise. That is why
// this is a binary of its own: nothing else runs with these definitions.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include "daemoneye/eventbus/broker.hpp"

namespace {
bool fail_chmod = false;
bool fail_listen = false;
int chmod_calls = 0;
int listen_calls = 0;
}  // namespace

extern "C" int chmod(const char* path, mode_t mode) noexcept {
    ++chmod_calls;
    if (fail_chmod) {
        errno = EPERM;
        return -1;
    }
    return static_cast<int>(::syscall(SYS_fchmodat, AT_FDCWD, path, mode, 0));
}

extern "C" int listen(int fd, int backlog) noexcept {
    ++listen_calls;
    if (fail_listen) {
        errno = EADDRINUSE;
        return -1;
    }
    return static_cast<int>(::syscall(SYS_listen, fd, backlog));
}

namespace daemoneye::eventbus {
namespace {

namespace fs = std::filesystem;

class BrokerListenerOpen : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/debus-open-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = dir_ + "/bus.sock";
        fail_chmod = fail_listen = false;
        chmod_calls = listen_calls = 0;
    }
    void TearDown() override {
        fail_chmod = fail_listen = false;
        if (broker_) broker_->stop();
        broker_.reset();
        fs::remove_all(dir_);
    }
    Broker& make_broker() {
        BrokerOptions o;
        o.socket_path = path_;
        broker_ = Broker::create(io_.get_executor(), o).value();
        return *broker_;
    }
    bool socket_file_exists() const {
        struct stat st {};
        return ::lstat(path_.c_str(), &st) == 0;
    }

    boost::asio::io_context io_{1};
    std::string dir_;
    std::string path_;
    std::unique_ptr<Broker> broker_;
};

// The failure is reported, the file bind() created is gone (a later start would otherwise find
// a socket nobody listens on, left with the umask's mode), and the same broker can listen once
// the cause is gone.
TEST_F(BrokerListenerOpen, AFailedChmodRemovesTheSocketFileItBound) {
    auto& broker = make_broker();
    fail_chmod = true;
    auto r = broker.listen();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, BusError::Code::Io);
    EXPECT_NE(r.error().message.find("cannot chmod 0600 " + path_), std::string::npos)
        << r.error().message;
    EXPECT_EQ(chmod_calls, 1);  // the interposed chmod() is the one the listener called
    EXPECT_FALSE(socket_file_exists());

    fail_chmod = false;
    auto again = broker.listen();
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(socket_file_exists());
}

TEST_F(BrokerListenerOpen, AFailedListenRemovesTheSocketFileItBound) {
    auto& broker = make_broker();
    fail_listen = true;
    auto r = broker.listen();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, BusError::Code::Io);
    EXPECT_NE(r.error().message.find("cannot listen on " + path_), std::string::npos)
        << r.error().message;
    EXPECT_EQ(listen_calls, 1);
    EXPECT_FALSE(socket_file_exists());

    fail_listen = false;
    auto again = broker.listen();
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(socket_file_exists());
}

}  // namespace
}  // namespace daemoneye::eventbus
