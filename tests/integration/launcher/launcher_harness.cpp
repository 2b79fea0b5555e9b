#include "launcher_harness.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace daemoneye::launcher::test {

std::string plugin_path(const std::string& name) {
    return std::string(DAEMONEYE_TEST_PLUGIN_DIR) + "/de_test_" + name + ".so";
}

std::string launcher_path() {
    return DAEMONEYE_LAUNCHER_BIN;
}

namespace {

std::string temp_file(const char* what) {
    std::string path = "/tmp/de_launcher_test_" + std::string(what) + "_XXXXXX";
    int fd = mkstemp(path.data());
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    close(fd);
    return path;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

Launcher::Launcher(std::vector<std::string> args, bool bus) {
    out_path_ = temp_file("out");
    err_path_ = temp_file("err");
    int pair[2] = {-1, -1};
    if (bus) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            throw std::runtime_error("socketpair");
        args.insert(args.end(), {"--broker-fd", "3"});
    }
    std::vector<std::string> argv_storage;
    argv_storage.push_back(launcher_path());
    for (auto& a : args) argv_storage.push_back(a);
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
        int out = open(out_path_.c_str(), O_WRONLY | O_TRUNC);
        int err = open(err_path_.c_str(), O_WRONLY | O_TRUNC);
        if (out < 0 || err < 0) _exit(120);
        dup2(out, 1);
        dup2(err, 2);
        if (bus) {
            if (dup2(pair[1], 3) != 3) _exit(121);  // dup2 clears CLOEXEC on the copy
        }
        // Something inherited to prove the launcher closes it.
        int extra = open("/dev/null", O_RDONLY);
        (void)extra;
        execv(argv[0], argv.data());
        _exit(127);
    }
    if (bus) {
        close(pair[1]);
        bus_ = pair[0];
    }
}

Launcher::~Launcher() {
    if (!reaped_ && pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    if (bus_ >= 0) close(bus_);
    unlink(out_path_.c_str());
    unlink(err_path_.c_str());
}

void Launcher::send(const bus::v1::Envelope& env) {
    bus::v1::Batch batch;
    *batch.add_items() = env;
    std::vector<std::uint8_t> frame;
    auto st = wire::append_message_frame(frame, batch, wire::Crc32Variant::Ieee, 1 << 20);
    if (!st) throw std::runtime_error("encode: " + st.error().message());
    std::size_t off = 0;
    while (off < frame.size()) {
        ssize_t n = ::send(bus_, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // the launcher went away; the test sees it elsewhere
        }
        off += static_cast<std::size_t>(n);
    }
}

std::optional<bus::v1::Envelope> Launcher::next(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (!inbox_.empty()) {
            auto e = std::move(inbox_.front());
            inbox_.pop_front();
            return e;
        }
        auto frame = decoder_.next();
        if (!frame) throw std::runtime_error("bad frame from launcher: " + frame.error().message());
        if (frame->has_value()) {
            bus::v1::Batch batch;
            if (!batch.ParseFromArray((*frame)->data(), static_cast<int>((*frame)->size()))) {
                throw std::runtime_error("undecodable batch from launcher");
            }
            for (auto& e : *batch.mutable_items()) {
                // Acknowledge subscriptions and RPC-server registrations as the broker does.
                if (e.has_subscribe()) {
                    bus::v1::Envelope ack;
                    ack.mutable_ack()->set_ref(e.subscribe().subscription_id());
                    send(ack);
                }
                inbox_.push_back(std::move(e));
            }
            continue;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || bus_ < 0) return std::nullopt;
        pollfd p{bus_, POLLIN, 0};
        int rc = poll(&p, 1, static_cast<int>(left.count()));
        if (rc <= 0) {
            if (rc < 0 && errno == EINTR) continue;
            return std::nullopt;
        }
        auto space = decoder_.prepare(64 * 1024);
        ssize_t n = ::recv(bus_, space.data(), space.size(), 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            peer_closed_ = true;
            return std::nullopt;
        }
        decoder_.commit(static_cast<std::size_t>(n));
    }
}

std::optional<bus::v1::Hello> Launcher::expect_hello(std::chrono::milliseconds timeout) {
    auto e = next(timeout);
    if (!e || !e->has_hello()) return std::nullopt;
    rpc_target_ =
        "control.collector." + e->hello().manifest().name() + "." + e->hello().instance_id();
    const auto& pubs = e->hello().manifest().publishes();
    declared_.assign(pubs.begin(), pubs.end());
    return e->hello();
}

void Launcher::welcome(const std::map<std::string, std::string>& config, std::uint32_t heartbeat_ms,
                       std::optional<std::vector<std::string>> publish_grants) {
    bus::v1::Envelope env;
    auto* w = env.mutable_welcome();
    w->set_session_id(42);
    w->set_reply_topic("control.rpc.reply.42");
    w->set_max_frame_bytes(1 << 20);
    w->set_heartbeat_interval_ms(heartbeat_ms);
    w->set_protocol_version(1);
    for (const auto& [k, v] : config) (*w->mutable_config())[k] = v;
    for (const auto& g : publish_grants.value_or(declared_)) w->add_publish_grants(g);
    w->add_publish_grants("control.health.heartbeat");
    w->add_publish_grants("control.health.diagnostics");
    send(env);
    // Like the real broker, requests only reach the launcher once it registered as the RPC
    // server of its topic: wait for that registration (acknowledged in next()).
    pump_until(
        [&] {
            for (const auto& e : seen_) {
                if (e.has_subscribe() && e.subscribe().rpc_server()) return true;
            }
            return false;
        },
        20s);
}

