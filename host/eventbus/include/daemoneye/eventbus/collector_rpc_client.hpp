// Lifecycle RPCs against collectors, as in the seed's `CollectorRpcClient`. Targets:
// control.collector.<name> (the agent's process manager: works even when the collector is not
// running) and control.collector.<name>.<instance> (that instance's launcher bridge).
#pragma once

#include <chrono>
#include <map>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "daemoneye/eventbus/bus_client.hpp"
#include "daemoneye/eventbus/rpc_request.hpp"

namespace daemoneye::eventbus {

class CollectorRpcClient {
  public:
    using Reply = boost::asio::awaitable<Result<rpcv1::RpcResponse, RpcError>>;

    // `client` must outlive this object. client_id goes into every request (RpcRequest.client_id).
    CollectorRpcClient(BusClient& client, std::string client_id,
                       std::chrono::milliseconds default_timeout = std::chrono::seconds(30));

    Reply start(const std::string& collector, const std::string& instance = {});
    Reply stop(const std::string& collector, bool graceful = true,
               const std::string& instance = {});
    Reply restart(const std::string& collector, const std::string& instance = {});
    // Health of the collector (instance empty) or of one instance through its launcher.
    Reply health_check(const std::string& collector, const std::string& instance = {},
                       bool verbose = false);
    Reply update_config(const std::string& collector, const std::string& instance,
                        const std::map<std::string, std::string>& config);
    Reply get_capabilities(const std::string& collector, const std::string& instance = {});
    Reply execute_task(const std::string& collector, const std::string& instance,
                       rpcv1::TaskRequest task);
    Reply graceful_shutdown(const std::string& collector, const std::string& instance);

    // The generic form: any request, this client's default timeout when `timeout` is 0.
    Reply call(RpcRequest request, std::chrono::milliseconds timeout = {});

    void set_default_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  private:
    static std::string target(const std::string& collector, const std::string& instance);
    BusClient& client_;
    std::string client_id_;
    std::chrono::milliseconds timeout_;
};

}  // namespace daemoneye::eventbus
