// The C++ collector SDK: write a class, add one macro, get a plugin.
//
//   class MyCollector {
//   public:
//       MyCollector(daemoneye::sdk::Host& host, const daemoneye::sdk::Config& config);  // REQUIRED
//       void start();                                                                   // REQUIRED
//       void stop();                                                                    // REQUIRED
//       void on_task(const daemoneye::sdk::Task& task, daemoneye::sdk::TaskSink& sink); // optional
//       void on_config(const daemoneye::sdk::Config& config);                           // optional
//       daemoneye::sdk::Health health();                                                // optional
//   };
//
//   DAEMONEYE_PLUGIN(MyCollector, "mycollector", "1.0.0", "One line about it",
//                    ("my_task_kind"),           // capabilities: task kinds on_task serves
//                    ("proc.read"),              // permissions the sandbox must grant
//                    ("events.process.#"))       // topic patterns it publishes to
//
// Contract (checked by static_asserts with messages that say what to write):
//   - The constructor reads and validates config (throw ConfigError / use Config's getters) but
//     starts no threads and emits nothing. The Host& stays valid until after the destructor.
//   - start() starts the work and returns promptly; stop() makes every thread the collector
//     started stop calling the Host before it returns. Both are called on the host's control
//     thread; start() again after stop() must work.
//   - Methods absent from the class are NULL in the descriptor (on_task: no tasks; on_config:
//     restart to reconfigure). health() is always reported; without one the SDK says healthy.
//   - Any exception thrown by the constructor or a method is caught at the C boundary: an
//     sdk::Error keeps its status and message, anything else becomes DE_ERR_INTERNAL with
//     "<function>: <what()>". The destructor must not throw.
//   - The host calls the methods from one thread, never concurrently; the collector's own
//     threads may use host.emitter() and the logging helpers at any time between construction
//     and the end of stop().
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string_view>
#include <type_traits>

#include "daemoneye/plugin_api.h"
#include "daemoneye/sdk/config.hpp"
#include "daemoneye/sdk/error.hpp"
#include "daemoneye/sdk/host.hpp"
#include "daemoneye/sdk/task.hpp"
#include "daemoneye/sdk/topic.hpp"

