#include "daemoneye/eventbus/collector_rpc_client.hpp"

#include "daemoneye/eventbus/protocol.hpp"

namespace daemoneye::eventbus {

CollectorRpcClient::CollectorRpcClient(BusClient& client, std::string client_id,
                                       std::chrono::milliseconds default_timeout)
    : client_(client), client_id_(std::move(client_id)), timeout_(default_timeout) {}

std::string CollectorRpcClient::target(const std::string& collector, const std::string& instance) {
    return instance.empty() ? collector_target(collector)
                            : collector_instance_target(collector, instance);
}

CollectorRpcClient::Reply CollectorRpcClient::call(RpcRequest request,
                                                   std::chrono::milliseconds timeout) {
    return client_.call(std::move(request), timeout.count() > 0 ? timeout : timeout_);
}

CollectorRpcClient::Reply CollectorRpcClient::start(const std::string& collector,
                                                    const std::string& instance) {
    auto t = target(collector, instance);
    return call(RpcRequest::lifecycle(client_id_, std::move(t), rpcv1::OPERATION_START,
                                      RpcRequest::start_payload(collector, instance), timeout_));
}

CollectorRpcClient::Reply CollectorRpcClient::stop(const std::string& collector, bool graceful,
                                                   const std::string& instance) {
    auto t = target(collector, instance);
    return call(RpcRequest::lifecycle(client_id_, std::move(t), rpcv1::OPERATION_STOP,
                                      RpcRequest::stop_payload(collector, graceful, instance),
                                      timeout_));
}

CollectorRpcClient::Reply CollectorRpcClient::restart(const std::string& collector,
                                                      const std::string& instance) {
    auto t = target(collector, instance);
    return call(RpcRequest::lifecycle(client_id_, std::move(t), rpcv1::OPERATION_RESTART,
                                      RpcRequest::start_payload(collector, instance), timeout_));
}

CollectorRpcClient::Reply CollectorRpcClient::health_check(const std::string& collector,
                                                           const std::string& instance,
                                                           bool verbose) {
    return call(
        RpcRequest::health_check(client_id_, target(collector, instance), timeout_, verbose));
}

CollectorRpcClient::Reply CollectorRpcClient::update_config(
    const std::string& collector, const std::string& instance,
    const std::map<std::string, std::string>& config) {
    return call(
        RpcRequest::config_update(client_id_, target(collector, instance), config, timeout_));
}

CollectorRpcClient::Reply CollectorRpcClient::get_capabilities(const std::string& collector,
                                                               const std::string& instance) {
    return call(RpcRequest::operation(client_id_, target(collector, instance),
                                      rpcv1::OPERATION_GET_CAPABILITIES, timeout_));
}

CollectorRpcClient::Reply CollectorRpcClient::execute_task(const std::string& collector,
                                                           const std::string& instance,
                                                           rpcv1::TaskRequest task) {
    return call(
        RpcRequest::task(client_id_, target(collector, instance), std::move(task), timeout_));
}

CollectorRpcClient::Reply CollectorRpcClient::graceful_shutdown(const std::string& collector,
                                                                const std::string& instance) {
    return call(RpcRequest::operation(client_id_, target(collector, instance),
                                      rpcv1::OPERATION_GRACEFUL_SHUTDOWN, timeout_));
}

}  // namespace daemoneye::eventbus
