// Which plugin libraries exist and which are accepted. Scans plugins.directories at start, watches
// plugins.drop_in_dir with inotify, and for every library: checks ownership and mode, records its
// SHA-256, probes it with `daemoneye-launcher --describe PATH` (sandboxed: nothing of the plugin
// runs in the agent), checks the ABI rule and name uniqueness, then hands accepted ones to the
// process manager. Refusals keep their reason for `plugins list`.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bus_port.hpp"
#include "daemoneye/agent/config.hpp"
#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/ipc/v1/ipc.pb.h"
#include "daemoneye/result.hpp"
#include "process_manager.hpp"

namespace daemoneye::agent {

struct RegistryStats {
    std::uint64_t probed = 0;
    std::uint64_t accepted = 0;
    std::uint64_t refused = 0;
    std::uint64_t changed = 0;
    std::uint64_t removed = 0;
};

// Parses the JSON that `daemoneye-launcher --describe` prints: an object with the fields of
// daemoneye.bus.v1.PluginManifest (snake_case or lowerCamelCase), optionally under "manifest".
Result<daemoneye::bus::v1::PluginManifest> parse_manifest_json(const std::string& json);

// What a plugin may declare in `publishes`: a valid pattern that reaches neither control.* (the
// agent's and the launcher's) nor events.detection.alert (the agent's alerts). The reason when
// not. Checked here, not only by the launcher: the plugin's own code runs in the probe process
// and could print a manifest of its choosing.
Status check_publish_declaration(const std::string& pattern);

// The ownership/mode rule: a regular file (not a symlink), owned by root or `agent_uid`, not
// writable by group or others. Returns the reason when refused.
Status check_file_safety(const std::filesystem::path& path, uid_t agent_uid);

class PluginRegistry {
  public:
    PluginRegistry(boost::asio::io_context& io, const Config& config, ProcessManager& pm,
                   BusPort& bus);
    ~PluginRegistry();
    PluginRegistry(const PluginRegistry&) = delete;
    PluginRegistry& operator=(const PluginRegistry&) = delete;

    // Probes everything in plugins.directories and the drop-in dir (not starting anything).
    boost::asio::awaitable<void> scan();
    // Starts the inotify watch on the drop-in dir (creating it 0755 if missing).
    Status watch();
    void stop();

    std::vector<daemoneye::ipc::v1::PluginInfo> list() const;
    // Waits (up to `timeout`) until the drop-in file `file_name` has been decided on.
    boost::asio::awaitable<std::optional<daemoneye::ipc::v1::PluginInfo>> wait_for_drop_in(
        std::string file_name, std::chrono::milliseconds timeout);
    // Removes a drop-in plugin's file (its collectors stop when the watch sees it go).
    boost::asio::awaitable<Status> remove(std::string name);

    const RegistryStats& stats() const;
    bool watching() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace daemoneye::agent