namespace daemoneye::sdk {

// The ABI version this SDK builds plugins for.
inline constexpr std::uint16_t kAbiMajor = DE_PLUGIN_ABI_MAJOR;
inline constexpr std::uint16_t kAbiMinor = DE_PLUGIN_ABI_MINOR;

// [a-z0-9_-]{1,64}
constexpr bool valid_plugin_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

// A NULL-terminated array of string literals whose entries all satisfy `valid`.
// Takes the array itself, not a pointer to it: with -fsanitize=null (part of UBSan) GCC no longer
// folds "address of a static array == nullptr" to false, so a pointer test here made every plugin
// fail to compile in a UBSan build ("is not a constant expression").
template <std::size_t N, class Valid>
constexpr bool valid_list(const char* const (&list)[N], Valid valid) {
    if (list[N - 1] != nullptr) return false;
    for (std::size_t i = 0; i + 1 < N; ++i) {
        if (list[i] == nullptr || !valid(std::string_view(list[i]))) return false;
    }
    return true;
}

namespace detail {

template <class C>
concept HasOnTask = requires(C& c, const Task& t, TaskSink& s) {
    c.on_task(t, s);
};
template <class C>
concept HasOnConfig = requires(C& c, const Config& config) {
    c.on_config(config);
};
template <class C>
concept HasHealth = requires(C& c) {
    c.health();
};

// A member with this name exists at all (even with the wrong signature).
template <class C>
concept NamesOnTask = requires {
    &C::on_task;
};
template <class C>
concept NamesOnConfig = requires {
    &C::on_config;
};
template <class C>
concept NamesHealth = requires {
    &C::health;
};

template <class C>
constexpr bool check_collector() {
    static_assert(std::is_class_v<C>, "DAEMONEYE_PLUGIN: the collector must be a class");
    static_assert(std::is_constructible_v<C, Host&, const Config&>,
                  "DAEMONEYE_PLUGIN: the collector needs a constructor "
                  "C(daemoneye::sdk::Host& host, const daemoneye::sdk::Config& config)");
    static_assert(std::is_nothrow_destructible_v<C>,
                  "DAEMONEYE_PLUGIN: the collector's destructor must be noexcept");
    static_assert(
        requires(C & c) {
            { c.start() } -> std::same_as<void>;
        },
        "DAEMONEYE_PLUGIN: the collector needs `void start()`");
    static_assert(
        requires(C & c) {
            { c.stop() } -> std::same_as<void>;
        },
        "DAEMONEYE_PLUGIN: the collector needs `void stop()`");
    static_assert(!NamesOnTask<C> || HasOnTask<C>,
                  "DAEMONEYE_PLUGIN: on_task must be "
                  "`void on_task(const daemoneye::sdk::Task&, daemoneye::sdk::TaskSink&)`");
    if constexpr (HasOnTask<C>) {
        static_assert(
            requires(C & c, const Task& t, TaskSink& s) {
                { c.on_task(t, s) } -> std::same_as<void>;
            },
            "DAEMONEYE_PLUGIN: on_task must return void (throw sdk::Error to fail)");
    }
    static_assert(!NamesOnConfig<C> || HasOnConfig<C>,
                  "DAEMONEYE_PLUGIN: on_config must be "
                  "`void on_config(const daemoneye::sdk::Config&)`");
    if constexpr (HasOnConfig<C>) {
        static_assert(
            requires(C & c, const Config& config) {
                { c.on_config(config) } -> std::same_as<void>;
            },
            "DAEMONEYE_PLUGIN: on_config must return void (throw ConfigError to reject)");
    }
    static_assert(!NamesHealth<C> || HasHealth<C>,
                  "DAEMONEYE_PLUGIN: health must be `daemoneye::sdk::Health health()`");
    if constexpr (HasHealth<C>) {
        static_assert(
            requires(C & c) {
                { c.health() } -> std::same_as<Health>;
            },
            "DAEMONEYE_PLUGIN: health must return daemoneye::sdk::Health");
    }
    return true;
}

// What de_plugin* points to: the Host first (so it outlives the collector), then the collector.
template <class C>
struct Instance {
    explicit Instance(const de_host_api* api) : host(api) {}
    Host host;
    std::unique_ptr<C> collector;
    bool running = false;
};

// Enough of de_host_api for ABI 1.0: everything up to and including instance_id.
inline constexpr std::size_t kHostApiMinSize =
    offsetof(de_host_api, instance_id) + sizeof(const char*);

template <class C>
struct Trampolines {
    static Instance<C>* self(de_plugin* plugin) { return reinterpret_cast<Instance<C>*>(plugin); }

    static de_status create(const de_host_api* api, const de_config* config, de_plugin** out,
                            de_error* err) noexcept {
        if (out == nullptr) {
            write_error(err, {"create: `out` is NULL"});
            return DE_ERR_INVALID_ARGUMENT;
        }
        *out = nullptr;
        if (api == nullptr || api->struct_size < kHostApiMinSize || api->emit == nullptr ||
            api->log == nullptr || api->now_unix_nanos == nullptr || api->config_get == nullptr) {
            write_error(err, {"create: the host_api table is NULL, too small or incomplete"});
            return DE_ERR_INVALID_ARGUMENT;
        }
        if (api->abi_major != DE_PLUGIN_ABI_MAJOR || api->abi_minor < DE_PLUGIN_ABI_MINOR) {
            // The host should have refused us already; never read fields it does not have.
            char text[160];
            std::snprintf(text, sizeof text,
                          "create: host ABI %u.%u cannot run a plugin built for ABI %u.%u "
                          "(majors must be equal and the host minor >= the plugin minor)",
                          unsigned{api->abi_major}, unsigned{api->abi_minor},
                          unsigned{DE_PLUGIN_ABI_MAJOR}, unsigned{DE_PLUGIN_ABI_MINOR});
            write_error(err, {text});
            return DE_ERR_UNSUPPORTED;
        }
        return guarded(err, "create", [&] {
            auto instance = std::make_unique<Instance<C>>(api);
            const Config parsed(config);
            instance->collector = std::make_unique<C>(instance->host, parsed);
            *out = reinterpret_cast<de_plugin*>(instance.release());
        });
    }

