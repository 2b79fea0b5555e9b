/*
 * A complete DaemonEye collector in C99 with no SDK: it shows what the C++ macro generates and
 * that any language with a C FFI can implement the ABI.
 *
 * - While running, a thread emits a daemoneye.events.v1.ProcessEvent (kind SNAPSHOT, describing
 *   this process) on "events.example.c" every `interval_ms` (config, default 1000, 1..3600000).
 * - Task "self_info" adds one daemoneye.events.v1.ProcessInfo record about this process.
 * The protobuf bytes are encoded by hand (a few varints and strings), so no protobuf runtime is
 * needed; a real C plugin would use protobuf-c or nanopb.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemoneye/plugin_api.h"

struct de_plugin {
    const de_host_api* host;
    long interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int running; /* guarded by lock */
    int thread_started;
    unsigned long emitted;
    unsigned long dropped;
};

static void set_error(de_error* err, const char* fmt, const char* arg) {
    if (err != NULL && err->struct_size >= sizeof(de_error)) {
        snprintf(err->message, sizeof err->message, fmt, arg);
    }
}

/* ---------------------------------------------------------------- hand-rolled protobuf */

typedef struct buffer {
    uint8_t data[256];
    size_t len;
} buffer;

static void put_varint(buffer* b, uint64_t v) {
    while (b->len < sizeof b->data) {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7;
        b->data[b->len++] = (uint8_t)(byte | (v != 0 ? 0x80 : 0));
        if (v == 0) return;
    }
}

static void put_uint(buffer* b, uint32_t field, uint64_t v) {
    put_varint(b, ((uint64_t)field << 3) | 0); /* wire type 0: varint */
    put_varint(b, v);
}

