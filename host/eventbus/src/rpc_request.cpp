#include "daemoneye/eventbus/rpc_request.hpp"

#include "message_encoder.hpp"

namespace daemoneye::eventbus {

namespace {

RpcRequest base(std::string client_id, std::string target, rpcv1::Operation op,
                std::chrono::milliseconds timeout) {
    RpcRequest request;  // built in place: a moved-from message still costs its destructor
    auto& r = request.proto();
    r.set_client_id(std::move(client_id));
    r.set_target(std::move(target));
    r.set_operation(op);
    r.set_timeout_ms(static_cast<std::uint64_t>(timeout.count()));
    r.mutable_timestamp()->set_unix_nanos(unix_now_ns());
    return request;
}

}  // namespace

const char* to_string(rpcv1::ErrorCode code) {
    switch (code) {
        case rpcv1::ERROR_CODE_TIMEOUT:
            return "Timeout";
        case rpcv1::ERROR_CODE_NOT_FOUND:
            return "NotFound";
        case rpcv1::ERROR_CODE_INVALID_OPERATION:
            return "InvalidOperation";
        case rpcv1::ERROR_CODE_EXECUTION_ERROR:
            return "ExecutionError";
        case rpcv1::ERROR_CODE_COMMUNICATION_ERROR:
            return "CommunicationError";
        case rpcv1::ERROR_CODE_OVERLOADED:
            return "Overloaded";
        case rpcv1::ERROR_CODE_DENIED:
            return "Denied";
        default:
            return "Unspecified";
    }
}

RpcRequest RpcRequest::lifecycle(std::string client_id, std::string target,
                                 rpcv1::Operation operation, rpcv1::LifecycleRequest payload,
                                 std::chrono::milliseconds timeout) {
    auto r = base(std::move(client_id), std::move(target), operation, timeout);
    *r.proto_.mutable_lifecycle() = std::move(payload);
    return r;
}

RpcRequest RpcRequest::health_check(std::string client_id, std::string target,
                                    std::chrono::milliseconds timeout, bool verbose) {
    auto r = base(std::move(client_id), std::move(target), rpcv1::OPERATION_HEALTH_CHECK, timeout);
    r.proto_.mutable_health_check()->set_verbose(verbose);
    return r;
}

RpcRequest RpcRequest::config_update(std::string client_id, std::string target,
                                     const std::map<std::string, std::string>& config,
                                     std::chrono::milliseconds timeout) {
    auto r = base(std::move(client_id), std::move(target), rpcv1::OPERATION_UPDATE_CONFIG, timeout);
    auto* c = r.proto_.mutable_config_update()->mutable_config();
    for (const auto& [k, v] : config) (*c)[k] = v;
    return r;
}

RpcRequest RpcRequest::task(std::string client_id, std::string target, rpcv1::TaskRequest task,
                            std::chrono::milliseconds timeout) {
    auto r = base(std::move(client_id), std::move(target), rpcv1::OPERATION_EXECUTE_TASK, timeout);
    *r.proto_.mutable_task() = std::move(task);
    return r;
}

RpcRequest RpcRequest::operation(std::string client_id, std::string target,
                                 rpcv1::Operation operation, std::chrono::milliseconds timeout) {
    return base(std::move(client_id), std::move(target), operation, timeout);
}

rpcv1::LifecycleRequest RpcRequest::start_payload(std::string collector, std::string instance) {
    rpcv1::LifecycleRequest l;
    l.set_collector(std::move(collector));
    l.set_instance(std::move(instance));
    return l;
}

rpcv1::LifecycleRequest RpcRequest::stop_payload(std::string collector, bool graceful,
                                                 std::string instance) {
    rpcv1::LifecycleRequest l;
    l.set_collector(std::move(collector));
    l.set_instance(std::move(instance));
    l.set_graceful(graceful);
    return l;
}

RpcRequest& RpcRequest::correlation_id(std::string id) {
    proto_.set_correlation_id(std::move(id));
    return *this;
}

RpcRequest& RpcRequest::correlation(const common::v1::CorrelationMetadata& metadata) {
    *proto_.mutable_correlation() = metadata;
    return *this;
}

rpcv1::RpcResponse rpc_ok() {
    rpcv1::RpcResponse r;
    r.set_status(rpcv1::STATUS_OK);
    return r;
}

rpcv1::RpcResponse rpc_failure(rpcv1::ErrorCode code, std::string message) {
    rpcv1::RpcResponse r;
    r.set_status(rpcv1::STATUS_ERROR);
    r.mutable_error()->set_code(code);
    r.mutable_error()->set_message(std::move(message));
    return r;
}

}  // namespace daemoneye::eventbus
