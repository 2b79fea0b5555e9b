// An in-process host for plugin unit tests: it calls a descriptor's functions directly (no
// launcher, no sandbox, no bus), captures what the plugin emits, logs and returns, and checks
// the contract the real launcher relies on. No test framework dependency: use it from GoogleTest,
// Catch2 or a plain main().
//
//   daemoneye::sdk::testing::TestHost host(daemoneye_plugin_entry());
//   ASSERT_TRUE(host.create({{"interval_ms", "10"}}).ok());
//   ASSERT_TRUE(host.start().ok());
//   ASSERT_TRUE(host.wait_for_events(3, std::chrono::seconds(30)));
//   auto event = host.events().front().as<daemoneye::events::v1::ProcessEvent>();
//   auto result = host.run_task("enumerate_processes", {{"pid", "1"}});
//   EXPECT_TRUE(host.stop().ok());
//   EXPECT_TRUE(host.violations().empty()) << host.violations().front();
//
// PluginLibrary loads a built .so with dlopen for integration tests (the same checks the
// launcher makes: entry symbol, struct_size, ABI version).
#pragma once

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemoneye/plugin_api.h"
#include "daemoneye/sdk/host.hpp"
#include "daemoneye/sdk/topic.hpp"

namespace daemoneye::sdk::testing {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// What a call returned.
struct Outcome {
    de_status status = DE_OK;
    std::string message;  // de_error text; empty on success
    bool ok() const { return status == DE_OK; }
    explicit operator bool() const { return ok(); }
    std::string describe() const {
        return std::string(de_status_name(status)) + (message.empty() ? "" : ": " + message);
    }
};

// One emitted event or one task record.
struct Payload {
    std::string topic;  // empty for task records
    std::string type_name;
    std::string bytes;

    // Parses the bytes as protobuf Message; throws std::runtime_error if they do not parse or
    // the type name differs.
    template <class Message>
    Message as() const {
        Message message;
        if (type_name != message.GetTypeName()) {
            throw std::runtime_error("payload is a " + type_name + ", not a " +
                                     message.GetTypeName());
        }
        if (!message.ParseFromString(bytes)) {
            throw std::runtime_error("payload does not parse as " + type_name);
        }
        return message;
    }
};

struct TaskOutcome : Outcome {
    std::vector<Payload> records;
    bool partial = false;  // the record cap was hit
};

struct HealthReport {
    de_status status = DE_OK;
    de_health_state state = DE_HEALTH_HEALTHY;
    std::uint64_t errors = 0;
    std::map<std::string, std::string> details;  // parsed "key=value" lines
    std::string detail;                          // raw text
};

struct LogLine {
    de_log_level level;
    std::string message;
};

// The launcher's checks on a descriptor, as readable problems (empty: acceptable).
inline std::vector<std::string> validate_descriptor(
    const de_plugin_descriptor* d, std::uint16_t host_major = DE_PLUGIN_ABI_MAJOR,
    std::uint16_t host_minor = DE_PLUGIN_ABI_MINOR) {
    std::vector<std::string> problems;
    if (d == nullptr) return {"the entry symbol returned NULL"};
    if (d->struct_size < offsetof(de_plugin_descriptor, health) + sizeof(d->health)) {
        problems.push_back("descriptor struct_size " + std::to_string(d->struct_size) +
                           " is smaller than ABI 1.0's descriptor");
        return problems;
    }
    if (d->abi_major != host_major || d->abi_minor > host_minor) {
        problems.push_back("plugin ABI " + std::to_string(d->abi_major) + "." +
                           std::to_string(d->abi_minor) + ", host ABI " +
                           std::to_string(host_major) + "." + std::to_string(host_minor) +
                           ": majors must be equal and the host minor >= the plugin minor");
    }
    auto name_ok = [](const char* s) {
        if (s == nullptr) return false;
        std::string_view n(s);
        if (n.empty() || n.size() > 64) return false;
        for (char c : n) {
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
                return false;
            }
        }
        return true;
    };
    if (!name_ok(d->name)) problems.push_back("name is missing or not [a-z0-9_-]{1,64}");
    if (d->version == nullptr || *d->version == '\0') problems.push_back("version is missing");
    if (d->description == nullptr) problems.push_back("description is missing");
    if (d->capabilities == nullptr) problems.push_back("capabilities is NULL (use {NULL})");
    if (d->permissions == nullptr) problems.push_back("permissions is NULL (use {NULL})");
    if (d->publishes == nullptr) {
        problems.push_back("publishes is NULL (use {NULL})");
    } else {
        for (const char* const* p = d->publishes; *p != nullptr; ++p) {
            if (!topic::valid_pattern(*p)) {
                problems.push_back(std::string("publishes: '") + *p + "' is not a topic pattern");
            } else if (!topic::declarable(*p)) {
                problems.push_back(std::string("publishes: '") + *p +
                                   "' reaches control.* or events.detection.alert (the agent's)");
            }
        }
    }
    if (d->create == nullptr) problems.push_back("create is NULL");
    if (d->start == nullptr) problems.push_back("start is NULL");
    if (d->stop == nullptr) problems.push_back("stop is NULL");
    if (d->destroy == nullptr) problems.push_back("destroy is NULL");
    if (d->on_task == nullptr && d->capabilities != nullptr && *d->capabilities != nullptr) {
        problems.push_back("capabilities are declared but on_task is NULL");
    }
    return problems;
}

