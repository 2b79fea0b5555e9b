// The host as a C++ plugin sees it: an Emitter (events onto the bus), logging, the clock, the
// instance id and, from ABI 1.1 hosts, optional services such as socket_owners. One Host exists per
// plugin instance; the SDK creates it before the collector's constructor and destroys it after the
// collector, so a collector may keep a Host& for its whole life and use it from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemoneye/plugin_api.h"

namespace daemoneye::sdk {

enum class LogLevel : int {
    trace = DE_LOG_TRACE,
    debug = DE_LOG_DEBUG,
    info = DE_LOG_INFO,
    warn = DE_LOG_WARN,
    error = DE_LOG_ERROR,
};

// Counters of everything an Emitter was asked to send. A loss is never silent: `dropped` counts
// events refused for backpressure, the others count refusals that are bugs or shutdown.
struct EmitStats {
    std::uint64_t emitted = 0;  // taken by the host (DE_OK)
    std::uint64_t dropped = 0;  // DE_ERR_BACKPRESSURE
    std::uint64_t denied = 0;   // DE_ERR_DENIED: topic not declared in `publishes`
    std::uint64_t closed = 0;   // DE_ERR_CLOSED: host shutting down
    std::uint64_t failed = 0;   // serialization failures, invalid arguments, other statuses
    std::uint64_t total_refused() const { return dropped + denied + closed + failed; }
};

// Thread-safe wrapper over de_host_api::emit. Every call returns the host's status; callers that
// cannot retry may ignore DE_ERR_BACKPRESSURE because it is counted here (stats().dropped) and
// reported in health by the SDK.
class Emitter {
  public:
    explicit Emitter(const de_host_api* api) noexcept : api_(api) {}
    Emitter(const Emitter&) = delete;
    Emitter& operator=(const Emitter&) = delete;

    // Emits already-serialized bytes of protobuf type `type_name` on `topic`.
    de_status emit_bytes(const char* topic, const char* type_name, const void* data,
                         std::size_t len) noexcept {
        de_status status = api_->emit(api_->host_ctx, topic, type_name,
                                      static_cast<const std::uint8_t*>(data), len);
        count(status);
        return status;
    }

    de_status emit_bytes(const std::string& topic, const std::string& type_name,
                         std::string_view bytes) noexcept {
        return emit_bytes(topic.c_str(), type_name.c_str(), bytes.data(), bytes.size());
    }

    // Serializes any protobuf message (full or lite runtime) and emits it on `topic` with its
    // full type name. Allocation-free in steady state (per-thread buffer).
    template <class Message>
    de_status emit(const char* topic, const Message& message) noexcept {
        try {
            thread_local std::string buffer;
            buffer.clear();
            if (!message.SerializeToString(&buffer)) {
                failed_.fetch_add(1, std::memory_order_relaxed);
                return DE_ERR_INTERNAL;
            }
            return emit_bytes(topic, type_name_of<Message>().c_str(), buffer.data(), buffer.size());
        } catch (...) {  // bad_alloc while serializing
            failed_.fetch_add(1, std::memory_order_relaxed);
            return DE_ERR_INTERNAL;
        }
    }

    template <class Message>
    de_status emit(const std::string& topic, const Message& message) noexcept {
        return emit(topic.c_str(), message);
    }

    // Emits on the message's default topic: found by argument-dependent lookup of
    // `topic_for(const Message&)` returning something convertible to const char*.
    // daemoneye/sdk/events.hpp provides it for daemoneye.events.v1; define your own next to your
    // message types.
    template <class Message>
    requires requires(const Message& m) {
        { topic_for(m) } -> std::convertible_to<const char*>;
    }
    de_status emit(const Message& message) noexcept {
        return emit(static_cast<const char*>(topic_for(message)), message);
    }

    EmitStats stats() const noexcept {
        EmitStats s;
        s.emitted = emitted_.load(std::memory_order_relaxed);
        s.dropped = dropped_.load(std::memory_order_relaxed);
        s.denied = denied_.load(std::memory_order_relaxed);
        s.closed = closed_.load(std::memory_order_relaxed);
        s.failed = failed_.load(std::memory_order_relaxed);
        return s;
    }

