// The bridge between one plugin instance and the bus: Hello (manifest + sandbox layers + pid),
// Welcome (config), create/start, RPCs on control.collector.<name>.<instance>, heartbeats on
// control.health.heartbeat, sandbox violations on control.health.diagnostics, graceful stop.
//
// Threads: the calling thread is the control thread (every plugin call happens on it); the bus
// link has its own thread; a monitor thread sends heartbeats, reports violations and turns
// SIGTERM/SIGINT (blocked everywhere by main) into a stop.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "daemoneye/launcher/bridge/bus_link.hpp"
#include "daemoneye/launcher/exit_code.hpp"
#include "daemoneye/launcher/loader.hpp"
#include "daemoneye/launcher/options.hpp"
#include "daemoneye/launcher/privsep/owner_helper.hpp"
#include "daemoneye/launcher/sandbox/layer.hpp"

namespace daemoneye::launcher {

struct BridgeConfig {
    std::string instance_id;
    std::map<std::string, std::string> config_overrides;
    std::size_t emit_buffer_messages = 10000;
    std::size_t emit_buffer_bytes = 8u << 20;
    std::chrono::milliseconds handshake_timeout{30000};
    std::chrono::milliseconds shutdown_flush_timeout{5000};
    ViolationAction on_violation = ViolationAction::Deny;
    // net.read: the socket-owner helper behind de_host_api::socket_owners (nullptr: not offered).
    privsep::OwnerHelperClient* socket_owners = nullptr;
    // proc.read: the helper behind de_host_api::process_links / open_process_exe (nullptr: not
    // offered). The same client as socket_owners when both are granted (one helper process).
    privsep::OwnerHelperClient* process_info = nullptr;
};

// Runs the instance until it is stopped or the bus is lost; returns the exit code.
ExitCode run_bridge(BusLink& link, const PluginLibrary& plugin, const SandboxReport& sandbox,
                    const BridgeConfig& config);

}  // namespace daemoneye::launcher
