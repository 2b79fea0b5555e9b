#include "netmond_plugin.hpp"

#include <daemoneye/sdk/config_map.hpp>

namespace daemoneye::netmond {

NetmondPlugin::NetmondPlugin(sdk::Host& host, const sdk::Config& config) {
    CollectorIo io;
    io.emit = [&host](const char* topic, const char* type, const std::string& bytes) {
        return host.emitter().emit_bytes(topic, type, bytes.data(), bytes.size());
    };
    io.log = [&host](de_log_level level, const std::string& msg) {
        host.log(static_cast<sdk::LogLevel>(level), msg);
    };
    io.now_unix_nanos = [&host] {
        return static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(host.now().time_since_epoch())
                .count());
    };
    if (host.offers_socket_owners()) {
        // Owners through the host (under the launcher: its privileged helper), so this process
        // needs no capability to see other users' /proc/<pid>/fd.
        io.socket_owners = [&host](const std::vector<uint64_t>& inodes,
                                   std::vector<HostOwner>& owners) {
            std::vector<sdk::SocketOwner> found;
            const de_status status = host.socket_owners(inodes.data(), inodes.size(), found);
            for (auto& f : found)
                owners.push_back({f.inode, f.pid, std::move(f.comm), std::move(f.exe)});
            if (status != DE_OK) {
                host.warn("socket owners from the host failed (", de_status_name(status),
                          "); reading /proc directly for this scan");
                return false;
            }
            return true;
        };
    }
    collector_ = std::make_unique<NetmondCollector>(
        std::move(io), sdk::parse_config(config, &NetmondConfig::parse));
}

void NetmondPlugin::start() {
    collector_->start();
}
void NetmondPlugin::stop() {
    collector_->stop();
}

void NetmondPlugin::on_config(const sdk::Config& config) {
    collector_->reconfigure(sdk::parse_config(config, &NetmondConfig::parse));
}

void NetmondPlugin::on_task(const sdk::Task& task, sdk::TaskSink& sink) {
    const bool connections = task.kind() == "list_connections";
    if (!connections && task.kind() != "list_listeners") throw task.unsupported();
    auto filter = SocketFilter::parse(sdk::to_map(task.params()));
    if (!filter) throw sdk::ConfigError(filter.error());
    const auto sockets = connections ? collector_->list_connections(filter.value())
                                     : collector_->list_listeners(filter.value());
    events::v1::SocketBatch batch;
    batch.set_task_id(task.id());
    for (const auto& s : sockets) {
        *batch.add_sockets() = to_proto(s);
        if (static_cast<size_t>(batch.sockets_size()) == kTaskBatch) {
            if (sink.add(batch) != DE_OK) return;  // over the host's cap: result marked partial
            batch.clear_sockets();
        }
    }
    if (batch.sockets_size() > 0 || sockets.empty()) (void)sink.add(batch);
}

sdk::Health NetmondPlugin::health() {
    const auto h = collector_->health();
    sdk::Health out;
    out.state = h.state;
    out.errors = h.errors;
    std::string_view rest = h.detail;
    while (!rest.empty()) {
        const size_t nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        const size_t eq = line.find('=');
        if (eq != std::string_view::npos)
            out.add(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    }
    return out;
}

}  // namespace daemoneye::netmond
