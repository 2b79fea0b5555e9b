/* Task "alloc": allocates and touches 1 MiB blocks until malloc fails (or max_mb), holds them
 * for hold_ms (default 0: the launcher's own threads must live through that), then frees them
 * and reports "allocated_mb=N failed=0|1". */
#include <time.h>

#include "test_plugin.h"

static const char* const k_caps[] = {"alloc", NULL};
static const char* const k_none[] = {NULL};

static de_status memhog_task(de_plugin* self, const de_task* task, const de_task_sink* sink,
                             de_error* err) {
    (void)self;
    (void)err;
    long max_mb = 8192;
    long hold_ms = 0;
    for (size_t i = 0; i < task->params->count; ++i) {
        if (strcmp(task->params->items[i].key, "max_mb") == 0)
            max_mb = atol(task->params->items[i].value);
        if (strcmp(task->params->items[i].key, "hold_ms") == 0)
            hold_ms = atol(task->params->items[i].value);
    }
    void** blocks = (void**)calloc((size_t)max_mb, sizeof(void*));
    if (blocks == NULL) return DE_ERR_INTERNAL;
    long n = 0;
    int failed = 0;
    for (; n < max_mb; ++n) {
        void* p = malloc(1 << 20);
        if (p == NULL) {
            failed = 1;
            break;
        }
        memset(p, 0xA5, 1 << 20);
        blocks[n] = p;
    }
    if (hold_ms > 0) {
        struct timespec hold = {hold_ms / 1000, (hold_ms % 1000) * 1000000L};
        nanosleep(&hold, NULL);
    }
    for (long i = 0; i < n; ++i) free(blocks[i]);
    free(blocks);
    char line[128];
    snprintf(line, sizeof line, "allocated_mb=%ld failed=%d", n, failed);
    test_record(sink, line);
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "memhog",
                                                  "1.0.0",
                                                  "Allocates until the memory limit",
                                                  k_caps,
                                                  k_none,
                                                  k_none,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  memhog_task,
                                                  NULL,
                                                  NULL};

DE_TEST_ENTRY(k_descriptor)
