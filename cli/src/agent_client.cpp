#include "agent_client.hpp"

#include <google/protobuf/util/json_util.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "daemoneye/agent/config.hpp"

namespace daemoneye::cli {

namespace ipcv1 = daemoneye::ipc::v1;
using Clock = std::chrono::steady_clock;

Result<std::string> resolve_endpoint(const GlobalOptions& options) {
    if (!options.endpoint.empty()) return options.endpoint;
    const auto env = agent::ConfigEnvironment::current();
    if (!options.config.empty()) {
        auto c = agent::load_config(options.config, env);
        if (!c)
            return fail("--config " + options.config + ": " + c.error().errors.front().to_string());
        return c->ipc.endpoint_path;
    }
    return agent::default_config(env).ipc.endpoint_path;
}

AgentClient::AgentClient(int fd) : fd_(fd) {}
AgentClient::~AgentClient() {
    if (fd_ >= 0) ::close(fd_);
}
AgentClient::AgentClient(AgentClient&& o) noexcept
    : fd_(o.fd_), next_id_(o.next_id_), decoder_(std::move(o.decoder_)) {
    o.fd_ = -1;
}

Result<AgentClient> AgentClient::connect(const std::string& endpoint,
                                         std::chrono::milliseconds timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (endpoint.size() >= sizeof addr.sun_path) return fail("endpoint path too long: " + endpoint);
    std::memcpy(addr.sun_path, endpoint.c_str(), endpoint.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno == EINPROGRESS || errno == EAGAIN) {
            pollfd p{fd, POLLOUT, 0};
            int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (n <= 0 || err) {
                ::close(fd);
                return fail("cannot connect to the agent at " + endpoint + ": " +
                            (n <= 0 ? "timed out" : std::strerror(err)));
            }
        } else {
            int err = errno;
            ::close(fd);
            return fail(
                "cannot connect to the agent at " + endpoint + ": " + std::strerror(err) +
                (err == ENOENT || err == ECONNREFUSED ? " (is daemoneye-agent running?)" : ""));
        }
    }
    return AgentClient(fd);
}

Status AgentClient::send(const ipcv1::Request& request, std::chrono::milliseconds timeout) {
    std::vector<std::uint8_t> frame;
    if (auto r = wire::append_message_frame(frame, request, wire::Crc32Variant::Ieee, 64u << 20);
        !r)
        return fail(r.error().message());
    const auto deadline = Clock::now() + timeout;
    std::size_t off = 0;
    while (off < frame.size()) {
        ssize_t n = ::send(fd_, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return fail(std::string("send: ") + std::strerror(errno));
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return fail("timed out sending the request");
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
    }
    return {};
}

Result<ipcv1::Response> AgentClient::receive(std::chrono::milliseconds timeout) {
    const auto deadline = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
    for (;;) {
        auto next = decoder_.next();
        if (!next) return fail("bad frame from the agent: " + next.error().message());
        if (*next) {
            ipcv1::Response resp;
            auto payload = **next;
            if (!resp.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
                return fail("undecodable response from the agent");
            return resp;
        }
        int wait_ms = -1;
        if (deadline != Clock::time_point::max()) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0)
                return fail("no answer from the agent within " + std::to_string(timeout.count()) +
                            " ms");
            wait_ms = static_cast<int>(left.count());
        }
        pollfd p{fd_, POLLIN, 0};
        int n = ::poll(&p, 1, wait_ms);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) continue;  // loop re-checks the deadline
        auto buf = decoder_.prepare(64 * 1024);
        ssize_t got = ::recv(fd_, buf.data(), buf.size(), 0);
        if (got == 0) return fail("the agent closed the connection");
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return fail(std::string("recv: ") + std::strerror(errno));
        }
        decoder_.commit(static_cast<std::size_t>(got));
    }
}

Result<ipcv1::Response> AgentClient::call(
    ipcv1::Request request, std::chrono::milliseconds timeout,
    const std::function<void(const ipcv1::Response&)>& on_response) {
    const std::uint64_t id = next_id_++;
    request.set_request_id(id);
    if (auto s = send(request, timeout.count() ? timeout : std::chrono::milliseconds(10000)); !s)
        return unexpected(s.error());
    for (;;) {
        auto r = receive(timeout);
        if (!r) return unexpected(r.error());
        if (r->request_id() != id && r->request_id() != 0) continue;  // not ours (ipc test)
        if (on_response) on_response(*r);
        if (r->final() || r->request_id() == 0) return std::move(*r);
    }
}

int report_failure(const std::string& what, const std::string& message, int exit_code) {
    std::cerr << "daemoneye-cli: " << (what.empty() ? "" : what + ": ") << message << "\n";
    return exit_code;
}

int run_request(const GlobalOptions& options, ipcv1::Request request,
                const std::function<void(const ipcv1::Response&)>& on_response,
                std::chrono::milliseconds timeout) {
    const auto base =
        std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout_seconds * 1000));
    if (timeout.count() == 0) timeout = base;
    auto endpoint = resolve_endpoint(options);
    if (!endpoint) return report_failure("", endpoint.error().message, kExitInvalid);
    auto client = AgentClient::connect(*endpoint, base);
    if (!client) return report_failure("", client.error().message, kExitUnavailable);
    // A negative timeout: a stream that may stay quiet (events tail) waits without a deadline.
    auto fin =
        client->call(std::move(request),
                     timeout.count() < 0 ? std::chrono::milliseconds(0) : timeout, on_response);
    if (!fin) return report_failure("", fin.error().message, kExitUnavailable);
    if (fin->code() != ipcv1::RESULT_CODE_OK) {
        return report_failure("", fin->error(),
                              fin->code() == ipcv1::RESULT_CODE_INVALID_REQUEST ? kExitInvalid
                              : fin->code() == ipcv1::RESULT_CODE_TIMEOUT ||
                                      fin->code() == ipcv1::RESULT_CODE_UNAVAILABLE
                                  ? kExitUnavailable
                                  : kExitFailed);
    }
    return kExitOk;
}

std::string to_json(const google::protobuf::Message& message) {
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    o.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(message, &out, o);
    return out;
}

}  // namespace daemoneye::cli