static void put_bytes(buffer* b, uint32_t field, const void* data, size_t len) {
    put_varint(b, ((uint64_t)field << 3) | 2); /* wire type 2: length-delimited */
    put_varint(b, len);
    if (len > sizeof b->data - b->len) len = sizeof b->data - b->len;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

/* ProcessInfo { pid = 1; ppid = 2; name = 3; uid = 6 } */
static void encode_self_info(buffer* out) {
    char name[64] = "c_collector";
    FILE* comm = fopen("/proc/self/comm", "r");
    if (comm != NULL) {
        if (fgets(name, sizeof name, comm) != NULL) name[strcspn(name, "\n")] = '\0';
        fclose(comm);
    }
    out->len = 0;
    put_uint(out, 1, (uint64_t)getpid());
    put_uint(out, 2, (uint64_t)getppid());
    put_bytes(out, 3, name, strlen(name));
    put_uint(out, 6, (uint64_t)getuid());
}

/* ProcessEvent { kind = 1 (SNAPSHOT); process = 2; observed_unix_nanos = 7 } */
static void encode_event(const de_host_api* host, buffer* out) {
    buffer info;
    encode_self_info(&info);
    out->len = 0;
    put_uint(out, 1, 1);
    put_bytes(out, 2, info.data, info.len);
    put_uint(out, 7, host->now_unix_nanos(host->host_ctx));
}

/* ---------------------------------------------------------------- the emitting thread */

static void* run(void* arg) {
    de_plugin* self = (de_plugin*)arg;
    pthread_mutex_lock(&self->lock);
    while (self->running) {
        buffer event;
        de_status status;
        struct timespec until;
        pthread_mutex_unlock(&self->lock);

        encode_event(self->host, &event);
        status = self->host->emit(self->host->host_ctx, "events.example.c",
                                  "daemoneye.events.v1.ProcessEvent", event.data, event.len);

        pthread_mutex_lock(&self->lock);
        if (status == DE_OK) {
            ++self->emitted;
        } else {
            ++self->dropped; /* backpressure or shutdown: counted, shown in health */
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += self->interval_ms / 1000;
        until.tv_nsec += (self->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec += 1;
            until.tv_nsec -= 1000000000L;
        }
        while (self->running && pthread_cond_timedwait(&self->wake, &self->lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/* ---------------------------------------------------------------- the ABI functions */

static de_status c_create(const de_host_api* host, const de_config* config, de_plugin** out,
                          de_error* err) {
    size_t i;
    de_plugin* self;
    if (out == NULL || host == NULL || config == NULL) {
        set_error(err, "create: %s", "NULL argument");
        return DE_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    self = (de_plugin*)calloc(1, sizeof *self);
    if (self == NULL) {
        set_error(err, "create: %s", "out of memory");
        return DE_ERR_INTERNAL;
    }
    self->host = host;
    self->interval_ms = 1000;
    for (i = 0; i < config->count; ++i) {
        const de_kv* kv = &config->items[i];
        if (strcmp(kv->key, "interval_ms") == 0) {
            char* end = NULL;
            errno = 0;
            self->interval_ms = strtol(kv->value, &end, 10);
            if (errno != 0 || end == kv->value || *end != '\0' || self->interval_ms < 1 ||
                self->interval_ms > 3600000) {
                set_error(err,
                          "config key 'interval_ms': expected an integer in [1, 3600000], "
                          "got '%s'",
                          kv->value);
                free(self);
                return DE_ERR_INVALID_ARGUMENT;
            }
        } else {
            set_error(err, "unknown config key '%s' (known: interval_ms)", kv->key);
            free(self);
            return DE_ERR_INVALID_ARGUMENT;
        }
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    *out = self;
    return DE_OK;
}

static de_status c_start(de_plugin* self, de_error* err) {
    int rc;
    if (self->thread_started) {
        set_error(err, "start: %s", "already running");
        return DE_ERR_STATE;
    }
    self->running = 1;
    rc = pthread_create(&self->thread, NULL, run, self);
    if (rc != 0) {
        self->running = 0;
        set_error(err, "start: pthread_create failed: %s", strerror(rc));
        return DE_ERR_INTERNAL;
    }
    self->thread_started = 1;
    self->host->log(self->host->host_ctx, DE_LOG_INFO, "c_collector started");
    return DE_OK;
}

static de_status c_stop(de_plugin* self, de_error* err) {
    (void)err;
    if (!self->thread_started) return DE_OK;
    pthread_mutex_lock(&self->lock);
    self->running = 0;
    pthread_cond_broadcast(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL); /* after this, no thread of ours calls the host */
    self->thread_started = 0;
    return DE_OK;
}

static void c_destroy(de_plugin* self) {
    if (self == NULL) return;
    c_stop(self, NULL);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
}

static de_status c_on_task(de_plugin* self, const de_task* task, const de_task_sink* sink,
                           de_error* err) {
    buffer info;
    (void)self;
    if (strcmp(task->kind, "self_info") != 0) {
        set_error(err, "task kind '%s' is not served by c_collector", task->kind);
        return DE_ERR_UNSUPPORTED;
    }
    encode_self_info(&info);
    return sink->add_record(sink->sink_ctx, "daemoneye.events.v1.ProcessInfo", info.data,
                            info.len) == DE_ERR_INVALID_ARGUMENT
               ? DE_ERR_INTERNAL
               : DE_OK;
}

static de_status c_health(de_plugin* self, de_health* out) {
    unsigned long emitted, dropped;
    pthread_mutex_lock(&self->lock);
    emitted = self->emitted;
    dropped = self->dropped;
    pthread_mutex_unlock(&self->lock);
    out->state = DE_HEALTH_HEALTHY;
    out->errors = dropped;
    snprintf(out->detail, sizeof out->detail, "running=%s\nevents_emitted=%lu\nevents_dropped=%lu",
             self->thread_started ? "true" : "false", emitted, dropped);
    return DE_OK;
}

static const char* const capabilities[] = {"self_info", NULL};
static const char* const permissions[] = {NULL};
static const char* const publishes[] = {"events.example.#", NULL};

static const de_plugin_descriptor descriptor = {
    sizeof(de_plugin_descriptor),
    DE_PLUGIN_ABI_MAJOR,
    DE_PLUGIN_ABI_MINOR,
    "c_collector",
    "1.0.0",
    "Example collector in plain C: emits a snapshot of itself periodically",
    capabilities,
    permissions,
    publishes,
    c_create,
    c_start,
    c_stop,
    c_destroy,
    c_on_task,
    NULL, /* on_config: config changes need a restart */
    c_health,
};

DE_PLUGIN_EXPORT const de_plugin_descriptor* daemoneye_plugin_entry(void) {
    return &descriptor;
}
