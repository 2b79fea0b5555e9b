#include "ipc_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <list>

#include "daemoneye/wire/framed_stream.hpp"
#include "fs_util.hpp"

namespace daemoneye::agent {

namespace asio = boost::asio;
namespace ipcv1 = daemoneye::ipc::v1;
using boost::asio::local::stream_protocol;

namespace {
// Queued response bytes per connection before responses are dropped (a client that stopped
// reading an event stream must not grow the agent without bound).
constexpr std::size_t kMaxQueuedBytes = 8u << 20;
}  // namespace

struct Responder::Channel {
    explicit Channel(std::unique_ptr<wire::FramedStream> s, IpcServerStats& st)
        : stream(std::move(s)),
          stats(st),
          wake(stream->socket().get_executor()),
          close_signal(stream->socket().get_executor()) {
        wake.expires_at(asio::steady_timer::time_point::max());
        close_signal.expires_at(asio::steady_timer::time_point::max());
    }

    std::unique_ptr<wire::FramedStream> stream;
    IpcServerStats& stats;  // owned by the server Impl, which outlives every channel's use
    std::deque<std::vector<std::uint8_t>> queue;
    std::size_t queued_bytes = 0;
    asio::steady_timer wake;
    asio::steady_timer close_signal;
    bool closed = false;
    std::uint64_t id = 0;

    bool enqueue(const ipcv1::Response& response) {
        if (closed) return false;
        std::vector<std::uint8_t> frame;
        auto r = wire::append_message_frame(frame, response, stream->options().crc32_variant,
                                            stream->options().max_frame_bytes);
        if (!r) {
            spdlog::warn("ipc: connection {}: response to request {} not sent: {}", id,
                         response.request_id(), r.error().message());
            ++stats.responses_dropped;
            return false;
        }
        if (queued_bytes + frame.size() > kMaxQueuedBytes) {
            ++stats.responses_dropped;
            return false;
        }
        queued_bytes += frame.size();
        queue.push_back(std::move(frame));
        wake.cancel();
        return true;
    }

    void close() {
        if (closed) return;
        closed = true;
        stream->close();
        wake.cancel();
        close_signal.cancel();
    }
};

Responder::Responder(std::shared_ptr<Channel> channel, std::uint64_t request_id)
    : channel_(std::move(channel)), request_id_(request_id) {}

bool Responder::send(ipcv1::Response response) {
    response.set_request_id(request_id_);
    return channel_->enqueue(response);
}

bool Responder::finish(ipcv1::Response response) {
    response.set_final(true);
    return send(std::move(response));
}

bool Responder::fail(ipcv1::ResultCode code, std::string message) {
    ipcv1::Response r;
    r.set_code(code);
    r.set_error(std::move(message));
    return finish(std::move(r));
}

bool Responder::open() const {
    return !channel_->closed;
}

asio::awaitable<void> Responder::closed() const {
    auto channel = channel_;
    while (!channel->closed) {
        co_await channel->close_signal.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

struct IpcServer::Impl : std::enable_shared_from_this<IpcServer::Impl> {
    Impl(asio::io_context& io, wire::IpcConfig c, uid_t uid, Handler h)
        : io(io), config(std::move(c)), allowed_uid(uid), handler(std::move(h)), acceptor(io) {}

    asio::io_context& io;
    wire::IpcConfig config;
    uid_t allowed_uid;
    Handler handler;
    stream_protocol::acceptor acceptor;
    std::list<std::weak_ptr<Responder::Channel>> channels;
    IpcServerStats stats;
    bool stopped = false;
    bool bound = false;
    std::uint64_t next_id = 1;

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (ec == asio::error::operation_aborted || stopped) co_return;
                spdlog::warn("ipc: accept failed: {}", ec.message());
                continue;
            }
            admit(std::move(socket));
        }
    }