    // True once the host answered DE_ERR_CLOSED: it is shutting down; stop producing.
    bool host_closed() const noexcept { return closed_.load(std::memory_order_relaxed) != 0; }

    // The protobuf full type name of Message, computed once per type.
    template <class Message>
    static const std::string& type_name_of() {
        static const std::string name = Message::default_instance().GetTypeName();
        return name;
    }

  private:
    void count(de_status status) noexcept {
        switch (status) {
            case DE_OK:
                emitted_.fetch_add(1, std::memory_order_relaxed);
                break;
            case DE_ERR_BACKPRESSURE:
                dropped_.fetch_add(1, std::memory_order_relaxed);
                break;
            case DE_ERR_DENIED:
                denied_.fetch_add(1, std::memory_order_relaxed);
                break;
            case DE_ERR_CLOSED:
                closed_.fetch_add(1, std::memory_order_relaxed);
                break;
            default:
                failed_.fetch_add(1, std::memory_order_relaxed);
                break;
        }
    }

    const de_host_api* api_;
    std::atomic<std::uint64_t> emitted_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> denied_{0};
    std::atomic<std::uint64_t> closed_{0};
    std::atomic<std::uint64_t> failed_{0};
};

// One socket holder reported by the host (Host::socket_owners).
struct SocketOwner {
    std::uint64_t inode = 0;
    std::uint32_t pid = 0;
    std::string comm;  // process name; empty when unknown
    std::string exe;   // executable path; empty when unreadable
};

// The ptrace-protected links of one process reported by the host (Host::process_links, ABI
// 1.2): a copy of de_process_links. Every *_errno is 0 when the fields it guards are valid.
struct ProcessLinks {
    struct Namespace {
        std::string name;  // "mnt"
        std::string link;  // "mnt:[4026531841]"; empty unless error == 0
        int error = 0;
    };
    std::uint32_t pid = 0;
    int exe_errno = ENOENT;
    std::string exe;  // the link target, may end in " (deleted)"
    std::uint64_t exe_dev = 0;
    std::uint64_t exe_ino = 0;
    std::int64_t exe_mtime_ns = 0;
    std::int64_t exe_ctime_ns = 0;
    std::uint64_t exe_size = 0;
    std::uint32_t exe_mode = 0;
    std::uint32_t exe_uid = 0;
    std::uint64_t exe_nlink = 0;
    int cwd_errno = ENOENT;
    std::string cwd;
    std::vector<Namespace> namespaces;
    int root_exe_errno = ENOENT;  // lstat of `exe` inside the process's root
    std::uint64_t root_exe_dev = 0;
    std::uint64_t root_exe_ino = 0;
    std::uint64_t image_fingerprint = 0;  // opaque; 0: unknown
};

class Host {
  public:
    explicit Host(const de_host_api* api) noexcept : api_(api), emitter_(api) {}
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;

    Emitter& emitter() noexcept { return emitter_; }

    // Logs one line attributed to this instance. Thread-safe, never throws.
    void log(LogLevel level, std::string_view message) noexcept {
        try {
            std::string line(message);
            api_->log(api_->host_ctx, static_cast<de_log_level>(level), line.c_str());
        } catch (...) {  // out of memory: losing a log line beats crashing the collector
        }
    }

    // Stream-style helpers: host.info("scanned ", n, " processes in ", ms, " ms").
    template <class... Parts>
    void trace(const Parts&... parts) noexcept {
        log_parts(LogLevel::trace, parts...);
    }
    template <class... Parts>
    void debug(const Parts&... parts) noexcept {
        log_parts(LogLevel::debug, parts...);
    }
    template <class... Parts>
    void info(const Parts&... parts) noexcept {
        log_parts(LogLevel::info, parts...);
    }
    template <class... Parts>
    void warn(const Parts&... parts) noexcept {
        log_parts(LogLevel::warn, parts...);
    }
    template <class... Parts>
    void error(const Parts&... parts) noexcept {
        log_parts(LogLevel::error, parts...);
    }

