/*
 * DaemonEye collector plugin ABI, version 1.2 (1.1 added de_host_api::socket_owners, 1.2
 * de_host_api::process_links and open_process_exe).
 *
 * Pure C (C99 and later; C++ through extern "C"). No C++ or Boost types cross this boundary, so a
 * plugin can be written in C, C++, Rust, Zig or anything else with a C FFI. The C++ SDK
 * (daemoneye/sdk/collector.hpp) builds everything below from a class; docs/plugin-sdk.md is the
 * guide.
 *
 * ---------------------------------------------------------------------------------------------
 * COMPATIBILITY RULE (checked by the host before it calls anything but the entry symbol):
 *   the plugin is accepted iff  plugin.abi_major == host.abi_major
 *                          and  plugin.abi_minor <= host.abi_minor.
 *   A refusal names both versions and this rule ("plugin ABI 1.3, host ABI 1.2: host minor must
 *   be >= plugin minor").
 *
 * EVOLUTION: structs only ever grow at the end. Every struct starts with `struct_size`, set by
 * whoever fills the struct to sizeof() as *it* was compiled; a reader only touches fields that lie
 * entirely within struct_size. Structs are therefore never embedded by value in other structs
 * (that would move the fields after them); they are referenced by pointer.
 *   - Appending a field, a function pointer, an enum value or a macro: bump DE_PLUGIN_ABI_MINOR.
 *   - Removing, reordering, retyping or changing the meaning of anything: bump DE_PLUGIN_ABI_MAJOR
 *     and reset the minor to 0.
 * tests/unit/plugin-api/abi_header_test.cpp records a hash of this file's declarations (comments
 * and whitespace excluded) for the current version and fails when they change without a bump.
 *
 * ---------------------------------------------------------------------------------------------
 * OWNERSHIP: whoever allocates frees. Each pointer below carries an OWNERSHIP line saying who owns
 * it and how long it stays valid. In short:
 *   - strings and structs the host passes in are host-owned and valid only for the duration of the
 *     call, unless the OWNERSHIP line says otherwise; copy what you keep;
 *   - data the plugin passes to the host (emit, add_record, log) is copied before the call returns;
 *     the plugin keeps ownership;
 *   - the descriptor and every string in it are plugin-owned, static, and stay valid until the
 *     library is unloaded (use string literals);
 *   - a de_plugin instance is allocated by create() and freed by destroy(), both in the plugin.
 *
 * ERRORS: every function that can fail returns de_status. On failure the plugin writes a
 * NUL-terminated, human-readable message into the host-owned `de_error` it was handed (when that
 * pointer is non-NULL), saying what failed and where ("config key 'paths.2': not an absolute
 * path"). No exception, longjmp or signal may cross this boundary; the C++ SDK catches every
 * exception (constructors included) and turns it into a de_status plus message.
 *
 * THREADS:
 *   - The host calls the descriptor's functions (create, start, stop, destroy, on_task, on_config,
 *     health) from one thread, the launcher's control thread, and never two at once. While
 *     on_task runs, no other descriptor function is called, so honour the task's deadline.
 *   - The de_host_api functions are thread-safe: they may be called from any thread, including
 *     threads the plugin starts itself, at any time from the moment create() is entered until
 *     destroy() returns. A plugin must have joined its threads before destroy() returns.
 *   - The entry symbol may be called from any thread, any number of times.
 *
 * PERMISSIONS (descriptor.permissions): what the sandbox must allow. Names known to ABI 1.0:
 *   "proc.read"          read /proc of every process; since ABI 1.2 other users' exe/cwd/ns
 *                        links and executables come from de_host_api::process_links and
 *                        open_process_exe (the plugin itself keeps no capability)
 *   "proc.events"        process lifecycle notifications (netlink proc connector; needs
 *                        CAP_NET_ADMIN and a netlink socket)
 *   "net.read"           read socket tables (/proc/net, sock_diag netlink); keeps the host's
 *                        network namespace view; since ABI 1.1 the host offers socket owners
 *                        through de_host_api::socket_owners
 *   "fs.read:<path>"     read-only access below <path>
 *   "fs.watch:<path>"    read and inotify-watch below <path>
 *   "fs.read", "fs.watch" without a path: the paths come from the operator (the agent grants
 *                        them per instance as "fs.watch:<path>", e.g. from the collector config)
 * Anything not granted fails with EPERM inside the plugin and is reported to the agent.
 */
