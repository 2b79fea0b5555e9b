/*
 * DaemonEye collector plugin ABI.
 *
 * Pure C (C99 and later, C++ via extern "C"); no C++ or Boost types cross this boundary.
 *
 * COMPATIBILITY RULE (checked by the host before it calls anything else):
 *   the plugin is accepted iff  plugin.abi_major == host.abi_major
 *                          and  plugin.abi_minor <= host.abi_minor.
 *   A refusal names both versions and this rule.
 * Structs only ever grow at the end. Every struct starts with `struct_size`, set by whoever fills
 * the struct to sizeof() as *it* was compiled; a reader only touches fields that lie within
 * struct_size. Adding a field: append it, bump DE_PLUGIN_ABI_MINOR. Removing, reordering or
 * changing a field: bump DE_PLUGIN_ABI_MAJOR. tests/unit/plugin-api/abi_header_test.cpp holds a
 * hash of this file and fails when it changes without a version bump.
 *
 * OWNERSHIP in one sentence: whoever allocates frees. Strings the host passes in are valid only for
 * the duration of the call unless stated otherwise; strings in the descriptor are owned by the
 * plugin and must stay valid until the library is unloaded (use string literals).
 *
 * ERRORS: functions return de_status. No exception, longjmp or signal may cross this boundary;
 * the C++ SDK catches everything at the boundary. On failure a plugin writes a NUL-terminated
 * message into the host-owned `de_error` it was handed (if non-NULL).
 *
 * THREADS: the host calls create/start/stop/destroy/on_task/on_config/health from one thread (the
 * launcher's control thread), never concurrently. The host_api functions may be called from any
 * thread, including threads the plugin starts, at any time between create() returning and
 * destroy() returning.
 */
#ifndef DAEMONEYE_PLUGIN_API_H
#define DAEMONEYE_PLUGIN_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DE_PLUGIN_ABI_MAJOR 1
#define DE_PLUGIN_ABI_MINOR 0

/* The one symbol a plugin exports. Type: de_plugin_entry_fn. */
#define DE_PLUGIN_ENTRY_SYMBOL "daemoneye_plugin_entry"

#if defined(__GNUC__)
#define DE_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define DE_PLUGIN_EXPORT
#endif

/* Return codes of every ABI function. */
typedef enum de_status {
    DE_OK = 0,
    DE_ERR_INVALID_ARGUMENT = 1, /* a NULL or malformed argument */
    DE_ERR_UNSUPPORTED = 2,      /* the task kind / operation is not served by this plugin */
    DE_ERR_BACKPRESSURE = 3,     /* emit: the host's buffer is full; the event was NOT taken */
    DE_ERR_DENIED = 4,           /* emit: topic outside what the plugin declared in `publishes` */
    DE_ERR_STATE = 5,            /* called in the wrong state (e.g. start twice) */
    DE_ERR_NOT_FOUND = 6,        /* a task target (pid, path, ...) does not exist */
    DE_ERR_INTERNAL = 7,         /* anything else; the message says what */
    DE_ERR_CLOSED = 8            /* emit: the host is shutting down; stop producing */
} de_status;

typedef enum de_log_level {
    DE_LOG_TRACE = 0,
    DE_LOG_DEBUG = 1,
    DE_LOG_INFO = 2,
    DE_LOG_WARN = 3,
    DE_LOG_ERROR = 4
} de_log_level;

typedef enum de_health_state {
    DE_HEALTH_HEALTHY = 1,
    DE_HEALTH_DEGRADED = 2,
    DE_HEALTH_UNHEALTHY = 3
} de_health_state;

#define DE_ERROR_MESSAGE_CAPACITY 512

/* Filled by the plugin on failure.
 * OWNERSHIP: allocated by the host; the plugin writes at most DE_ERROR_MESSAGE_CAPACITY bytes
 * including the terminating NUL into `message`. */
typedef struct de_error {
    uint32_t struct_size;
    char message[DE_ERROR_MESSAGE_CAPACITY];
} de_error;

/* One configuration entry. Nested YAML is flattened with '.' (`hash.max_bytes`); sequences get
 * their index as a level (`paths.0`, `paths.1`). Values are the YAML scalars as text. */
typedef struct de_kv {
    const char* key;
    const char* value;
} de_kv;

/* A flat, read-only key/value list.
 * OWNERSHIP: host-owned; valid only for the duration of the call it is passed to. Copy what you
 * keep. */
typedef struct de_config {
    uint32_t struct_size;
    size_t count;
    const de_kv* items;
} de_config;

/* What the host offers the plugin.
 * OWNERSHIP: host-owned; the table and `host_ctx` stay valid from create() until destroy()
 * returns. */