std::optional<rpc::v1::RpcResponse> Launcher::call(rpc::v1::RpcRequest request,
                                                   std::chrono::milliseconds timeout) {
    if (request.correlation_id().empty()) {
        request.set_correlation_id("test-" + std::to_string(next_correlation_++));
    }
    if (request.target().empty()) request.set_target(rpc_target_);
    request.set_reply_to("control.rpc.reply.42");
    bus::v1::Envelope env;
    *env.mutable_rpc_request() = request;
    send(env);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        auto e = next(left);
        if (!e) return std::nullopt;
        if (e->has_rpc_response() &&
            e->rpc_response().correlation_id() == request.correlation_id()) {
            return e->rpc_response();
        }
        seen_.push_back(std::move(*e));
    }
}

std::optional<rpc::v1::RpcResponse> Launcher::call(rpc::v1::Operation op,
                                                   std::chrono::milliseconds timeout) {
    rpc::v1::RpcRequest req;
    req.set_operation(op);
    if (op == rpc::v1::OPERATION_HEALTH_CHECK) req.mutable_health_check()->set_verbose(true);
    return call(std::move(req), timeout);
}

std::optional<rpc::v1::RpcResponse> Launcher::task(
    const std::string& kind, const std::map<std::string, std::string>& params) {
    rpc::v1::RpcRequest req;
    req.set_operation(rpc::v1::OPERATION_EXECUTE_TASK);
    req.mutable_task()->set_task_id("task-" + kind);
    req.mutable_task()->set_kind(kind);
    for (const auto& [k, v] : params) (*req.mutable_task()->mutable_params())[k] = v;
    return call(std::move(req));
}

void Launcher::pump(std::chrono::milliseconds duration) {
    pump_until([] { return false; }, duration);
}

void Launcher::close_bus() {
    if (bus_ >= 0) {
        close(bus_);
        bus_ = -1;
    }
}

std::vector<bus::v1::Message> Launcher::published(const std::string& topic_prefix) const {
    std::vector<bus::v1::Message> out;
    for (const auto& e : seen_) {
        if (e.has_publish() && e.publish().message().topic().rfind(topic_prefix, 0) == 0) {
            out.push_back(e.publish().message());
        }
    }
    return out;
}

Exit Launcher::wait(std::chrono::milliseconds timeout) {
    Exit out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            out.timed_out = true;
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
            break;
        }
        // Keep draining the bus so the launcher never blocks on a full socket while exiting.
        if (bus_ >= 0) {
            if (auto e = next(50ms)) seen_.push_back(std::move(*e));
        } else {
            std::this_thread::sleep_for(20ms);
        }
    }
    reaped_ = true;
    if (bus_ >= 0) {
        while (auto e = next(0ms)) seen_.push_back(std::move(*e));
    }
    if (WIFEXITED(status)) {
        out.exited = true;
        out.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        out.signal = WTERMSIG(status);
    }
    out.out = slurp(out_path_);
    out.err = slurp(err_path_);
    return out;
}

void Launcher::signal(int sig) {
    kill(pid_, sig);
}

Exit run_launcher(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    Launcher l(args, /*bus=*/false);
    return l.wait(timeout);
}

std::string detail(const rpc::v1::RpcResponse& response, const std::string& key) {
    const auto& d = response.health().details();
    auto it = d.find(key);
    return it == d.end() ? std::string() : it->second;
}

std::vector<std::string> records(const rpc::v1::RpcResponse& response) {
    std::vector<std::string> out;
    for (const auto& r : response.task_result().records()) out.push_back(r.data());
    return out;
}

bus::v1::SandboxLayer layer(const bus::v1::Hello& hello, const std::string& name) {
    for (const auto& l : hello.sandbox()) {
        if (l.name() == name) return l;
    }
    bus::v1::SandboxLayer missing;
    missing.set_name(name);
    missing.set_detail("absent");
    return missing;
}

Started start(const std::string& plugin, std::vector<std::string> extra,
              const std::map<std::string, std::string>& config) {
    std::vector<std::string> args = {"--plugin", plugin_path(plugin), "--instance", plugin + "-0"};
    args.insert(args.end(), extra.begin(), extra.end());
    Started s{std::make_unique<Launcher>(args), {}};
    auto hello = s.launcher->expect_hello();
    if (!hello) {
        ADD_FAILURE() << "no Hello: " << s.launcher->wait().err;
        return s;
    }
    s.hello = *hello;
    s.launcher->welcome(config);
    return s;
}

}  // namespace daemoneye::launcher::test