#ifndef DAEMONEYE_PLUGIN_API_H
#define DAEMONEYE_PLUGIN_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DE_PLUGIN_ABI_MAJOR 1
#define DE_PLUGIN_ABI_MINOR 2

/* The one symbol a plugin exports; its type is de_plugin_entry_fn. */
#define DE_PLUGIN_ENTRY_SYMBOL "daemoneye_plugin_entry"

#if defined(__GNUC__)
#define DE_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define DE_PLUGIN_EXPORT
#endif

/* Return codes of every ABI function. Values are fixed forever; new codes are appended. */
typedef enum de_status {
    DE_OK = 0,
    DE_ERR_INVALID_ARGUMENT = 1, /* a NULL or malformed argument, or bad config */
    DE_ERR_UNSUPPORTED = 2,      /* the task kind / operation is not served by this plugin */
    DE_ERR_BACKPRESSURE = 3,     /* emit/add_record: the host's buffer is full; NOT taken */
    DE_ERR_DENIED = 4,           /* emit: topic outside the plugin's declared `publishes` */
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
    DE_HEALTH_DEGRADED = 2, /* working, but with reduced coverage (e.g. some paths unreadable) */
    DE_HEALTH_UNHEALTHY = 3 /* not collecting; the agent may restart the instance */
} de_health_state;

#define DE_ERROR_MESSAGE_CAPACITY 512

/* Where a plugin describes a failure.
 * OWNERSHIP: allocated by the host, which sets struct_size and message[0] = '\0' before the call.
 * The plugin writes at most DE_ERROR_MESSAGE_CAPACITY bytes, including the terminating NUL, into
 * `message`, and only when the function fails. */
typedef struct de_error {
    uint32_t struct_size;
    char message[DE_ERROR_MESSAGE_CAPACITY];
} de_error;

/* One configuration entry. Nested YAML is flattened with '.' (`hash.max_bytes`); sequence items
 * get their index as a level (`paths.0`, `paths.1`); an empty sequence or map is one entry whose
 * value is "[]" or "{}". Values are the YAML scalars as text (NUL-terminated, UTF-8). */
typedef struct de_kv {
    const char* key;
    const char* value;
} de_kv;

/* A flat, read-only key/value list (keys unique, in no particular order).
 * OWNERSHIP: host-owned; the struct, `items` and every string in it are valid only for the
 * duration of the call they are passed to. Copy what you keep. */
typedef struct de_config {
    uint32_t struct_size;
    size_t count;
    const de_kv* items; /* `count` entries; may be NULL when count == 0 */
} de_config;

/* Inodes per de_host_api::socket_owners call (ABI 1.1). */
#define DE_SOCKET_OWNERS_MAX 4096

/* Called by de_host_api::socket_owners for each socket whose holder was found (ABI 1.1). */
typedef void (*de_socket_owner_fn)(void* found_ctx, uint64_t inode, uint32_t pid, const char* comm,
                                   const char* exe);

/* Namespace links per de_process_links (ABI 1.2). */
#define DE_PROCESS_NS_MAX 16

/* What de_host_api::process_links reports about one process (ABI 1.2): the ptrace-protected
 * parts of /proc/<pid> a process collector needs, read by the host with the privileges the
 * plugin does not keep. Every *_errno is 0 when the fields it guards are valid, else the errno
 * the host got (EACCES, ENOENT for a kernel thread or a process that just exited, ...).
 * OWNERSHIP: host-owned; the struct and every string and array in it are valid during the
 * de_process_links_fn call only. Read only fields within struct_size. */