inline std::vector<std::string> list_of(const char* const* list) {
    std::vector<std::string> out;
    for (; list != nullptr && *list != nullptr; ++list) out.emplace_back(*list);
    return out;
}

// Drives one plugin instance in-process. Not thread-safe itself (one test thread drives it),
// while the host_api it hands the plugin is thread-safe like the launcher's.
class TestHost {
  public:
    explicit TestHost(const de_plugin_descriptor* descriptor, std::string instance_id = "test-0")
        : descriptor_(descriptor), instance_id_(std::move(instance_id)) {
        api_.struct_size = sizeof api_;
        api_.abi_major = DE_PLUGIN_ABI_MAJOR;
        api_.abi_minor = DE_PLUGIN_ABI_MINOR;
        api_.host_ctx = this;
        api_.emit = &TestHost::emit_thunk;
        api_.log = &TestHost::log_thunk;
        api_.now_unix_nanos = &TestHost::now_thunk;
        api_.config_get = &TestHost::config_get_thunk;
        api_.instance_id = instance_id_.c_str();
    }
    TestHost(const TestHost&) = delete;
    TestHost& operator=(const TestHost&) = delete;
    ~TestHost() { destroy(); }

    const de_plugin_descriptor* descriptor() const { return descriptor_; }
    const de_host_api* host_api() const { return &api_; }
    bool created() const { return plugin_ != nullptr; }

    // ------------------------------------------------------------ lifecycle

    Outcome create(const KeyValues& config = {}) {
        if (auto problems = validate_descriptor(descriptor_); !problems.empty()) {
            return {DE_ERR_INVALID_ARGUMENT, "descriptor refused: " + problems.front()};
        }
        if (plugin_ != nullptr) return {DE_ERR_STATE, "TestHost: already created"};
        set_config(config);
        phase(Phase::creating);
        ConfigView view(config);
        de_error err = fresh_error();
        de_plugin* out = nullptr;
        de_status status = descriptor_->create(&api_, &view.config, &out, &err);
        if (status == DE_OK && out == nullptr) {
            phase(Phase::created);
            violation("create returned DE_OK but no instance");
            return {DE_ERR_INTERNAL, "create returned DE_OK but no instance"};
        }
        if (status != DE_OK && out != nullptr) violation("create failed but returned an instance");
        plugin_ = status == DE_OK ? out : nullptr;
        phase(plugin_ != nullptr ? Phase::created : Phase::none);
        return {status, err.message};
    }

    Outcome start() {
        if (plugin_ == nullptr) return {DE_ERR_STATE, "TestHost: create first"};
        de_error err = fresh_error();
        Phase before = current_phase();
        phase(Phase::running);  // the plugin may emit as soon as its threads run
        de_status status = descriptor_->start(plugin_, &err);
        if (status != DE_OK) phase(before);
        return {status, err.message};
    }