    static de_status start(de_plugin* plugin, de_error* err) noexcept {
        if (plugin == nullptr) {
            write_error(err, {"start: instance is NULL"});
            return DE_ERR_INVALID_ARGUMENT;
        }
        Instance<C>* instance = self(plugin);
        if (instance->running) {
            write_error(err, {"start: already running"});
            return DE_ERR_STATE;
        }
        de_status status = guarded(err, "start", [&] { instance->collector->start(); });
        if (status == DE_OK) instance->running = true;
        return status;
    }

    static de_status stop(de_plugin* plugin, de_error* err) noexcept {
        if (plugin == nullptr) {
            write_error(err, {"stop: instance is NULL"});
            return DE_ERR_INVALID_ARGUMENT;
        }
        Instance<C>* instance = self(plugin);
        if (!instance->running) return DE_OK;
        // Whatever happens, the instance counts as stopped: the host will not call stop() on a
        // failed stop again, and destroy() must not run stop() twice.
        instance->running = false;
        return guarded(err, "stop", [&] { instance->collector->stop(); });
    }

    static void destroy(de_plugin* plugin) noexcept {
        if (plugin == nullptr) return;
        Instance<C>* instance = self(plugin);
        if (instance->running) {
            de_error ignored{};
            ignored.struct_size = sizeof ignored;
            if (stop(plugin, &ignored) != DE_OK) {
                instance->host.error("destroy: stop failed: ", ignored.message);
            }
        }
        delete instance;  // the collector first (unique_ptr member order), then the Host
    }

    static de_status on_task(de_plugin* plugin, const de_task* task, const de_task_sink* sink,
                             de_error* err) noexcept {
        if (plugin == nullptr || task == nullptr || sink == nullptr ||
            sink->add_record == nullptr) {
            write_error(err, {"on_task: NULL instance, task or sink"});
            return DE_ERR_INVALID_ARGUMENT;
        }
        if constexpr (HasOnTask<C>) {
            return guarded(err, "on_task", [&] {
                const Task view(task);
                TaskSink records(sink);
                self(plugin)->collector->on_task(view, records);
            });
        } else {
            write_error(err, {"on_task: this plugin serves no tasks"});
            return DE_ERR_UNSUPPORTED;
        }
    }

    static de_status on_config(de_plugin* plugin, const de_config* config, de_error* err) noexcept {
        if (plugin == nullptr || config == nullptr) {
            write_error(err, {"on_config: NULL instance or config"});
            return DE_ERR_INVALID_ARGUMENT;
        }
        if constexpr (HasOnConfig<C>) {
            return guarded(err, "on_config", [&] {
                const Config parsed(config);
                self(plugin)->collector->on_config(parsed);
            });
        } else {
            write_error(err, {"on_config: this plugin needs a restart to change its config"});
            return DE_ERR_UNSUPPORTED;
        }
    }