typedef struct de_process_links {
    uint32_t struct_size;
    uint32_t pid;
    /* readlink("/proc/<pid>/exe") and stat() through that link (the running image). */
    int32_t exe_errno;
    const char* exe; /* "" unless exe_errno == 0; may end in " (deleted)" like the link */
    uint64_t exe_dev;
    uint64_t exe_ino;
    int64_t exe_mtime_ns;
    int64_t exe_ctime_ns;
    uint64_t exe_size;
    uint32_t exe_mode;
    uint32_t exe_uid;
    uint64_t exe_nlink;
    /* readlink("/proc/<pid>/cwd"). */
    int32_t cwd_errno;
    const char* cwd; /* "" unless cwd_errno == 0 */
    /* readlink("/proc/<pid>/ns/<name>") for the namespaces the host looks up (the launcher:
     * cgroup, ipc, mnt, net, pid, pid_for_children, time, time_for_children, user, uts; those the
     * kernel lacks are left out), at most DE_PROCESS_NS_MAX: ns_names[i] ("mnt"), ns_links[i]
     * ("mnt:[4026531841]", "" unless ns_errnos[i] == 0). */
    size_t ns_count;
    const char* const* ns_names;
    const char* const* ns_links;
    const int32_t* ns_errnos;
    /* lstat() of the exe path (above, without " (deleted)") resolved inside the process's own
     * root directory: which file that path names now (a replaced binary has another inode). */
    int32_t root_exe_errno;
    uint64_t root_exe_dev;
    uint64_t root_exe_ino;
    /* Opaque, non-zero while known: changes when the process maps a new image (exec), even of
     * the same file. Derived by the host from the process's memory layout with a per-host secret
     * key, so it tells nothing about addresses. 0: unknown. */
    uint64_t image_fingerprint;
} de_process_links;

/* Called by de_host_api::process_links with the answer (ABI 1.2). */
typedef void (*de_process_links_fn)(void* found_ctx, const de_process_links* links);

/* What the host offers the plugin.
 * OWNERSHIP: host-owned; the table, every pointer in it and `host_ctx` stay valid from the moment
 * create() is entered until destroy() returns. */
