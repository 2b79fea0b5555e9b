// Serves the RPCs addressed to control.collector.<name>.<instance> by calling the plugin.
// Lifecycle start/restart belong to the agent's process manager (control.collector.<name>);
// here a stop is graceful: the response goes out, then the bridge stops the plugin.
#pragma once

#include <functional>
#include <string>

#include "daemoneye/launcher/bridge/bus_link.hpp"
#include "daemoneye/launcher/bridge/host_context.hpp"
#include "daemoneye/launcher/bridge/plugin_instance.hpp"
#include "daemoneye/launcher/manifest.hpp"
#include "daemoneye/launcher/privsep/owner_helper.hpp"
#include "daemoneye/launcher/sandbox/layer.hpp"
#include "daemoneye/rpc/v1/rpc.pb.h"

namespace daemoneye::launcher {

struct RpcContext {
    PluginInstance& plugin;
    HostContext& host;
    const Manifest& manifest;
    const SandboxReport& sandbox;
    std::size_t max_result_bytes;
    std::function<std::uint64_t()> uptime_ms;
    std::function<std::size_t()> buffer_used;
    // net.read: the socket-owner helper, reported in the health check (nullptr: none).
    privsep::OwnerHelperClient* owner_helper = nullptr;
    // The bus link's counters, reported as launcher.bus.* (empty function: not reported).
    std::function<std::optional<BusLinkStats>()> bus_stats;
};

struct RpcOutcome {
    rpc::v1::RpcResponse response;
    bool stop_requested = false;
};

RpcOutcome handle_rpc(const rpc::v1::RpcRequest& request, RpcContext& ctx);

}  // namespace daemoneye::launcher
