// The CLI's endpoint: framed daemoneye.ipc.v1.Request/Response over a Unix socket (dir 0700,
// socket 0600, peer uid checked with SO_PEERCRED, at most ipc.max_connections). Each connection
// has a reader (decodes requests, spawns one handler coroutine per request) and a writer
// (drains a bounded queue of responses), so a streaming request (events tail) does not stop the
// connection from answering others, and a slow client costs only its own queue.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "daemoneye/ipc/v1/ipc.pb.h"
#include "daemoneye/result.hpp"
#include "daemoneye/wire/ipc_config.hpp"

namespace daemoneye::agent {

// Sends the responses of one request. Cheap to copy; outlives its connection safely.
class Responder {
  public:
    struct Channel;
    explicit Responder(std::shared_ptr<Channel> channel, std::uint64_t request_id);

    // Queues one response (request_id filled in). Returns false when the client is gone or its
    // queue is full (the response is dropped and counted): the handler should stop streaming.
    bool send(daemoneye::ipc::v1::Response response);
    // Queues the final response.
    bool finish(daemoneye::ipc::v1::Response response);
    // A final error response with `code` and a one-line message.
    bool fail(daemoneye::ipc::v1::ResultCode code, std::string message);

    bool open() const;
    std::uint64_t request_id() const { return request_id_; }
    // Awaits until the client disconnects (or the server stops). For streaming handlers.
    boost::asio::awaitable<void> closed() const;

  private:
    std::shared_ptr<Channel> channel_;
    std::uint64_t request_id_;
};

struct IpcServerStats {
    std::uint64_t accepted = 0;
    std::uint64_t active = 0;
    std::uint64_t refused_uid = 0;
    std::uint64_t refused_limit = 0;
    std::uint64_t requests = 0;
    std::uint64_t malformed = 0;  // bad frames (disconnected) + undecodable/empty requests
    std::uint64_t responses_dropped = 0;
};

class IpcServer {
  public:
    using Handler =
        std::function<boost::asio::awaitable<void>(daemoneye::ipc::v1::Request, Responder)>;

    // `allowed_uid`: peers with this uid (and root) may connect.
    IpcServer(boost::asio::io_context& io, wire::IpcConfig config, uid_t allowed_uid,
              Handler handler);
    ~IpcServer();
    IpcServer(const IpcServer&) = delete;
    IpcServer& operator=(const IpcServer&) = delete;

    // Creates the directory (0700), refuses a live socket of another process, replaces a stale
    // one, binds (0600) and starts accepting.
    Status start();
    // Closes the acceptor and every connection, and removes the socket. Idempotent.
    void stop();

    const IpcServerStats& stats() const;
    const std::string& path() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace daemoneye::agent