typedef struct de_host_api {
    uint32_t struct_size;
    uint16_t abi_major; /* the host's ABI version */
    uint16_t abi_minor;
    void* host_ctx; /* opaque; pass it back as the first argument of every function below */

    /* Publishes one event on the bus. Always present.
     * topic: NUL-terminated publish topic (no wildcards) matching one of the plugin's declared
     *   `publishes` patterns, e.g. "events.process.lifecycle".
     * type_name: NUL-terminated full protobuf type name of `data`
     *   (e.g. "daemoneye.events.v1.ProcessEvent"); subscribers use it to decode.
     * data, len: the serialized payload; `data` may be NULL only when len == 0.
     * Returns DE_OK (taken), DE_ERR_BACKPRESSURE (buffer full: NOT taken; drop and count it, or
     *   retry later), DE_ERR_DENIED (topic not declared or not a valid topic),
     *   DE_ERR_INVALID_ARGUMENT (NULL topic/type, oversized payload) or DE_ERR_CLOSED (the host
     *   is shutting down).
     * OWNERSHIP: all arguments stay the caller's; they are copied before emit returns.
     * Thread-safe; never blocks for long (a bounded buffer, no waiting on the bus). The host
     * stamps the sequence number and timestamp. */
    de_status (*emit)(void* host_ctx, const char* topic, const char* type_name, const uint8_t* data,
                      size_t len);

    /* Writes one log line, attributed to this plugin instance. Always present.
     * msg: NUL-terminated UTF-8, without a trailing newline.
     * OWNERSHIP: msg stays the caller's; copied before return. Thread-safe. */
    void (*log)(void* host_ctx, de_log_level level, const char* msg);

    /* Wall-clock time, nanoseconds since the Unix epoch (CLOCK_REALTIME). Always present.
     * Thread-safe. Use it for event timestamps so tests can control time. */
    uint64_t (*now_unix_nanos)(void* host_ctx);

    /* Looks up a value of this instance's current config (as last passed to create or
     * on_config). Always present. key: NUL-terminated flattened key ("paths.0").
     * Returns the value, or NULL when the key is absent.
     * OWNERSHIP: host-owned; the returned string stays valid until destroy() returns (the host
     * keeps superseded values alive, so a plugin thread may keep one across an on_config).
     * Thread-safe. */
    const char* (*config_get)(void* host_ctx, const char* key);

    /* This instance's id, e.g. "procmond-0". NUL-terminated.
     * OWNERSHIP: host-owned, valid until destroy() returns. */
    const char* instance_id;

    /* ---- ABI 1.1 ---- Fields below exist only when struct_size covers them: test with
     * DE_HOST_API_HAS(api, field) before use (a 1.0 host's table ends at instance_id). */

    /* OPTIONAL (NULL or not covered by struct_size: not offered; read /proc yourself). Which
     * processes hold these sockets. The launcher offers it to instances granted "net.read": a
     * small privileged helper process outside the plugin's sandbox walks every process's
     * /proc/<pid>/fd for "socket:[inode]" links, so the plugin itself needs no capability to see
     * other users' processes.
     * inodes, count: socket inode numbers (e.g. from /proc/net/tcp or sock_diag);
     *   count <= DE_SOCKET_OWNERS_MAX; `inodes` may be NULL only when count == 0; 0 is ignored.
     * found, found_ctx: called once for each inode for which a holder was found (at most once per
     *   inode, in no particular order, on the calling thread, before socket_owners returns);
     *   inodes without a visible holder get no call. Arguments of `found`: the inode, the pid of
     *   one process holding it, its name (comm, "" when unknown) and its executable path ("" when
     *   unreadable). OWNERSHIP: the strings are host-owned, valid during that call only.
     *   `found` must not call socket_owners and must not throw, longjmp or unwind.
     * Returns DE_OK (every inode looked up; some may have no holder), DE_ERR_INVALID_ARGUMENT
     *   (NULL `found`, NULL `inodes` with count > 0, count > DE_SOCKET_OWNERS_MAX) or
     *   DE_ERR_INTERNAL (the helper is gone or did not answer in time; the message went to the
     *   host's log). Owners already reported stay valid.
     * Thread-safe (calls are serialized); may block for as long as a walk of /proc takes. */
    de_status (*socket_owners)(void* host_ctx, const uint64_t* inodes, size_t count,
                               de_socket_owner_fn found, void* found_ctx);

    /* ---- ABI 1.2 ---- Test with DE_HOST_API_HAS before use (1.0/1.1 tables end earlier). */

    /* OPTIONAL (NULL or not covered by struct_size: not offered; read /proc yourself). The
     * ptrace-protected links of one process (exe, cwd, ns/<name>, see de_process_links), read by
     * a small privileged helper process outside the plugin's sandbox. The launcher offers it to
     * instances granted "proc.read", whose plugin process then keeps no capability.
     * pid: 1 .. 4194304 (PID_MAX_LIMIT).
     * found, found_ctx: called exactly once, on the calling thread, before process_links returns
     *   DE_OK. `found` must not call the host's process functions and must not throw, longjmp or
     *   unwind. OWNERSHIP: everything it receives is host-owned, valid during that call only.
     * Returns DE_OK (parts the host could not read carry their errno), DE_ERR_NOT_FOUND (no such
     *   process), DE_ERR_INVALID_ARGUMENT (NULL `found`, pid out of range) or DE_ERR_INTERNAL
     *   (the helper is gone or did not answer in time; the message went to the host's log).
     * Thread-safe (calls are serialized with the other helper calls); costs one round trip to
     * the helper. */
    de_status (*process_links)(void* host_ctx, uint32_t pid, de_process_links_fn found,
                               void* found_ctx);

    /* OPTIONAL (as process_links). Opens the executable process `pid` is running (through
     * /proc/<pid>/exe, by the helper) read-only and hands the descriptor over, so the plugin can
     * hash what runs without the capability to open it itself. The helper only hands over files
     * the sandbox's user could read by their mode bits (it never lends its own privileges to
     * read a file) and never opens a path the plugin names.
     * fd_out: receives the descriptor (O_RDONLY, close-on-exec, offset 0); -1 on failure.
     *   OWNERSHIP: the plugin owns it and must close() it.
     * Returns DE_OK, DE_ERR_NOT_FOUND (no such process, or a kernel thread without an image),
     *   DE_ERR_DENIED (not readable by the sandbox's user), DE_ERR_INVALID_ARGUMENT (NULL
     *   `fd_out`, pid out of range) or DE_ERR_INTERNAL (as process_links).
     * Thread-safe; one round trip. */
    de_status (*open_process_exe)(void* host_ctx, uint32_t pid, int* fd_out);
} de_host_api;

