#include "daemoneye/eventbus/broker.hpp"

#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include "broker_core.hpp"
#include "broker_listener.hpp"
#include "remote_session.hpp"

namespace daemoneye::eventbus {

namespace asio = boost::asio;

Result<std::unique_ptr<Broker>, BusError> Broker::create(Executor executor, BrokerOptions options) {
    auto invalid = [](std::string m) {
        return unexpected(BusError{BusError::Code::InvalidOptions, std::move(m)});
    };
    if (options.message_buffer_size == 0) return invalid("broker.message_buffer_size must be > 0");
    if (options.max_subscribers == 0) return invalid("broker.max_subscribers must be > 0");
    if (options.max_collector_subscriptions == 0) {
        return invalid("broker.max_subscriptions_per_collector must be > 0");
    }
    if (options.max_frame_bytes < std::size_t{16} << 10) {
        return invalid("max_frame_bytes must be at least 16384 (got " +
                       std::to_string(options.max_frame_bytes) + ")");
    }
    if (options.max_frame_bytes > 0xFFFFFFFFull) return invalid("max_frame_bytes must fit 32 bits");
    if (options.default_rpc_timeout.count() <= 0) {
        return invalid("rpc.default_timeout_seconds must be > 0");
    }
    if (!options.socket_path.empty()) {
        if (auto ok = BrokerListener::check_path(options.socket_path); !ok) {
            return unexpected(ok.error());
        }
    }
    return std::unique_ptr<Broker>(
        new Broker(std::make_unique<BrokerCore>(std::move(executor), std::move(options))));
}

Broker::Broker(std::unique_ptr<BrokerCore> core) : core_(std::move(core)) {}

Broker::~Broker() {
    stop();
}

Result<void, BusError> Broker::listen() {
    if (core_->options.socket_path.empty()) {
        return unexpected(BusError{BusError::Code::Io, "broker.socket_path is not set"});
    }
    if (core_->listener) {
        return unexpected(
            BusError{BusError::Code::Io, "already listening on " + core_->listener->path()});
    }
    auto listener = std::make_unique<BrokerListener>(*core_);
    if (auto ok = listener->open(core_->options.socket_path); !ok) return ok;
    core_->listener = std::move(listener);
    return {};
}

Result<std::uint64_t, BusError> Broker::adopt(Socket socket, PresetIdentity identity) {
    if (core_->stopped) return unexpected(BusError{BusError::Code::NotConnected, "broker stopped"});
    if (!socket.is_open()) {
        return unexpected(BusError{BusError::Code::Io, "adopt: socket is not open"});
    }
    PeerCredentials peer;
    if (auto c = BrokerListener::peer_credentials(socket)) peer = *c;
    auto s = core_->add_remote(std::move(socket), Session::Transport::Adopted, std::move(identity),
                               peer);
    return s->id();
}

Result<std::uint64_t, BusError> Broker::adopt(int fd, PresetIdentity identity) {
    int type = 0;
    socklen_t len = sizeof type;
    if (fd < 0 || ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
        return unexpected(BusError{BusError::Code::Io, "adopt: fd " + std::to_string(fd) +
                                                           " is not a connected stream socket"});
    }
    boost::system::error_code ec;
    Socket socket(core_->executor);
    socket.assign(asio::local::stream_protocol(), fd, ec);
    if (ec) {
        return unexpected(
            BusError{BusError::Code::Io,
                     "adopt: cannot take fd " + std::to_string(fd) + ": " + ec.message()});
    }
    return adopt(std::move(socket), std::move(identity));
}

void Broker::stop() {
    core_->stop();
}

void Broker::on_session_open(std::function<void(const SessionEvent&)> cb) {
    core_->on_open = std::move(cb);
}
void Broker::on_session_closed(std::function<void(const SessionEvent&)> cb) {
    core_->on_closed = std::move(cb);
}

BrokerMetrics Broker::metrics() const {
    return core_->metrics();
}
std::vector<SessionStats> Broker::sessions() const {
    return core_->session_stats();
}

namespace {
// Posts f(core) to the broker's executor; the future breaks (std::future_error) if the broker is
// destroyed before the handler runs.
template <class T, class F>
std::future<T> ask_core(BrokerCore& core, F f) {
    auto p = std::make_shared<std::promise<T>>();
    auto fut = p->get_future();
    asio::post(core.executor, [c = &core, alive = core.liveness(), p, f] {
        if (alive.lock()) p->set_value(f(*c));
    });
    return fut;
}
}  // namespace

std::future<BrokerMetrics> Broker::metrics_async() {
    return ask_core<BrokerMetrics>(*core_, [](BrokerCore& c) { return c.metrics(); });
}

std::future<std::vector<SessionStats>> Broker::sessions_async() {
    return ask_core<std::vector<SessionStats>>(*core_,
                                               [](BrokerCore& c) { return c.session_stats(); });
}

bool Broker::disconnect(std::uint64_t session_id, std::string reason) {
    Session* s = core_->find_session(session_id);
    if (!s) return false;
    bus::v1::Envelope bye;
    bye.mutable_goodbye()->set_reason(reason);
    (void)s->enqueue_control(bye);
    s->close(std::move(reason));
    return true;
}

const BrokerOptions& Broker::options() const {
    return core_->options;
}
Broker::Executor Broker::get_executor() const {
    return core_->executor;
}
const std::string& Broker::socket_path() const {
    static const std::string none;
    return core_->listener ? core_->listener->path() : none;
}

}  // namespace daemoneye::eventbus