    void admit(stream_protocol::socket socket) {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
            (cred.uid != allowed_uid && cred.uid != 0)) {
            ++stats.refused_uid;
            spdlog::warn("ipc: refused a connection from uid {} pid {} (only uid {} and root)",
                         cred.uid, cred.pid, allowed_uid);
            return;  // the socket closes here
        }
        auto channel = std::make_shared<Responder::Channel>(
            std::make_unique<wire::FramedStream>(std::move(socket),
                                                 wire::StreamOptions::from(config)),
            stats);
        channel->id = next_id++;
        ++stats.accepted;
        channels.remove_if([](const auto& w) { return w.expired(); });
        if (stats.active >= config.max_connections) {
            ++stats.refused_limit;
            spdlog::warn("ipc: refused connection from pid {}: {} connections open (max {})",
                         cred.pid, stats.active, config.max_connections);
            ipcv1::Response r;
            r.set_final(true);
            r.set_code(ipcv1::RESULT_CODE_UNAVAILABLE);
            r.set_error("too many connections (ipc.max_connections = " +
                        std::to_string(config.max_connections) + ")");
            channel->enqueue(r);
            ++stats.active;  // writer_loop decrements on exit
            asio::co_spawn(io, writer_loop(channel, /*close_when_drained=*/true), asio::detached);
            return;
        }
        ++stats.active;
        channels.push_back(channel);
        spdlog::debug("ipc: connection {} from pid {} uid {}", channel->id, cred.pid, cred.uid);
        asio::co_spawn(io, writer_loop(channel, false), asio::detached);
        asio::co_spawn(io, reader_loop(channel), asio::detached);
    }

    asio::awaitable<void> reader_loop(std::shared_ptr<Responder::Channel> ch) {
        auto self = shared_from_this();
        for (;;) {
            ipcv1::Request request;
            auto r = co_await ch->stream->read_message(request);
            if (ch->closed) break;
            if (!r) {
                const auto& e = r.error();
                if (e.kind == wire::IpcError::Kind::PeerClosed) break;
                if (e.kind == wire::IpcError::Kind::Io && e.io == std::errc::operation_canceled) {
                    break;
                }
                if (e.kind == wire::IpcError::Kind::Decode) {
                    // The frame was intact (length and CRC), only its contents were not a
                    // Request: answer and keep the connection.
                    ++stats.malformed;
                    spdlog::warn("ipc: connection {}: undecodable request: {}", ch->id,
                                 e.message());
                    Responder(ch, 0).fail(ipcv1::RESULT_CODE_INVALID_REQUEST,
                                          "undecodable request: " + e.message());
                    continue;
                }
                ++stats.malformed;
                spdlog::warn("ipc: connection {} dropped: {}", ch->id, e.message());
                break;
            }
            ++stats.requests;
            Responder responder(ch, request.request_id());
            if (request.kind_case() == ipcv1::Request::KIND_NOT_SET) {
                ++stats.malformed;
                responder.fail(ipcv1::RESULT_CODE_INVALID_REQUEST,
                               "request has no kind (client newer than this agent?)");
                continue;
            }
            asio::co_spawn(io, run_handler(std::move(request), responder), asio::detached);
        }
        // The peer is gone or misbehaved: handlers still running (a tail) see closed() and stop.
        ch->close();
    }

    asio::awaitable<void> run_handler(ipcv1::Request request, Responder responder) {
        try {
            co_await handler(std::move(request), responder);
        } catch (const std::exception& e) {
            spdlog::error("ipc: request {} failed: {}", responder.request_id(), e.what());
            responder.fail(ipcv1::RESULT_CODE_FAILED, std::string("internal error: ") + e.what());
        }
    }

    asio::awaitable<void> writer_loop(std::shared_ptr<Responder::Channel> ch,
                                      bool close_when_drained) {
        auto self = shared_from_this();
        std::vector<std::uint8_t> batch;
        while (!ch->closed) {
            if (ch->queue.empty()) {
                if (close_when_drained) break;
                ch->wake.expires_at(asio::steady_timer::time_point::max());
                co_await ch->wake.async_wait(asio::as_tuple(asio::use_awaitable));
                continue;
            }
            batch.clear();
            while (!ch->queue.empty() && batch.size() < (256u << 10)) {
                auto& f = ch->queue.front();
                batch.insert(batch.end(), f.begin(), f.end());
                ch->queued_bytes -= f.size();
                ch->queue.pop_front();
            }
            auto r = co_await ch->stream->write_raw(batch);
            if (!r) {
                if (!ch->closed)
                    spdlog::debug("ipc: connection {}: write failed: {}", ch->id,
                                  r.error().message());
                break;
            }
        }
        ch->close();
        --stats.active;
    }
};

IpcServer::IpcServer(asio::io_context& io, wire::IpcConfig config, uid_t allowed_uid,
                     Handler handler)
    : impl_(std::make_shared<Impl>(io, std::move(config), allowed_uid, std::move(handler))) {}

IpcServer::~IpcServer() {
    stop();
}

Status IpcServer::start() {
    const std::filesystem::path path = impl_->config.endpoint_path;
    if (auto s = ensure_private_dir(path.parent_path()); !s) return s;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return fail(path.string() + " exists and is not a socket; refusing to replace it");
        }
        // A live socket means another agent; a dead one is left over from a crash.
        stream_protocol::socket probe(impl_->io);
        boost::system::error_code ec;
        probe.connect(stream_protocol::endpoint(path.string()), ec);
        if (!ec) {
            return fail("another process is serving " + path.string() +
                        " (is an agent already running?)");
        }
        ::unlink(path.c_str());
    }
    boost::system::error_code ec;
    impl_->acceptor.open(stream_protocol(), ec);
    if (!ec) {
        // Created 0600 from the start: no window where another user could connect.
        mode_t old = ::umask(0177);
        impl_->acceptor.bind(stream_protocol::endpoint(path.string()), ec);
        ::umask(old);
    }
    if (!ec) impl_->acceptor.listen(static_cast<int>(impl_->config.max_connections) + 16, ec);
    if (ec) return fail("cannot listen on " + path.string() + ": " + ec.message());
    impl_->bound = true;
    ::chmod(path.c_str(), 0600);
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    return {};
}

void IpcServer::stop() {
    if (impl_->stopped) return;
    impl_->stopped = true;
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    for (auto& w : impl_->channels) {
        if (auto ch = w.lock()) ch->close();
    }
    impl_->channels.clear();
    if (impl_->bound) ::unlink(impl_->config.endpoint_path.c_str());
}

const IpcServerStats& IpcServer::stats() const {
    return impl_->stats;
}
const std::string& IpcServer::path() const {
    return impl_->config.endpoint_path;
}

}  // namespace daemoneye::agent
