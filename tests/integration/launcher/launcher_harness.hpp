// Runs the real launcher binary as a child and plays the broker on the other end of its
// socketpair: reads Hello, sends Welcome, sends RPCs, collects everything the launcher publishes.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/rpc/v1/rpc.pb.h"
#include "daemoneye/wire/frame_codec.hpp"

namespace daemoneye::launcher::test {

using namespace std::chrono_literals;

std::string plugin_path(const std::string& name);  // "good" -> .../de_test_good.so
std::string launcher_path();

struct Exit {
    bool exited = false;
    int code = -1;   // when exited
    int signal = 0;  // when killed by a signal
    bool timed_out = false;
    std::string out;
    std::string err;
};

class Launcher {
  public:
    // Starts the launcher with `args`; with `bus`, a socketpair end is passed as --broker-fd 3.
    Launcher(std::vector<std::string> args, bool bus = true);
    ~Launcher();
    Launcher(const Launcher&) = delete;
    Launcher& operator=(const Launcher&) = delete;

    pid_t pid() const { return pid_; }

    // Bus side.
    void send(const bus::v1::Envelope& env);
    std::optional<bus::v1::Envelope> next(std::chrono::milliseconds timeout = 20s);
    std::optional<bus::v1::Hello> expect_hello(std::chrono::milliseconds timeout = 30s);
    // Grants like the agent's: what the Hello's manifest declares (or `publish_grants` when
    // given: an operator's narrower collectors.<name>.publishes) plus the bridge's health topics.
    void welcome(const std::map<std::string, std::string>& config = {},
                 std::uint32_t heartbeat_ms = 200,
                 std::optional<std::vector<std::string>> publish_grants = std::nullopt);
    // Sends an RPC and waits for its response; every other envelope is kept in seen().
    std::optional<rpc::v1::RpcResponse> call(rpc::v1::RpcRequest request,
                                             std::chrono::milliseconds timeout = 30s);
    std::optional<rpc::v1::RpcResponse> call(rpc::v1::Operation op,
                                             std::chrono::milliseconds timeout = 30s);
    std::optional<rpc::v1::RpcResponse> task(const std::string& kind,
                                             const std::map<std::string, std::string>& params = {});
    // Reads (and keeps) envelopes for `duration`, or until `until` returns true.
    void pump(std::chrono::milliseconds duration);
    template <class Pred>
    bool pump_until(Pred until, std::chrono::milliseconds timeout = 20s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!until()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || peer_closed_) return false;
            if (auto e = next(std::min(left, std::chrono::milliseconds(200))))
                seen_.push_back(std::move(*e));
        }
        return true;
    }
    void close_bus();

    const std::vector<bus::v1::Envelope>& seen() const { return seen_; }
    std::vector<bus::v1::Message> published(const std::string& topic_prefix = "") const;
    template <class M>
    std::vector<M> payloads(const std::string& topic) const {
        std::vector<M> out;
        for (const auto& m : published(topic)) {
            M p;
            if (m.payload_type() == M::descriptor()->full_name() && p.ParseFromString(m.payload()))
                out.push_back(p);
        }
        return out;
    }

    // Waits for the process to end (SIGKILL after the timeout) and collects stdout/stderr.
    Exit wait(std::chrono::milliseconds timeout = 60s);
    void signal(int sig);

  private:
    pid_t pid_ = -1;
    int bus_ = -1;
    std::string out_path_;
    std::string err_path_;
    wire::FrameDecoder decoder_{1 << 20, wire::Crc32Variant::Ieee};
    std::deque<bus::v1::Envelope> inbox_;
    std::vector<bus::v1::Envelope> seen_;
    std::uint64_t next_correlation_ = 1;
    std::string rpc_target_;             // control.collector.<name>.<instance>, from the Hello
    std::vector<std::string> declared_;  // the Hello manifest's publishes
    bool peer_closed_ = false;           // the launcher closed its end (exited)
    bool reaped_ = false;
};

// Runs the launcher without a bus (e.g. --describe or a refusal) to completion.
Exit run_launcher(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 60s);

// The value of `key` in a HealthCheckResponse's details ("" when absent).
std::string detail(const rpc::v1::RpcResponse& response, const std::string& key);
// The text of every record in a task result.
std::vector<std::string> records(const rpc::v1::RpcResponse& response);
// The Hello's sandbox layer called `name` (applied=false, detail "absent" when missing).
bus::v1::SandboxLayer layer(const bus::v1::Hello& hello, const std::string& name);

// A launcher running test plugin `plugin` (instance "<plugin>-0") that has said Hello and been
// welcomed with `config`; on a missing Hello the test fails and `launcher` is left as it is.
struct Started {
    std::unique_ptr<Launcher> launcher;
    bus::v1::Hello hello;
};
Started start(const std::string& plugin, std::vector<std::string> extra = {},
              const std::map<std::string, std::string>& config = {});

}  // namespace daemoneye::launcher::test