    Outcome stop() {
        if (plugin_ == nullptr) return {DE_ERR_STATE, "TestHost: create first"};
        de_error err = fresh_error();
        de_status status = descriptor_->stop(plugin_, &err);
        phase(Phase::stopped);  // from here on, emit/log from plugin threads is a violation
        return {status, err.message};
    }

    // Calls destroy() (safe to call twice; the destructor calls it).
    void destroy() {
        if (plugin_ == nullptr) return;
        phase(Phase::destroying);
        descriptor_->destroy(plugin_);
        plugin_ = nullptr;
        phase(Phase::none);
    }

    TaskOutcome run_task(const std::string& kind, const KeyValues& params = {},
                         const std::string& task_id = "task-1",
                         std::uint64_t deadline_unix_nanos = 0) {
        TaskOutcome result;
        if (plugin_ == nullptr) {
            result.status = DE_ERR_STATE;
            result.message = "TestHost: create first";
            return result;
        }
        if (descriptor_->on_task == nullptr) {
            result.status = DE_ERR_UNSUPPORTED;
            result.message = "TestHost: the plugin has no on_task";
            return result;
        }
        ConfigView view(params);
        de_task task{};
        task.struct_size = sizeof task;
        task.task_id = task_id.c_str();
        task.kind = kind.c_str();
        task.params = &view.config;
        task.deadline_unix_nanos = deadline_unix_nanos;
        SinkState state{this, &result};
        de_task_sink sink{};
        sink.struct_size = sizeof sink;
        sink.sink_ctx = &state;
        sink.add_record = &TestHost::add_record_thunk;
        de_error err = fresh_error();
        result.status = descriptor_->on_task(plugin_, &task, &sink, &err);
        result.message = err.message;
        return result;
    }

    Outcome update_config(const KeyValues& config) {
        if (plugin_ == nullptr) return {DE_ERR_STATE, "TestHost: create first"};
        if (descriptor_->on_config == nullptr) {
            return {DE_ERR_UNSUPPORTED, "TestHost: the plugin has no on_config"};
        }
        ConfigView view(config);
        de_error err = fresh_error();
        de_status status = descriptor_->on_config(plugin_, &view.config, &err);
        if (status == DE_OK) set_config(config);
        return {status, err.message};
    }

