// An in-process plugin vtable for unit tests: functions are plain C++ lambdas converted to the
// ABI's function pointers, state lives in a global the tests reset.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>

#include "daemoneye/plugin_api.h"

namespace daemoneye::launcher::testing {

struct FakeState {
    int created = 0, started = 0, stopped = 0, destroyed = 0;
    bool fail_create = false, throw_start = false, fail_config = false;
    const de_host_api* host = nullptr;
    std::string last_config_value;
};
inline FakeState g_fake;

inline const char* const kNone[] = {nullptr};
inline const char* const kCaps[] = {"echo", nullptr};
inline const char* const kPerms[] = {"proc.read", nullptr};
inline const char* const kPubs[] = {"events.test.#", nullptr};

inline de_plugin_descriptor fake_descriptor() {
    de_plugin_descriptor d{};
    d.struct_size = sizeof d;
    d.abi_major = DE_PLUGIN_ABI_MAJOR;
    d.abi_minor = DE_PLUGIN_ABI_MINOR;
    d.name = "fake";
    d.version = "0.1.0";
    d.description = "in-process fake";
    d.capabilities = kCaps;
    d.permissions = kPerms;
    d.publishes = kPubs;
    d.create = [](const de_host_api* host, const de_config* config, de_plugin** out,
                  de_error* err) -> de_status {
        *out = nullptr;
        if (g_fake.fail_create) {
            std::snprintf(err->message, sizeof err->message, "%s", "bad config key 'x'");
            return DE_ERR_INVALID_ARGUMENT;
        }
        ++g_fake.created;
        g_fake.host = host;
        for (std::size_t i = 0; i < config->count; ++i) {
            if (std::strcmp(config->items[i].key, "value") == 0)
                g_fake.last_config_value = config->items[i].value;
        }
        *out = reinterpret_cast<de_plugin*>(&g_fake);
        return DE_OK;
    };
    d.start = [](de_plugin*, de_error*) -> de_status {
        if (g_fake.throw_start) throw std::runtime_error("boom in start");
        ++g_fake.started;
        return DE_OK;
    };
    d.stop = [](de_plugin*, de_error*) -> de_status {
        ++g_fake.stopped;
        return DE_OK;
    };
    d.destroy = [](de_plugin*) { ++g_fake.destroyed; };
    d.on_task = [](de_plugin*, const de_task* task, const de_task_sink* sink,
                   de_error* err) -> de_status {
        if (std::strcmp(task->kind, "echo") != 0) {
            std::snprintf(err->message, sizeof err->message, "%s", "unknown kind");
            return DE_ERR_UNSUPPORTED;
        }
        for (int i = 0; i < 10; ++i) {
            const char data[] = "0123456789";
            if (sink->add_record(sink->sink_ctx, "t.Rec",
                                 reinterpret_cast<const std::uint8_t*>(data), 10) != DE_OK) {
                break;
            }
        }
        return DE_OK;
    };
    d.on_config = [](de_plugin*, const de_config* config, de_error* err) -> de_status {
        if (g_fake.fail_config) {
            std::snprintf(err->message, sizeof err->message, "%s", "key 'value' out of range");
            return DE_ERR_INVALID_ARGUMENT;
        }
        for (std::size_t i = 0; i < config->count; ++i) {
            if (std::strcmp(config->items[i].key, "value") == 0)
                g_fake.last_config_value = config->items[i].value;
        }
        return DE_OK;
    };
    d.health = [](de_plugin*, de_health* out) -> de_status {
        out->state = DE_HEALTH_DEGRADED;
        out->errors = 2;
        std::snprintf(out->detail, sizeof out->detail, "%s", "mode=scan\nview=partial\nnoequals");
        return DE_OK;
    };
    return d;
}

}  // namespace daemoneye::launcher::testing