    static de_status health(de_plugin* plugin, de_health* out) noexcept {
        if (plugin == nullptr || out == nullptr) return DE_ERR_INVALID_ARGUMENT;
        Instance<C>* instance = self(plugin);
        try {
            Health report;
            if constexpr (HasHealth<C>) report = instance->collector->health();
            EmitStats stats = instance->host.emitter().stats();
            report.add("running", instance->running ? "true" : "false");
            report.add("events_emitted", stats.emitted);
            report.add("events_dropped", stats.dropped);
            if (stats.denied + stats.failed > 0) {
                report.add("events_refused", stats.denied + stats.failed);
            }
            write_health(report, out);
            return DE_OK;
        } catch (const std::exception& e) {
            write_health(Health::unhealthy(std::string("health() threw: ") + e.what()), out);
            return DE_ERR_INTERNAL;
        } catch (...) {
            Health unknown;
            unknown.state = DE_HEALTH_UNHEALTHY;
            write_health(unknown, out);
            return DE_ERR_INTERNAL;
        }
    }
};

}  // namespace detail

// Builds the descriptor of collector class C. The macro below is the usual way; tests that hold
// several collectors in one binary call this directly (only one entry symbol can exist).
// Every pointer argument must outlive the descriptor (string literals, static arrays).
template <class C>
constexpr de_plugin_descriptor make_descriptor(const char* name, const char* version,
                                               const char* description,
                                               const char* const* capabilities,
                                               const char* const* permissions,
                                               const char* const* publishes) {
    static_assert(detail::check_collector<C>());
    using T = detail::Trampolines<C>;
    de_plugin_descriptor d{};
    d.struct_size = sizeof(de_plugin_descriptor);
    d.abi_major = DE_PLUGIN_ABI_MAJOR;
    d.abi_minor = DE_PLUGIN_ABI_MINOR;
    d.name = name;
    d.version = version;
    d.description = description;
    d.capabilities = capabilities;
    d.permissions = permissions;
    d.publishes = publishes;
    d.create = &T::create;
    d.start = &T::start;
    d.stop = &T::stop;
    d.destroy = &T::destroy;
    d.on_task = detail::HasOnTask<C> ? &T::on_task : nullptr;
    d.on_config = detail::HasOnConfig<C> ? &T::on_config : nullptr;
    d.health = &T::health;
    return d;
}

}  // namespace daemoneye::sdk

// ("a", "b") -> "a", "b",     () -> (nothing). Used to build NULL-terminated string arrays.
#define DAEMONEYE_DETAIL_LIST(...) __VA_OPT__(__VA_ARGS__, )

// Turns collector class `Class` into a plugin: defines the exported entry symbol
// `daemoneye_plugin_entry` and a static descriptor whose functions call into Class, catching
// every exception. Use once per plugin, at global namespace scope, in one .cpp file.
//   capabilities, permissions, publishes: parenthesised lists of string literals, e.g.
//   ("enumerate_processes"), ("proc.read"), ("events.process.#"); () for none.
#define DAEMONEYE_PLUGIN(Class, name, version, description, capabilities, permissions, publishes) \
    static_assert(::daemoneye::sdk::valid_plugin_name(name),                                      \
                  "DAEMONEYE_PLUGIN: the name must match [a-z0-9_-]{1,64}");                      \
    extern "C" DE_PLUGIN_EXPORT const de_plugin_descriptor* daemoneye_plugin_entry(void) {        \
        static constexpr const char* const de_capabilities[] = {                                  \
            DAEMONEYE_DETAIL_LIST capabilities nullptr};                                          \
        static constexpr const char* const de_permissions[] = {                                   \
            DAEMONEYE_DETAIL_LIST permissions nullptr};                                           \
        static constexpr const char* const de_publishes[] = {                                     \
            DAEMONEYE_DETAIL_LIST publishes nullptr};                                             \
        static_assert(                                                                            \
            ::daemoneye::sdk::valid_list(de_publishes, ::daemoneye::sdk::topic::declarable),      \
            "DAEMONEYE_PLUGIN: every `publishes` entry must be a valid topic pattern that "       \
            "reaches neither control.* nor events.detection.alert (the agent's)");                \
        static constexpr de_plugin_descriptor de_descriptor =                                     \
            ::daemoneye::sdk::make_descriptor<Class>(name, version, description, de_capabilities, \
                                                     de_permissions, de_publishes);               \
        return &de_descriptor;                                                                    \
    }                                                                                             \
    static_assert(true, "DAEMONEYE_PLUGIN: terminate with a semicolon")
