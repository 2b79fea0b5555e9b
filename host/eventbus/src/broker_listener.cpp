#include "broker_listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker_core.hpp"
#include "daemoneye/wire/framed_stream.hpp"
#include "remote_session.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using stream = asio::local::stream_protocol;

namespace {

constexpr std::size_t kMaxSunPath = sizeof(sockaddr_un{}.sun_path) - 1;  // 107 on Linux

BusError io_error(std::string message) {
    return BusError{BusError::Code::Io, std::move(message)};
}

// Errors that outlast the call: the connection waits in the backlog and the next accept() fails
// the same way at once, until descriptors or memory are freed.
bool resource_shortage(const boost::system::error_code& ec) {
    namespace errc = boost::system::errc;
    return ec == errc::too_many_files_open || ec == errc::too_many_files_open_in_system ||
           ec == errc::no_buffer_space || ec == errc::not_enough_memory;
}

// Other accept() errors concern one connection (ECONNABORTED: the peer gave up while queued) and
// are retried at once, unless this many come in a row (then the loop backs off as above).
constexpr std::uint64_t kImmediateRetries = 16;

// Whether something listens on the socket file at `path` right now.
enum class Probe { Live, Stale, Unknown };
struct ProbeResult {
    Probe state = Probe::Unknown;
    int error = 0;  // errno of the connect() when Unknown
};

// Connects without blocking: a live listener that is not accepting (a hung broker) with its
// backlog full would keep a blocking connect() waiting for room forever. Connected, or EAGAIN
// (that full backlog), is a listener; ECONNREFUSED is nobody (stale); anything else (EACCES:
// not ours to probe) cannot tell, and the file is left alone.
ProbeResult probe_listener(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return {Probe::Unknown, errno};
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    const int err = rc == 0 ? 0 : errno;
    ::close(fd);
    if (rc == 0 || err == EAGAIN || err == EINPROGRESS) return {Probe::Live, 0};
    if (err == ECONNREFUSED || err == ENOENT) return {Probe::Stale, 0};
    return {Probe::Unknown, err};
}

}  // namespace

BrokerListener::BrokerListener(BrokerCore& core)
    : core_(core), acceptor_(core.executor), retry_(core.executor) {}

BrokerListener::~BrokerListener() {
    *alive_ = false;
    close();
}

Result<void, BusError> BrokerListener::check_path(const std::string& path) {
    if (path.empty()) return unexpected(io_error("broker.socket_path is empty"));
    if (path.size() > kMaxSunPath) {
        return unexpected(io_error("broker.socket_path '" + path + "' is " +
                                   std::to_string(path.size()) +
                                   " bytes; a unix socket path may be at most " +
                                   std::to_string(kMaxSunPath) + " bytes (sun_path)"));
    }
    return {};
}

Result<void, BusError> BrokerListener::open(const std::string& path) {
    if (auto ok = check_path(path); !ok) return ok;
    const fs::path p(path);
    const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
        // Create missing levels owner-only: nobody else may even reach the socket.
        fs::path partial;
        for (const auto& part : dir) {
            partial /= part;
            if (fs::exists(partial, ec)) continue;
            if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
                return unexpected(io_error("cannot create directory '" + partial.string() +
                                           "' for broker.socket_path: " + std::strerror(errno)));
            }
        }
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return unexpected(io_error("broker.socket_path '" + path +
                                       "' exists and is not a socket; refusing to replace it"));
        }
        const auto probe = probe_listener(path);
        if (probe.state == Probe::Live) {
            return unexpected(io_error("another broker is listening on " + path));
        }
        if (probe.state == Probe::Unknown) {
            return unexpected(io_error("cannot tell whether another broker is listening on " +
                                       path + " (connect: " + std::strerror(probe.error) +
                                       "); refusing to replace it"));
        }
        spdlog::info("eventbus: replacing stale socket {}", path);
        ::unlink(path.c_str());
    }
    boost::system::error_code bec;
    acceptor_.open(stream(), bec);
    if (!bec) acceptor_.bind(stream::endpoint(path), bec);
    if (bec) {
        boost::system::error_code ignored;
        acceptor_.close(ignored);  // the file, if any, is not ours: left alone
        return unexpected(io_error("cannot bind broker socket " + path + ": " + bec.message()));
    }
    // From here the file at `path` is the one bind() just created: a failure removes it, or the
    // next start would find a socket nobody listens on (and an unprotected one if chmod failed).
    auto undo_bind = [&](std::string message) {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        ::unlink(path.c_str());
        return unexpected(io_error(std::move(message)));
    };
    if (::chmod(path.c_str(), 0600) != 0) {
        return undo_bind("cannot chmod 0600 " + path + ": " + std::strerror(errno));
    }
    acceptor_.listen(asio::socket_base::max_listen_connections, bec);
    if (bec) return undo_bind("cannot listen on " + path + ": " + bec.message());
    path_ = path;
    open_ = true;
    spdlog::info("eventbus: broker listening on {}", path);
    asio::co_spawn(core_.executor, accept_loop(), asio::detached);
    return {};
}

