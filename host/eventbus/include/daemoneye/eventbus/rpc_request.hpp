// RPC over the bus, as the seed describes it: build a request with RpcRequest::lifecycle(...) /
// RpcRequest::health_check(...), then `co_await client.call(request, timeout)`.
//
// Errors a call can end with (RpcError.code, daemoneye.rpc.v1.ErrorCode):
//   TIMEOUT             no reply within the timeout (a reply arriving later is dropped, counted)
//   NOT_FOUND           nobody serves the target (answered by the broker at once)
//   OVERLOADED          rpc.max_pending_requests reached (client or broker), at once
//   INVALID_OPERATION   bad request: invalid target, duplicate correlation id already pending
//   EXECUTION_ERROR     the server ran the operation and it failed (status ERROR)
//   COMMUNICATION_ERROR not connected, connection lost, or the server's queue was full
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "daemoneye/rpc/v1/rpc.pb.h"

namespace daemoneye::eventbus {

namespace rpcv1 = daemoneye::rpc::v1;

struct RpcError {
    rpcv1::ErrorCode code = rpcv1::ERROR_CODE_COMMUNICATION_ERROR;
    std::string message;
    // When the server answered (EXECUTION_ERROR etc.), its whole response; otherwise empty.
    rpcv1::RpcResponse response;
};

const char* to_string(rpcv1::ErrorCode code);

// A request under construction. correlation_id is assigned by the client at call() when empty
// (unique per client); set one yourself to correlate with your own records. reply_to is filled
// by the client. The correlation metadata travels to the server and back in the response.
class RpcRequest {
  public:
    RpcRequest() = default;
    explicit RpcRequest(rpcv1::RpcRequest proto) : proto_(std::move(proto)) {}

    static RpcRequest lifecycle(std::string client_id, std::string target,
                                rpcv1::Operation operation, rpcv1::LifecycleRequest payload,
                                std::chrono::milliseconds timeout);
    static RpcRequest health_check(std::string client_id, std::string target,
                                   std::chrono::milliseconds timeout, bool verbose = false);
    static RpcRequest config_update(std::string client_id, std::string target,
                                    const std::map<std::string, std::string>& config,
                                    std::chrono::milliseconds timeout);
    static RpcRequest task(std::string client_id, std::string target, rpcv1::TaskRequest task,
                           std::chrono::milliseconds timeout);
    // Any operation without a payload (GetCapabilities, GracefulShutdown, ForceShutdown, ...).
    static RpcRequest operation(std::string client_id, std::string target,
                                rpcv1::Operation operation, std::chrono::milliseconds timeout);

    // Payload helpers mirroring the seed's CollectorLifecycleRequest::start/stop.
    static rpcv1::LifecycleRequest start_payload(std::string collector, std::string instance = {});
    static rpcv1::LifecycleRequest stop_payload(std::string collector, bool graceful,
                                                std::string instance = {});

    RpcRequest& correlation_id(std::string id);
    RpcRequest& correlation(const common::v1::CorrelationMetadata& metadata);

    const rpcv1::RpcRequest& proto() const { return proto_; }
    rpcv1::RpcRequest& proto() { return proto_; }

  private:
    rpcv1::RpcRequest proto_;
};

// Response builders for servers (the client fills correlation_id, correlation metadata,
// responder and execution_time_us after the handler returns).
rpcv1::RpcResponse rpc_ok();
rpcv1::RpcResponse rpc_failure(rpcv1::ErrorCode code, std::string message);

}  // namespace daemoneye::eventbus
