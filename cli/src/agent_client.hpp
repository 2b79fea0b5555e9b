// The CLI's side of the agent's IPC socket: one blocking connection, framed
// daemoneye.ipc.v1.Request out, Response frames back until the one marked final. Deadlines are
// enforced with poll(), so a silent agent never hangs the CLI past --timeout.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "commands.hpp"
#include "daemoneye/ipc/v1/ipc.pb.h"
#include "daemoneye/result.hpp"
#include "daemoneye/wire/frame_codec.hpp"
#include "output.hpp"

namespace daemoneye::cli {

// Where the agent listens: --endpoint, else ipc.endpoint_path of --config, else the default
// path for this user (what an agent without a config file uses).
Result<std::string> resolve_endpoint(const GlobalOptions& options);

class AgentClient {
  public:
    ~AgentClient();
    AgentClient(AgentClient&& other) noexcept;
    AgentClient& operator=(AgentClient&&) = delete;
    AgentClient(const AgentClient&) = delete;

    static Result<AgentClient> connect(const std::string& endpoint,
                                       std::chrono::milliseconds timeout);

    // Sends `request` (a request id is assigned) and calls `on_response` for every response,
    // the final one included; returns the final one. `timeout` bounds the wait for each frame
    // (0: wait forever, for streams).
    Result<daemoneye::ipc::v1::Response> call(
        daemoneye::ipc::v1::Request request, std::chrono::milliseconds timeout,
        const std::function<void(const daemoneye::ipc::v1::Response&)>& on_response = {});

    // Low level, for `ipc test`.
    Status send(const daemoneye::ipc::v1::Request& request, std::chrono::milliseconds timeout);
    Result<daemoneye::ipc::v1::Response> receive(std::chrono::milliseconds timeout);

  private:
    explicit AgentClient(int fd);
    int fd_ = -1;
    std::uint64_t next_id_ = 1;
    wire::FrameDecoder decoder_{64u << 20, wire::Crc32Variant::Ieee};
};

// The outcome of a request in CLI terms: an error line for stderr and an exit code.
int report_failure(const std::string& what, const std::string& message, int exit_code);

// Runs one request with the usual error handling. Returns the exit code; `on_response` sees each
// response (use it to print). Connection problems -> kExitUnavailable, agent errors -> kExitFailed.
// `timeout`: per response frame; 0 = --timeout; negative = none (streams).
int run_request(const GlobalOptions& options, daemoneye::ipc::v1::Request request,
                const std::function<void(const daemoneye::ipc::v1::Response&)>& on_response,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

// The protobuf JSON mapping of a message on one line.
std::string to_json(const google::protobuf::Message& message);

}  // namespace daemoneye::cli
