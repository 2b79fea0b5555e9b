// Tasks (on_task), their result sink, and health reports, as a C++ collector sees them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "daemoneye/plugin_api.h"
#include "daemoneye/sdk/config.hpp"
#include "daemoneye/sdk/error.hpp"

namespace daemoneye::sdk {

// One task routed to the plugin. Owns copies of everything, so it may outlive the call.
class Task {
  public:
    explicit Task(const de_task* task)
        : id_(task->task_id != nullptr ? task->task_id : ""),
          kind_(task->kind != nullptr ? task->kind : ""),
          params_(task->params),
          deadline_unix_nanos_(task->deadline_unix_nanos) {}

    Task(std::string id, std::string kind, Config params, std::uint64_t deadline_unix_nanos = 0)
        : id_(std::move(id)),
          kind_(std::move(kind)),
          params_(std::move(params)),
          deadline_unix_nanos_(deadline_unix_nanos) {}

    const std::string& id() const { return id_; }
    const std::string& kind() const { return kind_; }
    // Kind-specific filters; getters throw ConfigError naming the parameter.
    const Config& params() const { return params_; }
    // 0: no deadline.
    std::uint64_t deadline_unix_nanos() const { return deadline_unix_nanos_; }
    bool past_deadline(std::uint64_t now_unix_nanos) const {
        return deadline_unix_nanos_ != 0 && now_unix_nanos >= deadline_unix_nanos_;
    }

    // The error to throw for a kind this plugin does not serve.
    Error unsupported() const {
        return Error(DE_ERR_UNSUPPORTED, "task kind '" + kind_ + "' is not served by this plugin");
    }

  private:
    std::string id_;
    std::string kind_;
    Config params_;
    std::uint64_t deadline_unix_nanos_;
};

// Where a task's result records go. Use only inside on_task, on its thread.
class TaskSink {
  public:
    explicit TaskSink(const de_task_sink* sink) noexcept : sink_(sink) {}

    de_status add_bytes(const char* type_name, const void* data, std::size_t len) noexcept {
        if (full_) return DE_ERR_BACKPRESSURE;
        de_status status = sink_->add_record(sink_->sink_ctx, type_name,
                                             static_cast<const std::uint8_t*>(data), len);
        if (status == DE_OK) {
            ++records_;
        } else if (status == DE_ERR_BACKPRESSURE) {
            full_ = true;
        }
        return status;
    }

    // Serializes a protobuf message and adds it. DE_ERR_BACKPRESSURE means the result hit the
    // host's size cap: stop adding (full() turns true), the host marks the result partial.
    template <class Message>
    de_status add(const Message& message) {
        std::string bytes;
        if (!message.SerializeToString(&bytes)) {
            throw Error(DE_ERR_INTERNAL,
                        "could not serialize a " + message.GetTypeName() + " task record");
        }
        static const std::string type = Message::default_instance().GetTypeName();
        return add_bytes(type.c_str(), bytes.data(), bytes.size());
    }

    bool full() const noexcept { return full_; }
    std::size_t records() const noexcept { return records_; }

  private:
    const de_task_sink* sink_;
    std::size_t records_ = 0;
    bool full_ = false;
};

// What health() returns. `details` become "key=value" lines in `collectors status`.
struct Health {
    de_health_state state = DE_HEALTH_HEALTHY;
    std::uint64_t errors = 0;
    std::vector<std::pair<std::string, std::string>> details;

    static Health healthy() { return {}; }
    static Health degraded(std::string reason) {
        Health h;
        h.state = DE_HEALTH_DEGRADED;
        h.add("reason", std::move(reason));
        return h;
    }
    static Health unhealthy(std::string reason) {
        Health h;
        h.state = DE_HEALTH_UNHEALTHY;
        h.add("reason", std::move(reason));
        return h;
    }

    Health& add(std::string key, std::string value) {
        details.emplace_back(std::move(key), std::move(value));
        return *this;
    }
    template <class Number>
    requires std::is_arithmetic_v<Number> Health& add(std::string key, Number value) {
        return add(std::move(key), std::to_string(value));
    }

    // "k=v\n" lines, truncated at a line boundary to fit `capacity` bytes including the NUL.
    std::string render(std::size_t capacity = DE_HEALTH_DETAIL_CAPACITY) const {
        std::string out;
        for (const auto& [key, value] : details) {
            std::string line = key + "=" + value;
            for (char& c : line) {
                if (c == '\n') c = ' ';
            }
            std::size_t needed = out.size() + (out.empty() ? 0 : 1) + line.size();
            if (needed + 1 > capacity) break;
            if (!out.empty()) out += '\n';
            out += line;
        }
        return out;
    }
};

namespace detail {

// Copies a Health into a host-owned de_health, touching only fields inside its struct_size.
inline void write_health(const Health& health, de_health* out) noexcept {
    if (out == nullptr) return;
    if (out->struct_size >= offsetof(de_health, state) + sizeof(out->state)) {
        out->state = health.state;
    }
    if (out->struct_size >= offsetof(de_health, errors) + sizeof(out->errors)) {
        out->errors = health.errors;
    }
    constexpr std::size_t offset = offsetof(de_health, detail);
    if (out->struct_size > offset) {
        std::size_t capacity = out->struct_size - offset;
        if (capacity > DE_HEALTH_DETAIL_CAPACITY) capacity = DE_HEALTH_DETAIL_CAPACITY;
        try {
            std::string text = health.render(capacity);
            std::memcpy(out->detail, text.c_str(), text.size() + 1);
        } catch (...) {
            out->detail[0] = '\0';
        }
    }
}

}  // namespace detail
}  // namespace daemoneye::sdk
