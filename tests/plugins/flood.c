/* start() runs a thread that emits as fast as it can until stop(); health() reports how many
 * emits were taken and how many came back DE_ERR_BACKPRESSURE. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_plugin.h"

static const char* const k_none[] = {NULL};
static const char* const k_pubs[] = {"events.test.flood", NULL};

typedef struct flood {
    const de_host_api* host;
    pthread_t thread;
    int running;
    atomic_int stop;
    atomic_ulong ok, backpressure, closed, other;
} flood;

static void* flood_main(void* arg) {
    flood* f = (flood*)arg;
    char payload[200];
    memset(payload, 'x', sizeof payload);
    while (!atomic_load(&f->stop)) {
        de_status st = f->host->emit(f->host->host_ctx, "events.test.flood", "daemoneye.test.Text",
                                     (const uint8_t*)payload, sizeof payload);
        if (st == DE_OK)
            atomic_fetch_add(&f->ok, 1);
        else if (st == DE_ERR_BACKPRESSURE)
            atomic_fetch_add(&f->backpressure, 1);
        else if (st == DE_ERR_CLOSED)
            atomic_fetch_add(&f->closed, 1);
        else
            atomic_fetch_add(&f->other, 1);
    }
    return NULL;
}

static de_status flood_create(const de_host_api* host, const de_config* config, de_plugin** out,
                              de_error* err) {
    (void)config;
    flood* f = (flood*)calloc(1, sizeof *f);
    *out = NULL;
    if (f == NULL) {
        test_set_error(err, "out of memory");
        return DE_ERR_INTERNAL;
    }
    f->host = host;
    *out = (de_plugin*)f;
    return DE_OK;
}

static de_status flood_start(de_plugin* self, de_error* err) {
    flood* f = (flood*)self;
    if (pthread_create(&f->thread, NULL, flood_main, f) != 0) {
        test_set_error(err, "pthread_create failed");
        return DE_ERR_INTERNAL;
    }
    f->running = 1;
    return DE_OK;
}

static de_status flood_stop(de_plugin* self, de_error* err) {
    (void)err;
    flood* f = (flood*)self;
    if (f->running) {
        atomic_store(&f->stop, 1);
        pthread_join(f->thread, NULL);
        f->running = 0;
    }
    return DE_OK;
}

static void flood_destroy(de_plugin* self) {
    flood_stop(self, NULL);
    free(self);
}

static de_status flood_health(de_plugin* self, de_health* out) {
    flood* f = (flood*)self;
    out->state = DE_HEALTH_HEALTHY;
    snprintf(out->detail, sizeof out->detail,
             "flood.ok=%lu\nflood.backpressure=%lu\nflood.closed=%lu\nflood.other=%lu",
             atomic_load(&f->ok), atomic_load(&f->backpressure), atomic_load(&f->closed),
             atomic_load(&f->other));
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "flood",
                                                  "1.0.0",
                                                  "Emits as fast as it can",
                                                  k_none,
                                                  k_none,
                                                  k_pubs,
                                                  flood_create,
                                                  flood_start,
                                                  flood_stop,
                                                  flood_destroy,
                                                  NULL,
                                                  NULL,
                                                  flood_health};

DE_TEST_ENTRY(k_descriptor)
