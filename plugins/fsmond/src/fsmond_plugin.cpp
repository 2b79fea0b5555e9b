#include "fsmond_plugin.hpp"

#include <daemoneye/sdk/config_map.hpp>

namespace daemoneye::fsmond {

FsmondPlugin::FsmondPlugin(sdk::Host& host, const sdk::Config& config)
    : host_(host), collector_(make(sdk::parse_config(config, &FsmondConfig::parse))) {}

std::unique_ptr<FsmondCollector> FsmondPlugin::make(FsmondConfig config) {
    CollectorIo io;
    sdk::Host& host = host_;
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
    return std::make_unique<FsmondCollector>(std::move(io), std::move(config));
}

void FsmondPlugin::start() {
    auto started = collector_->start();
    if (!started) throw sdk::Error(DE_ERR_INTERNAL, "fsmond: " + started.error());
    running_ = true;
    host_.info("fsmond: watching in mode=", collector_->mode_name());
}

void FsmondPlugin::stop() {
    collector_->stop();
    running_ = false;
}

void FsmondPlugin::on_config(const sdk::Config& config) {
    // Throws before anything changes.
    auto next = make(sdk::parse_config(config, &FsmondConfig::parse));
    if (running_) {
        auto started = next->start();
        if (!started) throw sdk::Error(DE_ERR_INTERNAL, "fsmond: new config: " + started.error());
        collector_->stop();
    }
    collector_ = std::move(next);
}

void FsmondPlugin::on_task(const sdk::Task& task, sdk::TaskSink& sink) {
    events::v1::FileBatch batch;
    batch.set_task_id(task.id());
    if (task.kind() == "stat_path") {
        auto info = collector_->stat_path(sdk::to_map(task.params()));
        if (!info) {
            const bool missing = info.error().rfind("not found", 0) == 0;
            throw sdk::Error(missing ? DE_ERR_NOT_FOUND : DE_ERR_INVALID_ARGUMENT, info.error());
        }
        *batch.add_files() = std::move(info.value());
        (void)sink.add(batch);
        return;
    }
    if (task.kind() != "recent_changes") throw task.unsupported();
    auto events = collector_->recent_changes(sdk::to_map(task.params()));
    if (!events) throw sdk::ConfigError(events.error());
    for (auto& e : events.value()) {
        *batch.add_events() = std::move(e);
        if (static_cast<size_t>(batch.events_size()) == kTaskBatch) {
            if (sink.add(batch) != DE_OK) return;  // over the host's cap: result marked partial
            batch.clear_events();
        }
    }
    if (batch.events_size() > 0 || events.value().empty()) (void)sink.add(batch);
}

sdk::Health FsmondPlugin::health() {
    const auto h = collector_->health();
    sdk::Health out;
    out.state = running_ ? h.state : DE_HEALTH_HEALTHY;
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

}  // namespace daemoneye::fsmond
