#include "daemoneye/launcher/bridge/host_context.hpp"

#include <cerrno>

#include <spdlog/spdlog.h>

#include <cstring>
#include <ctime>

namespace daemoneye::launcher {
namespace {

constexpr unsigned kLogLinesPerSecond = 50;
constexpr std::size_t kMaxLogLine = 4096;
constexpr std::size_t kMaxTypeName = 256;

}  // namespace

ConfigStore::ConfigStore(std::map<std::string, std::string> values) : values_(std::move(values)) {
    items_.reserve(values_.size());
    for (const auto& [k, v] : values_) items_.push_back(de_kv{k.c_str(), v.c_str()});
    view_.struct_size = sizeof(de_config);
    view_.count = items_.size();
    view_.items = items_.data();
}

const char* ConfigStore::get(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : it->second.c_str();
}

HostContext::HostContext(std::string instance_id, std::string plugin_name, TopicFilter publishes,
                         EmitBuffer& events, std::size_t max_payload_bytes,
                         privsep::OwnerHelperClient* socket_owners,
                         privsep::OwnerHelperClient* process_info)
    : instance_id_(std::move(instance_id)),
      plugin_name_(std::move(plugin_name)),
      publishes_(std::move(publishes)),
      events_(events),
      max_payload_bytes_(max_payload_bytes),
      socket_owners_(socket_owners),
      process_info_(process_info),
      config_(std::make_shared<ConfigStore>(std::map<std::string, std::string>{})) {
    api_.struct_size = sizeof(de_host_api);
    api_.abi_major = DE_PLUGIN_ABI_MAJOR;
    api_.abi_minor = DE_PLUGIN_ABI_MINOR;
    api_.host_ctx = this;
    api_.emit = &HostContext::emit_fn;
    api_.log = &HostContext::log_fn;
    api_.now_unix_nanos = &HostContext::now_fn;
    api_.config_get = &HostContext::config_get_fn;
    api_.instance_id = instance_id_.c_str();
    api_.socket_owners = socket_owners_ != nullptr ? &HostContext::socket_owners_fn : nullptr;
    api_.process_links = process_info_ != nullptr ? &HostContext::process_links_fn : nullptr;
    api_.open_process_exe = process_info_ != nullptr ? &HostContext::open_process_exe_fn : nullptr;
}

void HostContext::set_config(std::shared_ptr<const ConfigStore> next) {
    std::lock_guard lock(config_mutex_);
    if (config_) previous_configs_.push_back(std::move(config_));
    config_ = std::move(next);
}

std::shared_ptr<const ConfigStore> HostContext::config() const {
    std::lock_guard lock(config_mutex_);
    return config_;
}

std::uint64_t HostContext::unix_nanos() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

de_status HostContext::emit(const char* topic, const char* type, const std::uint8_t* data,
                            std::size_t len) {
    if (topic == nullptr || type == nullptr || (data == nullptr && len != 0)) {
        count_error();
        return DE_ERR_INVALID_ARGUMENT;
    }
    std::size_t type_len = strnlen(type, kMaxTypeName + 1);
    if (type_len == 0 || type_len > kMaxTypeName || len > max_payload_bytes_) {
        count_error();
        return DE_ERR_INVALID_ARGUMENT;
    }
    std::size_t topic_len = strnlen(topic, 256);
    std::string_view topic_view(topic, topic_len);
    if (topic_len > 255 || !publishes_.allows(topic_view)) {
        count_error();
        return DE_ERR_DENIED;
    }
    return events_.push(topic_view, std::string_view(type, type_len), data, len, unix_nanos());
}

void HostContext::log(de_log_level level, const char* msg) {
    if (msg == nullptr) return;
    {
        std::lock_guard lock(log_mutex_);
        auto now = std::chrono::steady_clock::now();
        if (now - log_window_ >= std::chrono::seconds(1)) {
            if (auto s = log_suppressed_.exchange(0); s != 0) {
                spdlog::warn("plugin {}: {} log lines suppressed (over {}/s)", plugin_name_, s,
                             kLogLinesPerSecond);
            }
            log_window_ = now;
            log_in_window_ = 0;
        }
        if (++log_in_window_ > kLogLinesPerSecond) {
            log_suppressed_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
    }
    std::string_view text(msg, strnlen(msg, kMaxLogLine));
    auto lvl = spdlog::level::info;
    switch (level) {
        case DE_LOG_TRACE:
            lvl = spdlog::level::trace;
            break;
        case DE_LOG_DEBUG:
            lvl = spdlog::level::debug;
            break;
        case DE_LOG_INFO:
            lvl = spdlog::level::info;
            break;
        case DE_LOG_WARN:
            lvl = spdlog::level::warn;
            break;
        case DE_LOG_ERROR:
            lvl = spdlog::level::err;
            break;
    }
    spdlog::log(lvl, "plugin {}: {}", plugin_name_, text);
}

de_status HostContext::emit_fn(void* ctx, const char* topic, const char* type,
                               const std::uint8_t* data, std::size_t len) {
    if (ctx == nullptr) return DE_ERR_INVALID_ARGUMENT;
    try {
        return static_cast<HostContext*>(ctx)->emit(topic, type, data, len);
    } catch (...) {
        return DE_ERR_INTERNAL;  // e.g. bad_alloc copying the payload
    }
}

void HostContext::log_fn(void* ctx, de_log_level level, const char* msg) {
    if (ctx == nullptr) return;
    try {
        static_cast<HostContext*>(ctx)->log(level, msg);
    } catch (...) {
    }
}

std::uint64_t HostContext::now_fn(void* /*ctx*/) {
    return unix_nanos();
}

const char* HostContext::config_get_fn(void* ctx, const char* key) {
    if (ctx == nullptr || key == nullptr) return nullptr;
    try {
        auto* self = static_cast<HostContext*>(ctx);
        std::lock_guard lock(self->config_mutex_);
        return self->config_->get(key);
    } catch (...) {
        return nullptr;
    }
}

de_status HostContext::socket_owners_fn(void* ctx, const std::uint64_t* inodes, std::size_t count,
                                        de_socket_owner_fn found, void* found_ctx) {
    if (ctx == nullptr) return DE_ERR_INVALID_ARGUMENT;
    auto* self = static_cast<HostContext*>(ctx);
    try {
        if (self->socket_owners_ == nullptr) return DE_ERR_UNSUPPORTED;
        if (found == nullptr || (inodes == nullptr && count != 0) || count > DE_SOCKET_OWNERS_MAX) {
            self->count_error();
            return DE_ERR_INVALID_ARGUMENT;
        }
        if (count == 0) return DE_OK;
        auto st = self->socket_owners_->lookup(
            std::span<const std::uint64_t>(inodes, count), [&](const privsep::OwnerRecord& r) {
                found(found_ctx, r.inode, r.pid, r.comm.c_str(), r.exe.c_str());
            });
        if (!st) {
            self->count_error();
            // First failure and then every 100th: a dead helper must not flood the log.
            if (self->socket_owner_failures_.fetch_add(1, std::memory_order_relaxed) % 100 == 0) {
                spdlog::warn("plugin {}: socket_owners: {}", self->plugin_name_,
                             st.error().message);
            }
            return DE_ERR_INTERNAL;
        }
        return DE_OK;
    } catch (...) {
        return DE_ERR_INTERNAL;  // bad_alloc building the request
    }
}

void HostContext::helper_failure(const char* what, const std::string& message) {
    count_error();
    // First failure and then every 100th: a dead helper must not flood the log.
    if (process_info_failures_.fetch_add(1, std::memory_order_relaxed) % 100 == 0) {
        spdlog::warn("plugin {}: {}: {}", plugin_name_, what, message);
    }
}

de_status HostContext::process_links_fn(void* ctx, std::uint32_t pid, de_process_links_fn found,
                                        void* found_ctx) {
    if (ctx == nullptr) return DE_ERR_INVALID_ARGUMENT;
    auto* self = static_cast<HostContext*>(ctx);
    try {
        if (self->process_info_ == nullptr) return DE_ERR_UNSUPPORTED;
        if (found == nullptr || pid == 0 || pid > privsep::kMaxPid) {
            self->count_error();
            return DE_ERR_INVALID_ARGUMENT;
        }
        auto r = self->process_info_->links(pid);
        if (!r) {
            self->helper_failure("process_links", r.error().message);
            return DE_ERR_INTERNAL;
        }
        if (r->error != 0) return DE_ERR_NOT_FOUND;
        std::vector<const char*> names, links;
        std::vector<std::int32_t> errs;
        for (const auto& ns : r->namespaces) {
            names.push_back(ns.name.c_str());
            links.push_back(ns.link.c_str());
            errs.push_back(ns.error);
        }
        de_process_links l{};
        l.struct_size = sizeof l;
        l.pid = r->pid;
        l.exe_errno = r->exe_errno;
        l.exe = r->exe.c_str();
        l.exe_dev = r->exe_dev;
        l.exe_ino = r->exe_ino;
        l.exe_mtime_ns = r->exe_mtime_ns;
        l.exe_ctime_ns = r->exe_ctime_ns;
        l.exe_size = r->exe_size;
        l.exe_mode = r->exe_mode;
        l.exe_uid = r->exe_uid;
        l.exe_nlink = r->exe_nlink;
        l.cwd_errno = r->cwd_errno;
        l.cwd = r->cwd.c_str();
        l.ns_count = names.size();
        l.ns_names = names.data();
        l.ns_links = links.data();
        l.ns_errnos = errs.data();
        l.root_exe_errno = r->root_exe_errno;
        l.root_exe_dev = r->root_exe_dev;
        l.root_exe_ino = r->root_exe_ino;
        l.image_fingerprint = r->image_fingerprint;
        found(found_ctx, &l);
        return DE_OK;
    } catch (...) {
        return DE_ERR_INTERNAL;
    }
}

de_status HostContext::open_process_exe_fn(void* ctx, std::uint32_t pid, int* fd_out) {
    if (ctx == nullptr) return DE_ERR_INVALID_ARGUMENT;
    auto* self = static_cast<HostContext*>(ctx);
    if (fd_out != nullptr) *fd_out = -1;
    try {
        if (self->process_info_ == nullptr) return DE_ERR_UNSUPPORTED;
        if (fd_out == nullptr || pid == 0 || pid > privsep::kMaxPid) {
            self->count_error();
            return DE_ERR_INVALID_ARGUMENT;
        }
        auto r = self->process_info_->open_exe(pid);
        if (!r) {
            self->helper_failure("open_process_exe", r.error().message);
            return DE_ERR_INTERNAL;
        }
        if (r->error == ENOENT || r->error == ESRCH) return DE_ERR_NOT_FOUND;
        if (r->error != 0) return DE_ERR_DENIED;
        *fd_out = r->fd;
        return DE_OK;
    } catch (...) {
        return DE_ERR_INTERNAL;
    }
}

}  // namespace daemoneye::launcher
