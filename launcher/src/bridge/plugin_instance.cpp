#include "daemoneye/launcher/bridge/plugin_instance.hpp"

#include <cstring>
#include <exception>

namespace daemoneye::launcher {
namespace {

de_error fresh_error() {
    de_error e{};
    e.struct_size = sizeof(de_error);
    return e;
}

std::string message_of(de_error& e, de_status status) {
    e.message[DE_ERROR_MESSAGE_CAPACITY - 1] = '\0';
    std::string out = "status " + std::to_string(static_cast<int>(status));
    if (e.message[0] != '\0') out += ": " + std::string(e.message);
    return out;
}

// Calls `fn`, turning an exception that crossed the ABI into an error naming the call.
template <class Fn>
Status guarded(const char* what, Fn&& fn) {
    try {
        return fn();
    } catch (const std::exception& e) {
        return fail(std::string(what) + " threw across the ABI boundary: " + e.what());
    } catch (...) {
        return fail(std::string(what) + " threw across the ABI boundary (non-std exception)");
    }
}

struct TaskSinkState {
    rpc::v1::TaskResult* result;
    std::size_t max_bytes;
    std::size_t bytes = 0;
};

de_status add_record(void* ctx, const char* type, const std::uint8_t* data, std::size_t len) {
    auto* s = static_cast<TaskSinkState*>(ctx);
    if (s == nullptr || type == nullptr || (data == nullptr && len != 0))
        return DE_ERR_INVALID_ARGUMENT;
    try {
        std::size_t type_len = strnlen(type, 257);
        if (type_len == 0 || type_len > 256) return DE_ERR_INVALID_ARGUMENT;
        if (s->bytes + len + type_len + 16 > s->max_bytes) {
            s->result->set_partial(true);
            return DE_ERR_BACKPRESSURE;
        }
        auto* rec = s->result->add_records();
        rec->set_type(std::string(type, type_len));
        rec->set_data(reinterpret_cast<const char*>(data), len);
        s->bytes += len + type_len + 16;
        return DE_OK;
    } catch (...) {
        return DE_ERR_INTERNAL;
    }
}

}  // namespace

PluginInstance::PluginInstance(std::shared_ptr<boost::dll::shared_library> library,
                               const de_plugin_descriptor& descriptor, HostContext& host)
    : library_(std::move(library)), descriptor_(descriptor), host_(host) {}

PluginInstance::~PluginInstance() {
    destroy();
}

Status PluginInstance::create(const ConfigStore& config) {
    return guarded("create()", [&]() -> Status {
        de_error err = fresh_error();
        de_plugin* created = nullptr;
        de_status rc = descriptor_.create(host_.api(), config.view(), &created, &err);
        if (rc != DE_OK || created == nullptr) {
            // A plugin that failed but still returned an instance is not trusted with destroy().
            return fail("create() failed: " + message_of(err, rc != DE_OK ? rc : DE_ERR_INTERNAL));
        }
        self_ = created;
        return {};
    });
}

Status PluginInstance::start() {
    if (self_ == nullptr) return fail("start() before create()");
    return guarded("start()", [&]() -> Status {
        de_error err = fresh_error();
        de_status st = descriptor_.start(self_, &err);
        if (st != DE_OK) return fail("start() failed: " + message_of(err, st));
        running_ = true;
        return {};
    });
}

Status PluginInstance::stop() {
    if (self_ == nullptr) return {};
    running_ = false;
    return guarded("stop()", [&]() -> Status {
        de_error err = fresh_error();
        de_status st = descriptor_.stop(self_, &err);
        if (st != DE_OK) return fail("stop() failed: " + message_of(err, st));
        return {};
    });
}

void PluginInstance::destroy() {
    if (self_ == nullptr) return;
    de_plugin* self = self_;
    self_ = nullptr;
    running_ = false;
    (void)guarded("destroy()", [&]() -> Status {
        descriptor_.destroy(self);
        return {};
    });
}

Result<PluginHealth> PluginInstance::health() {
    PluginHealth out;
    out.state = running_ ? DE_HEALTH_HEALTHY : DE_HEALTH_UNHEALTHY;
    if (descriptor_.health == nullptr || self_ == nullptr) return out;
    de_health h{};
    h.struct_size = sizeof(de_health);
    h.state = DE_HEALTH_HEALTHY;
    auto st = guarded("health()", [&]() -> Status {
        de_status rc = descriptor_.health(self_, &h);
        if (rc != DE_OK)
            return fail("health() returned status " + std::to_string(static_cast<int>(rc)));
        return {};
    });
    if (!st) return unexpected(st.error());
    h.detail[DE_HEALTH_DETAIL_CAPACITY - 1] = '\0';
    out.state = (h.state >= DE_HEALTH_HEALTHY && h.state <= DE_HEALTH_UNHEALTHY)
                    ? h.state
                    : DE_HEALTH_DEGRADED;
    out.errors = h.errors;
    std::string_view detail(h.detail);
    while (!detail.empty()) {
        auto nl = detail.find('\n');
        auto line = detail.substr(0, nl);
        if (!line.empty()) {
            auto eq = line.find('=');
            if (eq == std::string_view::npos) {
                out.details.emplace_back(std::string(line), "");
            } else {
                out.details.emplace_back(std::string(line.substr(0, eq)),
                                         std::string(line.substr(eq + 1)));
            }
        }
        if (nl == std::string_view::npos) break;
        detail.remove_prefix(nl + 1);
    }
    return out;
}

Status PluginInstance::configure(const ConfigStore& config) {
    if (descriptor_.on_config == nullptr)
        return fail("plugin does not accept config while running (restart it)");
    if (self_ == nullptr) return fail("on_config() before create()");
    return guarded("on_config()", [&]() -> Status {
        de_error err = fresh_error();
        de_status st = descriptor_.on_config(self_, config.view(), &err);
        if (st != DE_OK) return fail("on_config() refused the config: " + message_of(err, st));
        return {};
    });
}

Result<rpc::v1::TaskResult> PluginInstance::task(const rpc::v1::TaskRequest& request,
                                                 std::size_t max_result_bytes) {
    if (descriptor_.on_task == nullptr) return fail("plugin serves no tasks");
    if (self_ == nullptr) return fail("task before create()");
    rpc::v1::TaskResult result;
    result.set_task_id(request.task_id());
    result.set_source(host_.instance_id());
    std::map<std::string, std::string> params(request.params().begin(), request.params().end());
    ConfigStore param_store(std::move(params));
    de_task task{};
    task.struct_size = sizeof(de_task);
    task.task_id = request.task_id().c_str();
    task.kind = request.kind().c_str();
    task.params = param_store.view();
    task.deadline_unix_nanos = request.deadline_unix_nanos();
    TaskSinkState state{&result, max_result_bytes};
    de_task_sink sink{};
    sink.struct_size = sizeof(de_task_sink);
    sink.sink_ctx = &state;
    sink.add_record = &add_record;
    auto st = guarded("on_task()", [&]() -> Status {
        de_error err = fresh_error();
        de_status rc = descriptor_.on_task(self_, &task, &sink, &err);
        if (rc != DE_OK)
            return fail("task '" + request.kind() + "' failed: " + message_of(err, rc));
        return {};
    });
    if (!st) return unexpected(st.error());
    return result;
}

}  // namespace daemoneye::launcher