/* Whether `api` (a de_host_api*) offers `field`: struct_size covers it and it is non-NULL. */
#define DE_HOST_API_HAS(api, field)                                                                \
    ((api) != NULL && (api)->struct_size >= offsetof(de_host_api, field) + sizeof((api)->field) && \
     (api)->field != NULL)

/* A task the agent routes to the plugin (the descriptor's `capabilities` name the kinds it serves).
 * OWNERSHIP: host-owned; the struct and everything it points to are valid for the on_task call
 * only. */
typedef struct de_task {
    uint32_t struct_size;
    const char* task_id;          /* NUL-terminated; correlates the result */
    const char* kind;             /* NUL-terminated, e.g. "enumerate_processes" */
    const de_config* params;      /* kind-specific filters, flattened like config; never NULL */
    uint64_t deadline_unix_nanos; /* 0: none. Past it, return what you have: the host marks the
                                     result partial */
} de_task;

/* Where a task's result records go.
 * OWNERSHIP: host-owned; the struct and `sink_ctx` are valid for the duration of on_task only. */
typedef struct de_task_sink {
    uint32_t struct_size;
    void* sink_ctx; /* opaque; pass it back to add_record */
    /* Adds one result record. Always present.
     * type_name: NUL-terminated full protobuf type name of `data`.
     * data, len: serialized protobuf message; copied before return (caller keeps ownership).
     * Returns DE_OK or DE_ERR_BACKPRESSURE when the result is over the host's size cap (stop
     * adding: the result is marked partial), DE_ERR_INVALID_ARGUMENT for NULL arguments.
     * Thread-safety: call only from inside on_task, on its thread. */
    de_status (*add_record)(void* sink_ctx, const char* type_name, const uint8_t* data, size_t len);
} de_task_sink;

#define DE_HEALTH_DETAIL_CAPACITY 1024

/* Filled by the plugin's health().
 * OWNERSHIP: host-allocated; the host sets struct_size, state = DE_HEALTH_HEALTHY, errors = 0 and
 * detail[0] = '\0' before the call; the plugin overwrites what it knows. */
typedef struct de_health {
    uint32_t struct_size;
    de_health_state state;
    uint64_t errors; /* unreadable entries, parse failures, dropped events ... since start */
    /* Free text, "key=value" lines, NUL-terminated, at most DE_HEALTH_DETAIL_CAPACITY bytes
     * including the NUL: e.g. "mode=netlink\nview=full". Shown by `collectors status`. */
    char detail[DE_HEALTH_DETAIL_CAPACITY];
} de_health;

/* Opaque plugin instance, defined by the plugin. */
typedef struct de_plugin de_plugin;

/* Everything the host learns about a plugin. Returned by the entry symbol.
 * OWNERSHIP: plugin-owned and static; the struct and every pointer in it stay valid while the
 * library is loaded. The host never writes to it. */
