#include "procmond_plugin.hpp"

#include "daemoneye/sdk/events.hpp"
#include "event_encoding.hpp"

namespace procmond {

namespace sdk = daemoneye::sdk;

Config config_from(const sdk::Config& config) {
    KeyValues items(config.entries().begin(), config.entries().end());
    auto parsed = parse_config(items);
    if (!parsed) throw sdk::ConfigError(parsed.reason());
    return *parsed;
}

EventSink::Status ProcmondPlugin::HostSink::emit(const char* topic, const char* type_name,
                                                 const std::string& payload) {
    switch (host_.emitter().emit_bytes(topic, type_name, payload.data(), payload.size())) {
        case DE_OK:
            return Status::kOk;
        case DE_ERR_BACKPRESSURE:
            return Status::kBackpressure;
        case DE_ERR_CLOSED:
            return Status::kClosed;
        default:
            return Status::kRejected;
    }
}

void ProcmondPlugin::HostSink::log(Level level, const std::string& message) {
    switch (level) {
        case Level::kDebug:
            host_.debug(message);
            break;
        case Level::kInfo:
            host_.info(message);
            break;
        case Level::kWarn:
            host_.warn(message);
            break;
        case Level::kError:
            host_.error(message);
            break;
    }
}

ProcmondPlugin::ProcmondPlugin(sdk::Host& host, const sdk::Config& config)
    : host_(host),
      config_(config_from(config)),
      sink_(host),
      reader_(host.offers_process_links() && host.offers_open_process_exe()
                  ? std::make_unique<HostReader>(host)
                  : nullptr),
      collector_(std::make_unique<ProcessCollector>(config_, sink_, "/proc", reader_.get())) {
    if (reader_) {
        host_.info(
            "other users' exe/cwd/ns links and executables come from the launcher's "
            "helper (de_host_api::process_links, open_process_exe)");
    }
}

ProcmondPlugin::~ProcmondPlugin() noexcept {
    collector_->stop();
}

void ProcmondPlugin::start() {
    auto started = collector_->start();
    if (!started) throw sdk::Error(DE_ERR_INTERNAL, "procmond: " + started.reason());
}

void ProcmondPlugin::stop() {
    collector_->stop();
}

void ProcmondPlugin::on_config(const sdk::Config& config) {
    config_ = config_from(config);  // throws, leaving the old config in force
    collector_->update_config(config_);
}

namespace {

KeyValues params_of(const sdk::Task& task) {
    return KeyValues(task.params().entries().begin(), task.params().entries().end());
}

[[noreturn]] void fail_task(const std::string& kind, const std::string& reason) {
    const bool not_found = reason.find("no process with pid") != std::string::npos;
    throw sdk::Error(not_found ? DE_ERR_NOT_FOUND : DE_ERR_INTERNAL, kind + ": " + reason);
}

void add_batches(const std::vector<Process>& processes, const sdk::Task& task,
                 std::uint32_t batch_size, sdk::TaskSink& sink) {
    std::vector<const Process*> ptrs;
    ptrs.reserve(processes.size());
    for (const auto& p : processes) ptrs.push_back(&p);
    for (const auto& batch : to_batches(ptrs, batch_size, task.id())) {
        if (sink.add(batch) != DE_OK) break;  // over the host's cap: the result is partial
    }
}

}  // namespace

void ProcmondPlugin::on_task(const sdk::Task& task, sdk::TaskSink& sink) {
    const KeyValues params = params_of(task);
    if (task.kind() == kTaskEnumerate) {
        auto filter = parse_filter(params);
        if (!filter) throw sdk::ConfigError(task.kind() + ": " + filter.reason());
        auto found = collector_->enumerate(*filter);
        if (!found) fail_task(task.kind(), found.reason());
        add_batches(*found, task, config_.batch_size, sink);
    } else if (task.kind() == kTaskHash) {
        auto pid = parse_pid_param(params);
        if (!pid) throw sdk::ConfigError(task.kind() + ": " + pid.reason());
        auto p = collector_->hash_executable(*pid);
        if (!p) fail_task(task.kind(), p.reason());
        add_batches({*p}, task, config_.batch_size, sink);
    } else if (task.kind() == kTaskTree) {
        auto pid = parse_pid_param(params);
        if (!pid) throw sdk::ConfigError(task.kind() + ": " + pid.reason());
        auto tree = collector_->process_tree(*pid);
        if (!tree) fail_task(task.kind(), tree.reason());
        add_batches(*tree, task, config_.batch_size, sink);
    } else {
        throw task.unsupported();
    }
}

sdk::Health ProcmondPlugin::health() {
    const CollectorHealth h = collector_->health();
    sdk::Health out;
    switch (h.state) {
        case CollectorHealth::State::kHealthy:
            out.state = DE_HEALTH_HEALTHY;
            break;
        case CollectorHealth::State::kDegraded:
            out.state = DE_HEALTH_DEGRADED;
            break;
        case CollectorHealth::State::kUnhealthy:
            out.state = DE_HEALTH_UNHEALTHY;
            break;
    }
    out.errors = h.errors;
    for (const auto& [key, value] : h.detail) {
        // The SDK appends the host emitter's own events_emitted/events_dropped.
        if (key == "events_emitted" || key == "events_dropped") continue;
        out.add(key, value);
    }
    return out;
}

}  // namespace procmond