    HealthReport health() {
        HealthReport report;
        if (plugin_ == nullptr) {
            report.status = DE_ERR_STATE;
            report.state = DE_HEALTH_UNHEALTHY;
            return report;
        }
        if (descriptor_->health == nullptr) return report;
        de_health out{};
        out.struct_size = sizeof out;
        out.state = DE_HEALTH_HEALTHY;
        report.status = descriptor_->health(plugin_, &out);
        out.detail[sizeof out.detail - 1] = '\0';
        report.state = report.status == DE_OK ? out.state : DE_HEALTH_UNHEALTHY;
        report.errors = out.errors;
        report.detail = out.detail;
        std::string_view rest(report.detail);
        while (!rest.empty()) {
            std::string_view line = rest.substr(0, rest.find('\n'));
            rest.remove_prefix(std::min(rest.size(), line.size() + 1));
            auto eq = line.find('=');
            if (eq != std::string_view::npos) {
                report.details[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
            }
        }
        return report;
    }

    // ------------------------------------------------------------ what the plugin did

    std::vector<Payload> events() const {
        std::lock_guard lock(mutex_);
        return events_;
    }
    std::size_t event_count() const {
        std::lock_guard lock(mutex_);
        return events_.size();
    }
    // Removes and returns what was captured so far.
    std::vector<Payload> take_events() {
        std::lock_guard lock(mutex_);
        return std::exchange(events_, {});
    }
    // Waits until at least `count` events are captured (in total, since the last take_events).
    bool wait_for_events(std::size_t count, std::chrono::milliseconds timeout) const {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
    }

    std::vector<LogLine> logs() const {
        std::lock_guard lock(mutex_);
        return logs_;
    }
    bool logged(std::string_view needle) const {
        std::lock_guard lock(mutex_);
        for (const auto& line : logs_) {
            if (line.message.find(needle) != std::string::npos) return true;
        }
        return false;
    }

    // Contract breaches seen by the host: emit outside start..stop, emit to an undeclared topic,
    // create returning inconsistent results, ... Empty when the plugin behaved.
    std::vector<std::string> violations() const {
        std::lock_guard lock(mutex_);
        return violations_;
    }

    // How many emits the host refused, by status.
    std::uint64_t refused(de_status status) const {
        std::lock_guard lock(mutex_);
        auto it = refused_.find(status);
        return it == refused_.end() ? 0 : it->second;
    }

    // ------------------------------------------------------------ knobs

    // Accept at most `capacity` more events, then answer DE_ERR_BACKPRESSURE (nullopt: unbounded).
    void set_emit_capacity(std::optional<std::size_t> capacity) {
        std::lock_guard lock(mutex_);
        emit_capacity_ = capacity;
    }
    // From now on, every emit gets DE_ERR_CLOSED (the host is shutting down).
    void close_emit() {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    // At most `cap` records per task, then DE_ERR_BACKPRESSURE and the result is partial.
    void set_task_record_cap(std::size_t cap) { record_cap_ = cap; }
    // Freeze the clock the plugin sees (nullopt: the real clock).
    void set_now(std::optional<std::uint64_t> unix_nanos) {
        std::lock_guard lock(mutex_);
        fixed_now_ = unix_nanos;
    }

    // ABI 1.1 de_host_api::socket_owners. By default it is not offered (NULL, like a launcher
    // without net.read or under --no-sandbox). `lookup` gets the requested inodes (0 removed) and
    // fills the owners it knows; its status is returned to the plugin as is. Call before create().
    using SocketOwnerLookup = std::function<de_status(const std::vector<std::uint64_t>& inodes,
                                                      std::vector<SocketOwner>& owners)>;
    void offer_socket_owners(SocketOwnerLookup lookup) {
        std::lock_guard lock(mutex_);
        socket_owner_lookup_ = std::move(lookup);
        api_.socket_owners = socket_owner_lookup_ ? &TestHost::socket_owners_thunk : nullptr;
    }
    // Calls the plugin made to socket_owners (valid or not).
    std::uint64_t socket_owner_calls() const {
        std::lock_guard lock(mutex_);
        return socket_owner_calls_;
    }

    // ABI 1.2 de_host_api::process_links and open_process_exe. Not offered by default (NULL, like
    // a launcher without proc.read or under --no-sandbox). `links` fills `out` for a pid and
    // returns the status the plugin gets (DE_ERR_NOT_FOUND for an unknown pid); `open_exe` sets
    // `fd` to a descriptor the plugin will own. Call before create().
    using ProcessLinksLookup = std::function<de_status(std::uint32_t pid, ProcessLinks& out)>;
    using OpenProcessExe = std::function<de_status(std::uint32_t pid, int& fd)>;
    void offer_process_links(ProcessLinksLookup links) {
        std::lock_guard lock(mutex_);
        process_links_ = std::move(links);
        api_.process_links = process_links_ ? &TestHost::process_links_thunk : nullptr;
    }
    void offer_open_process_exe(OpenProcessExe open_exe) {
        std::lock_guard lock(mutex_);
        open_process_exe_ = std::move(open_exe);
        api_.open_process_exe = open_process_exe_ ? &TestHost::open_process_exe_thunk : nullptr;
    }
    // Calls the plugin made to process_links / open_process_exe (valid or not).
    std::uint64_t process_links_calls() const {
        std::lock_guard lock(mutex_);
        return process_links_calls_;
    }
    std::uint64_t open_process_exe_calls() const {
        std::lock_guard lock(mutex_);
        return open_process_exe_calls_;
    }

  private:
    enum class Phase { none, creating, created, running, stopped, destroying };

    // A de_config built from key/values that lives as long as the view.
    struct ConfigView {
        explicit ConfigView(const KeyValues& kv) {
            items.reserve(kv.size());
            for (const auto& [k, v] : kv) items.push_back({k.c_str(), v.c_str()});
            config.struct_size = sizeof config;
            config.count = items.size();
            config.items = items.empty() ? nullptr : items.data();
        }
        std::vector<de_kv> items;
        de_config config{};
    };

    struct SinkState {
        TestHost* host;
        TaskOutcome* result;
    };

    static de_error fresh_error() {
        de_error err{};
        err.struct_size = sizeof err;
        err.message[0] = '\0';
        return err;
    }

    Phase current_phase() const {
        std::lock_guard lock(mutex_);
        return phase_;
    }

    void phase(Phase p) {
        std::lock_guard lock(mutex_);
        phase_ = p;
    }

    void violation(std::string what) {
        std::lock_guard lock(mutex_);
        violations_.push_back(std::move(what));
    }

    void set_config(const KeyValues& config) {
        std::lock_guard lock(mutex_);
        config_.clear();
        for (const auto& [k, v] : config) {
            // Values handed out by config_get live until the TestHost dies (the ABI promises
            // "until destroy()"), so keep every version.
            kept_values_.push_back(v);
            config_[k] = kept_values_.back().c_str();
        }
    }

    static de_status emit_thunk(void* ctx, const char* topic, const char* type_name,
                                const std::uint8_t* data, std::size_t len) {
        auto* self = static_cast<TestHost*>(ctx);
        std::lock_guard lock(self->mutex_);
        auto refuse = [&](de_status status, std::string why) {
            ++self->refused_[status];
            if (!why.empty()) self->violations_.push_back(std::move(why));
            return status;
        };
        if (topic == nullptr || type_name == nullptr || (data == nullptr && len != 0)) {
            return refuse(DE_ERR_INVALID_ARGUMENT, "emit with a NULL topic, type or data");
        }
        if (self->phase_ != Phase::running) {
            const char* when = self->phase_ == Phase::creating     ? "during create()"
                               : self->phase_ == Phase::created    ? "before start()"
                               : self->phase_ == Phase::stopped    ? "after stop() returned"
                               : self->phase_ == Phase::destroying ? "during destroy()"
                                                                   : "with no instance";
            self->violations_.push_back(std::string("emit on '") + topic + "' " + when);
        }
        if (self->closed_) return refuse(DE_ERR_CLOSED, "");
        if (!topic::valid_topic(topic)) {
            return refuse(DE_ERR_DENIED, std::string("emit on invalid topic '") + topic + "'");
        }
        bool declared = false;
        for (const char* const* p = self->descriptor_->publishes; p && *p; ++p) {
            declared = declared || topic::matches(*p, topic);
        }
        if (!declared) {
            return refuse(DE_ERR_DENIED,
                          std::string("emit on '") + topic + "', outside the declared publishes");
        }
        if (self->emit_capacity_) {
            if (*self->emit_capacity_ == 0) return refuse(DE_ERR_BACKPRESSURE, "");
            --*self->emit_capacity_;
        }
        self->events_.push_back(
            {topic, type_name, std::string(reinterpret_cast<const char*>(data), len)});
        self->changed_.notify_all();
        return DE_OK;
    }

    static void log_thunk(void* ctx, de_log_level level, const char* msg) {
        auto* self = static_cast<TestHost*>(ctx);
        std::lock_guard lock(self->mutex_);
        self->logs_.push_back({level, msg != nullptr ? msg : "(null)"});
    }

    static std::uint64_t now_thunk(void* ctx) {
        auto* self = static_cast<TestHost*>(ctx);
        {
            std::lock_guard lock(self->mutex_);
            if (self->fixed_now_) return *self->fixed_now_;
        }
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
    }

    static const char* config_get_thunk(void* ctx, const char* key) {
        auto* self = static_cast<TestHost*>(ctx);
        if (key == nullptr) return nullptr;
        std::lock_guard lock(self->mutex_);
        auto it = self->config_.find(key);
        return it == self->config_.end() ? nullptr : it->second;
    }

    static de_status socket_owners_thunk(void* ctx, const std::uint64_t* inodes, std::size_t count,
                                         de_socket_owner_fn found, void* found_ctx) {
        auto* self = static_cast<TestHost*>(ctx);
        SocketOwnerLookup lookup;
        {
            std::lock_guard lock(self->mutex_);
            ++self->socket_owner_calls_;
            if (found == nullptr || (inodes == nullptr && count != 0) ||
                count > DE_SOCKET_OWNERS_MAX) {
                self->violations_.push_back("socket_owners with a NULL callback or inodes, or " +
                                            std::to_string(count) + " inodes (max " +
                                            std::to_string(DE_SOCKET_OWNERS_MAX) + ")");
                return DE_ERR_INVALID_ARGUMENT;
            }
            lookup = self->socket_owner_lookup_;
        }
        try {
            std::vector<std::uint64_t> wanted;
            for (std::size_t i = 0; i < count; ++i) {
                if (inodes[i] != 0) wanted.push_back(inodes[i]);
            }
            std::vector<SocketOwner> owners;
            const de_status status = lookup(wanted, owners);
            if (status != DE_OK) return status;
            std::vector<std::uint64_t> reported;
            for (const auto& o : owners) {
                if (std::find(wanted.begin(), wanted.end(), o.inode) == wanted.end() ||
                    std::find(reported.begin(), reported.end(), o.inode) != reported.end()) {
                    continue;  // the host contract: requested inodes only, once each
                }
                reported.push_back(o.inode);
                found(found_ctx, o.inode, o.pid, o.comm.c_str(), o.exe.c_str());
            }
            return DE_OK;
        } catch (...) {
            return DE_ERR_INTERNAL;
        }
    }

    static de_status process_links_thunk(void* ctx, std::uint32_t pid, de_process_links_fn found,
                                         void* found_ctx) {
        auto* self = static_cast<TestHost*>(ctx);
        ProcessLinksLookup lookup;
        {
            std::lock_guard lock(self->mutex_);
            ++self->process_links_calls_;
            if (found == nullptr || pid == 0 || pid > 4194304) {
                self->violations_.push_back("process_links with a NULL callback or pid " +
                                            std::to_string(pid) + " (1..4194304)");
                return DE_ERR_INVALID_ARGUMENT;
            }
            lookup = self->process_links_;
        }
        try {
            ProcessLinks r;
            r.pid = pid;
            const de_status status = lookup(pid, r);
            if (status != DE_OK) return status;
            std::vector<const char*> names, links;
            std::vector<std::int32_t> errs;
            for (const auto& ns : r.namespaces) {
                if (names.size() == DE_PROCESS_NS_MAX) break;
                names.push_back(ns.name.c_str());
                links.push_back(ns.link.c_str());
                errs.push_back(ns.error);
            }
            de_process_links l{};
            l.struct_size = sizeof l;
            l.pid = pid;
            l.exe_errno = r.exe_errno;
            l.exe = r.exe.c_str();
            l.exe_dev = r.exe_dev;
            l.exe_ino = r.exe_ino;
            l.exe_mtime_ns = r.exe_mtime_ns;
            l.exe_ctime_ns = r.exe_ctime_ns;
            l.exe_size = r.exe_size;
            l.exe_mode = r.exe_mode;
            l.exe_uid = r.exe_uid;
            l.exe_nlink = r.exe_nlink;
            l.cwd_errno = r.cwd_errno;
            l.cwd = r.cwd.c_str();
            l.ns_count = names.size();
            l.ns_names = names.data();
            l.ns_links = links.data();
            l.ns_errnos = errs.data();
            l.root_exe_errno = r.root_exe_errno;
            l.root_exe_dev = r.root_exe_dev;
            l.root_exe_ino = r.root_exe_ino;
            l.image_fingerprint = r.image_fingerprint;
            found(found_ctx, &l);
            return DE_OK;
        } catch (...) {
            return DE_ERR_INTERNAL;
        }
    }

    static de_status open_process_exe_thunk(void* ctx, std::uint32_t pid, int* fd_out) {
        auto* self = static_cast<TestHost*>(ctx);
        OpenProcessExe open_exe;
        {
            std::lock_guard lock(self->mutex_);
            ++self->open_process_exe_calls_;
            if (fd_out == nullptr || pid == 0 || pid > 4194304) {
                self->violations_.push_back("open_process_exe with a NULL fd_out or pid " +
                                            std::to_string(pid) + " (1..4194304)");
                return DE_ERR_INVALID_ARGUMENT;
            }
            open_exe = self->open_process_exe_;
        }
        *fd_out = -1;
        try {
            int fd = -1;
            const de_status status = open_exe(pid, fd);
            if (status == DE_OK) *fd_out = fd;
            return status;
        } catch (...) {
            return DE_ERR_INTERNAL;
        }
    }

    static de_status add_record_thunk(void* ctx, const char* type_name, const std::uint8_t* data,
                                      std::size_t len) {
        auto* state = static_cast<SinkState*>(ctx);
        if (type_name == nullptr || (data == nullptr && len != 0)) return DE_ERR_INVALID_ARGUMENT;
        if (state->result->records.size() >= state->host->record_cap_) {
            state->result->partial = true;
            return DE_ERR_BACKPRESSURE;
        }
        state->result->records.push_back(
            {"", type_name, std::string(reinterpret_cast<const char*>(data), len)});
        return DE_OK;
    }

    const de_plugin_descriptor* descriptor_;
    std::string instance_id_;
    de_host_api api_{};
    de_plugin* plugin_ = nullptr;
    std::size_t record_cap_ = static_cast<std::size_t>(-1);

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    Phase phase_ = Phase::none;
    std::vector<Payload> events_;
    std::vector<LogLine> logs_;
    std::vector<std::string> violations_;
    std::map<de_status, std::uint64_t> refused_;
    std::optional<std::size_t> emit_capacity_;
    bool closed_ = false;
    std::optional<std::uint64_t> fixed_now_;
    std::map<std::string, const char*, std::less<>> config_;
    SocketOwnerLookup socket_owner_lookup_;
    std::uint64_t socket_owner_calls_ = 0;
    ProcessLinksLookup process_links_;
    OpenProcessExe open_process_exe_;
    std::uint64_t process_links_calls_ = 0;
    std::uint64_t open_process_exe_calls_ = 0;
    std::deque<std::string> kept_values_;
};

// A plugin library loaded with dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE), for integration
// tests. Destroy every TestHost using its descriptor before the PluginLibrary. The code is never
// unmapped (RTLD_NODELETE): a plugin's generated protobuf code registers its descriptors in
// libprotobuf's process-wide pool, which would keep dangling pointers into an unloaded library.
class PluginLibrary {
  public:
    // Loads `path` and reads its descriptor. On failure, error() says why and descriptor() is
    // NULL.
    explicit PluginLibrary(const std::string& path) {
        handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (handle_ == nullptr) {
            const char* why = ::dlerror();
            error_ = "dlopen " + path + ": " + (why != nullptr ? why : "unknown error");
            return;
        }
        void* symbol = ::dlsym(handle_, DE_PLUGIN_ENTRY_SYMBOL);
        if (symbol == nullptr) {
            error_ = path + ": no exported symbol " DE_PLUGIN_ENTRY_SYMBOL;
            return;
        }
        de_plugin_entry_fn entry = nullptr;
        static_assert(sizeof entry == sizeof symbol);
        std::memcpy(&entry, &symbol, sizeof entry);
        descriptor_ = entry();
        if (auto problems = validate_descriptor(descriptor_); !problems.empty()) {
            error_ = path + ": " + problems.front();
            descriptor_ = nullptr;
        }
    }
    PluginLibrary(const PluginLibrary&) = delete;
    PluginLibrary& operator=(const PluginLibrary&) = delete;
    ~PluginLibrary() {
        if (handle_ != nullptr) ::dlclose(handle_);
    }

    bool ok() const { return descriptor_ != nullptr; }
    const std::string& error() const { return error_; }
    const de_plugin_descriptor* descriptor() const { return descriptor_; }

  private:
    void* handle_ = nullptr;
    const de_plugin_descriptor* descriptor_ = nullptr;
    std::string error_;
};

}  // namespace daemoneye::sdk::testing