typedef struct de_plugin_descriptor {
    uint32_t struct_size; /* sizeof(de_plugin_descriptor) as the plugin was compiled */
    uint16_t abi_major;   /* DE_PLUGIN_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;   /* DE_PLUGIN_ABI_MINOR the plugin was built with */

    const char* name;        /* REQUIRED. [a-z0-9_-]{1,64}; unique among installed plugins */
    const char* version;     /* REQUIRED. the plugin's own version, e.g. "1.2.0" */
    const char* description; /* REQUIRED. one line */

    /* REQUIRED. NULL-terminated arrays of NUL-terminated strings; an empty list is an array
     * holding only NULL, never a NULL pointer. */
    const char* const* capabilities; /* task kinds served by on_task, e.g. "enumerate_processes" */
    const char* const* permissions;  /* sandbox needs, see PERMISSIONS above */
    const char* const* publishes;    /* topic patterns it emits to, e.g. "events.process.#" */

    /* REQUIRED. Creates an instance from its config. Must not start threads or emit: start()
     * does. May log.
     * host: the host's table. OWNERSHIP: host-owned, valid until destroy() returns.
     * config: the instance's flattened config. OWNERSHIP: host-owned, valid for this call only.
     * out: where the new instance goes; set to NULL on failure.
     *   OWNERSHIP: the instance belongs to the plugin and is freed by destroy().
     * err: host-owned, see de_error.
     * Returns DE_OK, DE_ERR_INVALID_ARGUMENT (bad config: the message names the key) or
     * DE_ERR_INTERNAL. */
    de_status (*create)(const de_host_api* host, const de_config* config, de_plugin** out,
                        de_error* err);

    /* REQUIRED. Begins collecting (starts threads, opens watches) and returns promptly.
     * Returns DE_OK, DE_ERR_STATE (already started) or DE_ERR_INTERNAL with `err` filled. */
    de_status (*start)(de_plugin* self, de_error* err);

    /* REQUIRED. Stops collecting. When it returns, every plugin thread has stopped calling the
     * host (emit, log). Idempotent: stopping a stopped instance returns DE_OK. start() may be
     * called again afterwards. */
    de_status (*stop)(de_plugin* self, de_error* err);

    /* REQUIRED. Frees the instance, calling stop first if it is running. Must not fail or throw.
     * `self` is invalid afterwards. */
    void (*destroy)(de_plugin* self);

    /* OPTIONAL (NULL: the plugin serves no tasks). Serves one task synchronously on the control
     * thread, in any state after create (running or not), adding records to `sink`.
     * task, sink: OWNERSHIP host-owned, valid for this call only.
     * Returns DE_OK, DE_ERR_UNSUPPORTED (unknown kind), DE_ERR_NOT_FOUND,
     * DE_ERR_INVALID_ARGUMENT (bad params: the message names the parameter) or DE_ERR_INTERNAL,
     * with `err` filled on failure. Records added before a failure are still delivered. */
    de_status (*on_task)(de_plugin* self, const de_task* task, const de_task_sink* sink,
                         de_error* err);

    /* OPTIONAL (NULL: config changes need a restart). Applies a new config while created or
     * running. config: OWNERSHIP host-owned, valid for this call only.
     * Returns DE_OK, or DE_ERR_INVALID_ARGUMENT with `err` naming the key; on any error the old
     * config stays in force. */
    de_status (*on_config)(de_plugin* self, const de_config* config, de_error* err);

    /* OPTIONAL (NULL: healthy while running). Reports health into `out` (see de_health).
     * Returns DE_OK; any other status is reported as unhealthy. */
    de_status (*health)(de_plugin* self, de_health* out);
} de_plugin_descriptor;

/* The entry symbol's type. It must be callable any number of times, from any thread, and have no
 * side effects; it returns the same descriptor every time (never NULL). The host calls it to read
 * the descriptor without ever calling create() (`daemoneye-launcher --describe`).
 * OWNERSHIP: the descriptor is plugin-owned, static. */
typedef const de_plugin_descriptor* (*de_plugin_entry_fn)(void);

/* The entry symbol itself, declared so that a plugin's definition is type-checked. A plugin
 * defines it once: DE_PLUGIN_EXPORT const de_plugin_descriptor* daemoneye_plugin_entry(void)
 * { ... }. (The C++ SDK's DAEMONEYE_PLUGIN macro does this.) */
DE_PLUGIN_EXPORT const de_plugin_descriptor* daemoneye_plugin_entry(void);

/* A stable name for a status ("DE_ERR_BACKPRESSURE"), for messages. Never NULL. */
static inline const char* de_status_name(de_status status) {
    switch (status) {
        case DE_OK:
            return "DE_OK";
        case DE_ERR_INVALID_ARGUMENT:
            return "DE_ERR_INVALID_ARGUMENT";
        case DE_ERR_UNSUPPORTED:
            return "DE_ERR_UNSUPPORTED";
        case DE_ERR_BACKPRESSURE:
            return "DE_ERR_BACKPRESSURE";
        case DE_ERR_DENIED:
            return "DE_ERR_DENIED";
        case DE_ERR_STATE:
            return "DE_ERR_STATE";
        case DE_ERR_NOT_FOUND:
            return "DE_ERR_NOT_FOUND";
        case DE_ERR_INTERNAL:
            return "DE_ERR_INTERNAL";
        case DE_ERR_CLOSED:
            return "DE_ERR_CLOSED";
    }
    return "DE_ERR_UNKNOWN";
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DAEMONEYE_PLUGIN_API_H */
