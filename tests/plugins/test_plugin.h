/* Shared bits of the test plugins: a tiny instance, text records, and the descriptor macro.
 * Written against the raw C ABI only, like a third party without the SDK would. */
#ifndef DE_TEST_PLUGIN_H
#define DE_TEST_PLUGIN_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemoneye/plugin_api.h"

typedef struct test_instance {
    const de_host_api* host;
    int started;
} test_instance;

static inline void test_set_error(de_error* err, const char* msg) {
    if (err != NULL) {
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
}

static inline de_status test_create(const de_host_api* host, const de_config* config,
                                    de_plugin** out, de_error* err) {
    (void)config;
    test_instance* t = (test_instance*)calloc(1, sizeof *t);
    *out = NULL;
    if (t == NULL) {
        test_set_error(err, "out of memory");
        return DE_ERR_INTERNAL;
    }
    t->host = host;
    *out = (de_plugin*)t;
    return DE_OK;
}

static inline de_status test_start(de_plugin* self, de_error* err) {
    (void)err;
    ((test_instance*)self)->started = 1;
    return DE_OK;
}

static inline de_status test_stop(de_plugin* self, de_error* err) {
    (void)err;
    ((test_instance*)self)->started = 0;
    return DE_OK;
}

static inline void test_destroy(de_plugin* self) {
    free(self);
}

/* Adds one text record "key=value..." to a task result. */
static inline de_status test_record(const de_task_sink* sink, const char* text) {
    return sink->add_record(sink->sink_ctx, "daemoneye.test.Text", (const uint8_t*)text,
                            strlen(text));
}

#define DE_TEST_ENTRY(descriptor)                                               \
    DE_PLUGIN_EXPORT const de_plugin_descriptor* daemoneye_plugin_entry(void) { \
        return &(descriptor);                                                   \
    }

#endif