void BrokerListener::close() {
    if (!open_) return;
    open_ = false;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
    ::unlink(path_.c_str());
}

Result<PeerCredentials, BusError> BrokerListener::peer_credentials(Socket& socket) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return unexpected(io_error(std::string("SO_PEERCRED failed: ") + std::strerror(errno)));
    }
    return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

asio::awaitable<void> BrokerListener::accept_loop() {
    auto alive = alive_;
    std::uint64_t failing = 0;  // failed accepts in a row
    std::uint64_t logged_at = 0;
    auto last_log = std::chrono::steady_clock::time_point{};
    for (;;) {
        boost::system::error_code ec;
        Socket socket(core_.executor);
        co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
        if (!*alive || !open_ || ec == asio::error::operation_aborted) co_return;
        if (ec) {
            ++accept_failures_;
            ++failing;
            const bool back_off = resource_shortage(ec) || failing > kImmediateRetries;
            const auto now = std::chrono::steady_clock::now();
            if (failing == 1 || now - last_log >= kAcceptLogInterval) {
                spdlog::warn(
                    "eventbus: accept failed on {}: {} ({} failed in a row, {} since the "
                    "last report){}",
                    path_, ec.message(), failing, failing - logged_at,
                    back_off ? "; retrying every " + std::to_string(kAcceptBackoff.count()) + " ms"
                             : std::string());
                last_log = now;
                logged_at = failing;
            }
            if (back_off) {
                retry_.expires_after(kAcceptBackoff);
                boost::system::error_code wait_ec;
                co_await retry_.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
                if (!*alive || !open_) co_return;
            }
            continue;
        }
        if (failing > 0) {
            spdlog::info("eventbus: accepting on {} again after {} failed attempts", path_,
                         failing);
            failing = 0;
            logged_at = 0;
        }
        auto creds = peer_credentials(socket);
        if (!creds) {
            ++core_.counters.sessions_refused;
            refuse_connection(core_, std::move(socket), bus::v1::ERROR_CODE_PEER_CREDENTIALS,
                              creds.error().message);
            continue;
        }
        const auto uid = creds->uid;
        const auto own = ::geteuid();
        const auto& extra = core_.options.allowed_uids;
        if (uid != own && uid != 0 && std::find(extra.begin(), extra.end(), uid) == extra.end()) {
            ++core_.counters.sessions_refused;
            const std::string msg = "connection refused: peer uid " + std::to_string(uid) +
                                    " (pid " + std::to_string(creds->pid) +
                                    ") is neither the broker's uid " + std::to_string(own) +
                                    " nor root";
            spdlog::warn("eventbus: {}", msg);
            refuse_connection(core_, std::move(socket), bus::v1::ERROR_CODE_PEER_CREDENTIALS, msg);
            continue;
        }
        if (core_.socket_sessions >= core_.options.max_connections) {
            ++core_.counters.sessions_refused;
            const std::string msg = "connection refused: broker has " +
                                    std::to_string(core_.socket_sessions) +
                                    " socket sessions (max_connections " +
                                    std::to_string(core_.options.max_connections) + ")";
            spdlog::warn("eventbus: {}", msg);
            refuse_connection(core_, std::move(socket), bus::v1::ERROR_CODE_LIMIT, msg);
            continue;
        }
        core_.add_remote(std::move(socket), Session::Transport::Socket, std::nullopt, *creds);
    }
}

void refuse_connection(BrokerCore& core, BrokerListener::Socket socket, int code,
                       std::string message) {
    wire::StreamOptions so;
    so.max_frame_bytes = core.options.max_frame_bytes;
    so.crc32_variant = core.options.crc32_variant;
    so.write_timeout = std::chrono::milliseconds(2000);
    auto stream = std::make_shared<wire::FramedStream>(std::move(socket), so);
    bus::v1::Batch batch;
    auto* e = batch.add_items()->mutable_error();
    e->set_code(static_cast<bus::v1::ErrorCode>(code));
    e->set_message(std::move(message));
    asio::co_spawn(
        core.executor,
        [stream, batch = std::move(batch)]() -> asio::awaitable<void> {
            (void)co_await stream->write_message(batch);
            stream->close();
        },
        asio::detached);
}

}  // namespace daemoneye::eventbus
