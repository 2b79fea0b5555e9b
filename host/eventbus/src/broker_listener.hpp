// broker.socket_path: creates the parent directory (0700), replaces a stale socket file, refuses
// a live one, binds (0600), accepts, checks SO_PEERCRED and max_connections before a session
// exists. A refused peer gets one Error frame, then the connection is closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemoneye/eventbus/broker_options.hpp"
#include "daemoneye/eventbus/bus_error.hpp"
#include "daemoneye/result.hpp"

namespace daemoneye::eventbus {

struct BrokerCore;

class BrokerListener {
  public:
    using Socket = boost::asio::local::stream_protocol::socket;

    explicit BrokerListener(BrokerCore& core);
    ~BrokerListener();

    Result<void, BusError> open(const std::string& path);
    void close();
    const std::string& path() const { return path_; }

    // Checks a socket path before anything touches the file system.
    static Result<void, BusError> check_path(const std::string& path);
    static Result<PeerCredentials, BusError> peer_credentials(Socket& socket);

    // accept() failures since open(). Out of file descriptors (EMFILE, ENFILE) or kernel memory
    // (ENOBUFS, ENOMEM), the waiting connection stays in the backlog and the next accept() fails
    // at once: the loop then waits kAcceptBackoff before each retry instead of spinning, and logs
    // the first failure of a run, then at most once per kAcceptLogInterval with the count.
    std::uint64_t accept_failures() const { return accept_failures_; }
    static constexpr std::chrono::milliseconds kAcceptBackoff{100};
    static constexpr std::chrono::seconds kAcceptLogInterval{5};

  private:
    boost::asio::awaitable<void> accept_loop();

    BrokerCore& core_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    boost::asio::steady_timer retry_;
    std::uint64_t accept_failures_ = 0;
    std::string path_;
    bool open_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Writes one Error frame to a connection that will not get a session, then closes it.
void refuse_connection(BrokerCore& core, BrokerListener::Socket socket, int code,
                       std::string message);

}  // namespace daemoneye::eventbus
