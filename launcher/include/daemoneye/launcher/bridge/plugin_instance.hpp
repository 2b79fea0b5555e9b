// One plugin instance behind the C ABI. Each call is made from the control thread only, checks
// the return code, copies the plugin's error message, and catches anything a plugin throws
// across the boundary (which the ABI forbids, but a raw C++ plugin may do anyway).
// Holds the library, so the code outlives every object it created.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/dll/shared_library.hpp>

#include "daemoneye/launcher/bridge/host_context.hpp"
#include "daemoneye/plugin_api.h"
#include "daemoneye/result.hpp"
#include "daemoneye/rpc/v1/rpc.pb.h"

namespace daemoneye::launcher {

struct PluginHealth {
    de_health_state state = DE_HEALTH_HEALTHY;
    std::uint64_t errors = 0;
    std::vector<std::pair<std::string, std::string>> details;  // "key=value" lines
};

class PluginInstance {
  public:
    PluginInstance(std::shared_ptr<boost::dll::shared_library> library,
                   const de_plugin_descriptor& descriptor, HostContext& host);
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    Status create(const ConfigStore& config);
    Status start();
    Status stop();
    void destroy();
    bool running() const { return running_; }

    Result<PluginHealth> health();
    Status configure(const ConfigStore& config);
    bool supports_tasks() const { return descriptor_.on_task != nullptr; }
    bool supports_config() const { return descriptor_.on_config != nullptr; }

    // Runs one task; records beyond `max_result_bytes` are refused (the result is partial).
    Result<rpc::v1::TaskResult> task(const rpc::v1::TaskRequest& request,
                                     std::size_t max_result_bytes);

  private:
    std::shared_ptr<boost::dll::shared_library> library_;
    const de_plugin_descriptor& descriptor_;
    HostContext& host_;
    de_plugin* self_ = nullptr;
    bool running_ = false;
};

}  // namespace daemoneye::launcher