typedef struct de_host_api {
    uint32_t struct_size;
    uint16_t abi_major; /* the host's ABI version */
    uint16_t abi_minor;
    void* host_ctx; /* opaque; pass back to every function below */

    /* REQUIRED. Publishes one event on the bus.
     * topic: a publish topic inside the plugin's declared `publishes` patterns (NUL-terminated).
     * type_name: full protobuf type name of `data` (e.g. "daemoneye.events.v1.ProcessEvent").
     * data/len: the serialized payload; copied before emit returns (caller keeps ownership).
     * Returns DE_OK, DE_ERR_BACKPRESSURE (buffer full: not taken, try later or count a drop),
     * DE_ERR_DENIED, DE_ERR_INVALID_ARGUMENT or DE_ERR_CLOSED.
     * Thread-safe; never blocks for long (bounded buffer, no waiting on the bus). The host stamps
     * the sequence number and timestamp. */
    de_status (*emit)(void* host_ctx, const char* topic, const char* type_name, const uint8_t* data,
                      size_t len);

    /* REQUIRED. Writes one log line, attributed to this plugin instance. Thread-safe.
     * msg: NUL-terminated, copied before return. */
    void (*log)(void* host_ctx, de_log_level level, const char* msg);

    /* REQUIRED. Wall-clock time, nanoseconds since the Unix epoch. Thread-safe. */
    uint64_t (*now_unix_nanos)(void* host_ctx);

    /* REQUIRED. Looks up a config value of this instance (as passed to create/on_config last).
     * Returns NULL when absent. OWNERSHIP: host-owned; valid until the next on_config call
     * returns or destroy(). Thread-safe. */
    const char* (*config_get)(void* host_ctx, const char* key);

    /* Instance id ("procmond-0"). NUL-terminated, host-owned, valid until destroy(). */
    const char* instance_id;
} de_host_api;

/* A task the agent routes to the plugin (capabilities name the kinds it serves). */
typedef struct de_task {
    uint32_t struct_size;
    const char* task_id; /* NUL-terminated; host-owned, valid for the call */
    const char* kind;    /* e.g. "enumerate_processes" */
    de_config params;    /* kind-specific filters; host-owned, valid for the call */
    uint64_t deadline_unix_nanos; /* 0: none */
} de_task;

/* Where a task's result records go.
 * OWNERSHIP: host-owned, valid for the duration of on_task only. */
typedef struct de_task_sink {
    uint32_t struct_size;
    void* sink_ctx;
    /* REQUIRED. Adds one result record (serialized protobuf of `type_name`); data is copied.
     * Returns DE_OK or DE_ERR_BACKPRESSURE when the result is over the host's size cap (the
     * result is then marked partial). Call only from inside on_task, on its thread. */
    de_status (*add_record)(void* sink_ctx, const char* type_name, const uint8_t* data, size_t len);
} de_task_sink;

#define DE_HEALTH_DETAIL_CAPACITY 1024

/* Filled by the plugin's health(). OWNERSHIP: host-allocated; the plugin writes into it. */
typedef struct de_health {
    uint32_t struct_size;
    de_health_state state;
    uint64_t errors; /* unreadable entries, parse failures, ... since start */
    /* Free text, "key=value" lines, NUL-terminated: e.g. "mode=netlink\nview=full". Shown by
     * `collectors status`. */
    char detail[DE_HEALTH_DETAIL_CAPACITY];
} de_health;

/* Opaque plugin instance. */
typedef struct de_plugin de_plugin;

/* Everything the host learns about a plugin. Returned by the entry symbol.
 * OWNERSHIP: plugin-owned, static; every pointer in it stays valid while the library is loaded. */
typedef struct de_plugin_descriptor {
    uint32_t struct_size;
    uint16_t abi_major; /* DE_PLUGIN_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor; /* DE_PLUGIN_ABI_MINOR the plugin was built with */

    const char* name;        /* REQUIRED. [a-z0-9_-]{1,64}; unique among installed plugins */
    const char* version;     /* REQUIRED. the plugin's own version, e.g. "1.2.0" */
    const char* description; /* REQUIRED. one line */

    /* NULL-terminated arrays of NUL-terminated strings (may be empty, never NULL). */
    const char* const* capabilities; /* task kinds served, e.g. "enumerate_processes" */
    const char* const* permissions;  /* sandbox needs: "proc.read", "net.read", "fs.watch", ... */
    const char* const* publishes;    /* topic patterns it emits to, e.g. "events.process.#" */

    /* REQUIRED. Creates an instance. Must not start threads or emit (start() does).
     * host: valid until destroy() returns. config: valid for this call only.
     * Returns the instance, or NULL with `err` filled. OWNERSHIP: the instance is freed by
     * destroy(). */
    de_plugin* (*create)(const de_host_api* host, const de_config* config, de_error* err);

    /* REQUIRED. Begins collecting (start threads, open watches). Returns promptly. */
    de_status (*start)(de_plugin* self, de_error* err);

    /* REQUIRED. Stops collecting: every plugin thread has finished emitting when it returns.
     * Idempotent. */
    de_status (*stop)(de_plugin* self, de_error* err);

    /* REQUIRED. Frees the instance (calls stop first if needed). `self` is invalid afterwards. */
    void (*destroy)(de_plugin* self);

    /* OPTIONAL (NULL: no tasks). Serves one task synchronously, adding records to `sink`.
     * Returns DE_OK, DE_ERR_UNSUPPORTED (unknown kind), DE_ERR_NOT_FOUND, DE_ERR_INVALID_ARGUMENT
     * or DE_ERR_INTERNAL with `err` filled. */
    de_status (*on_task)(de_plugin* self, const de_task* task, const de_task_sink* sink,
                         de_error* err);

    /* OPTIONAL (NULL: config changes need a restart). Applies a new config while running.
     * Returns DE_OK or DE_ERR_INVALID_ARGUMENT with `err` naming the key; on error the old config
     * stays in force. */
    de_status (*on_config)(de_plugin* self, const de_config* config, de_error* err);

    /* OPTIONAL (NULL: healthy while running). Fills `out` (struct_size set by the host). */
    de_status (*health)(de_plugin* self, de_health* out);
} de_plugin_descriptor;

/* The entry symbol's type. Must be callable any number of times, from any thread, and have no
 * side effects; the host may call it to read the descriptor without ever calling create(). */
typedef const de_plugin_descriptor* (*de_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DAEMONEYE_PLUGIN_API_H */