    // Wall-clock time from the host (tests may control it).
    std::uint64_t now_unix_nanos() const noexcept { return api_->now_unix_nanos(api_->host_ctx); }

    std::chrono::system_clock::time_point now() const noexcept {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(now_unix_nanos())));
    }

    std::string_view instance_id() const noexcept {
        return api_->instance_id != nullptr ? std::string_view(api_->instance_id)
                                            : std::string_view();
    }

    // Live lookup of the instance's current config. Prefer the Config handed to the constructor
    // and on_config; this is for threads that want the newest value of one key.
    std::optional<std::string> config_value(const std::string& key) const {
        const char* value = api_->config_get(api_->host_ctx, key.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
    }

    // ---- socket owners (ABI 1.1, optional) ----

    // True when the host offers de_host_api::socket_owners (a 1.1+ host that fills it in: the
    // launcher does for instances granted net.read). Otherwise read /proc yourself.
    bool offers_socket_owners() const noexcept { return DE_HOST_API_HAS(api_, socket_owners); }

    // Looks up which processes hold the sockets `inodes` (any number: split into calls of at most
    // DE_SOCKET_OWNERS_MAX). Found owners are appended to `out`; sockets without a visible holder
    // are simply absent. Returns DE_ERR_UNSUPPORTED when the host does not offer it, the host's
    // status otherwise (owners found before a failure stay in `out`). Never throws.
    de_status socket_owners(const std::uint64_t* inodes, std::size_t count,
                            std::vector<SocketOwner>& out) const noexcept {
        if (!offers_socket_owners()) return DE_ERR_UNSUPPORTED;
        if (inodes == nullptr && count != 0) return DE_ERR_INVALID_ARGUMENT;
        struct Sink {
            std::vector<SocketOwner>* out;
            bool failed = false;
        } sink{&out};
        auto found = [](void* ctx, std::uint64_t inode, std::uint32_t pid, const char* comm,
                        const char* exe) noexcept {
            auto* s = static_cast<Sink*>(ctx);
            try {
                s->out->push_back(SocketOwner{inode, pid, comm != nullptr ? comm : "",
                                              exe != nullptr ? exe : ""});
            } catch (...) {  // bad_alloc: nothing may unwind through the host
                s->failed = true;
            }
        };
        for (std::size_t done = 0; done < count;) {
            const std::size_t n = std::min<std::size_t>(count - done, DE_SOCKET_OWNERS_MAX);
            const de_status status =
                api_->socket_owners(api_->host_ctx, inodes + done, n, found, &sink);
            if (status != DE_OK) return status;
            if (sink.failed) return DE_ERR_INTERNAL;
            done += n;
        }
        return DE_OK;
    }

    // ---- process links and executables (ABI 1.2, optional) ----

    // True when the host offers de_host_api::process_links / open_process_exe (a 1.2+ host that
    // fills them in: the launcher does for instances granted proc.read). Otherwise read /proc
    // yourself.
    bool offers_process_links() const noexcept { return DE_HOST_API_HAS(api_, process_links); }
    bool offers_open_process_exe() const noexcept {
        return DE_HOST_API_HAS(api_, open_process_exe);
    }

    // The exe/cwd/ns links of `pid` into `out` (replaced as a whole on DE_OK). Returns
    // DE_ERR_UNSUPPORTED when the host does not offer it, the host's status otherwise
    // (DE_ERR_NOT_FOUND: no such process). Never throws.
    de_status process_links(std::uint32_t pid, ProcessLinks& out) const noexcept {
        if (!offers_process_links()) return DE_ERR_UNSUPPORTED;
        struct Sink {
            ProcessLinks* out;
            bool called = false;
            bool failed = false;
        } sink{&out};
        auto found = [](void* ctx, const de_process_links* l) noexcept {
            auto* s = static_cast<Sink*>(ctx);
            s->called = true;
            if (l == nullptr) {
                s->failed = true;
                return;
            }
            auto covers = [l](std::size_t offset, std::size_t size) {
                return l->struct_size >= offset + size;
            };
#define DE_SDK_COVERS(field) covers(offsetof(de_process_links, field), sizeof l->field)
            try {
                ProcessLinks r;
                r.pid = l->pid;
                if (DE_SDK_COVERS(exe_nlink)) {
                    r.exe_errno = l->exe_errno;
                    if (r.exe_errno == 0) {
                        r.exe = l->exe != nullptr ? l->exe : "";
                        r.exe_dev = l->exe_dev;
                        r.exe_ino = l->exe_ino;
                        r.exe_mtime_ns = l->exe_mtime_ns;
                        r.exe_ctime_ns = l->exe_ctime_ns;
                        r.exe_size = l->exe_size;
                        r.exe_mode = l->exe_mode;
                        r.exe_uid = l->exe_uid;
                        r.exe_nlink = l->exe_nlink;
                    }
                }
                if (DE_SDK_COVERS(cwd)) {
                    r.cwd_errno = l->cwd_errno;
                    if (r.cwd_errno == 0 && l->cwd != nullptr) r.cwd = l->cwd;
                }
                if (DE_SDK_COVERS(ns_errnos) && l->ns_names != nullptr && l->ns_links != nullptr &&
                    l->ns_errnos != nullptr) {
                    const std::size_t n = std::min<std::size_t>(l->ns_count, DE_PROCESS_NS_MAX);
                    for (std::size_t i = 0; i < n; ++i) {
                        ProcessLinks::Namespace ns;
                        ns.name = l->ns_names[i] != nullptr ? l->ns_names[i] : "";
                        ns.error = l->ns_errnos[i];
                        if (ns.error == 0 && l->ns_links[i] != nullptr) ns.link = l->ns_links[i];
                        r.namespaces.push_back(std::move(ns));
                    }
                }
                if (DE_SDK_COVERS(root_exe_ino)) {
                    r.root_exe_errno = l->root_exe_errno;
                    r.root_exe_dev = l->root_exe_dev;
                    r.root_exe_ino = l->root_exe_ino;
                }
                if (DE_SDK_COVERS(image_fingerprint)) r.image_fingerprint = l->image_fingerprint;
                *s->out = std::move(r);
            } catch (...) {  // bad_alloc: nothing may unwind through the host
                s->failed = true;
            }
#undef DE_SDK_COVERS
        };
        const de_status status = api_->process_links(api_->host_ctx, pid, found, &sink);
        if (status != DE_OK) return status;
        return sink.called && !sink.failed ? DE_OK : DE_ERR_INTERNAL;
    }

    // Opens the executable `pid` runs (read-only, close-on-exec); the caller owns `fd` and must
    // close it. Returns DE_ERR_UNSUPPORTED when not offered, the host's status otherwise
    // (DE_ERR_NOT_FOUND, DE_ERR_DENIED, ...). Never throws.
    de_status open_process_exe(std::uint32_t pid, int& fd) const noexcept {
        fd = -1;
        if (!offers_open_process_exe()) return DE_ERR_UNSUPPORTED;
        const de_status status = api_->open_process_exe(api_->host_ctx, pid, &fd);
        if (status != DE_OK) fd = -1;
        return status;
    }

    std::uint16_t host_abi_major() const noexcept {
        return api_->abi_major;
    }
    std::uint16_t host_abi_minor() const noexcept {
        return api_->abi_minor;
    }

    // The raw table, for what the SDK does not wrap.
    const de_host_api* raw() const noexcept {
        return api_;
    }

  private:
    template <class... Parts>
    void log_parts(LogLevel level, const Parts&... parts) noexcept {
        try {
            std::ostringstream out;
            (out << ... << parts);
            log(level, out.str());
        } catch (...) {
        }
    }

    const de_host_api* api_;
    Emitter emitter_;
};

}  // namespace daemoneye::sdk
