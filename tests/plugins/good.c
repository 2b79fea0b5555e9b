/* A well-behaved plugin: tasks "echo" (params back as records) and "emit" (emits `count` events
 * on `topic`), config via on_config, health detail lines. */
#include "test_plugin.h"

static const char* const k_caps[] = {"echo", "emit", NULL};
static const char* const k_perms[] = {NULL};
static const char* const k_pubs[] = {"events.test.#", NULL};

static de_status good_task(de_plugin* self, const de_task* task, const de_task_sink* sink,
                           de_error* err) {
    test_instance* t = (test_instance*)self;
    char line[512];
    if (strcmp(task->kind, "echo") == 0) {
        for (size_t i = 0; i < task->params->count; ++i) {
            snprintf(line, sizeof line, "%s=%s", task->params->items[i].key,
                     task->params->items[i].value);
            test_record(sink, line);
        }
        return DE_OK;
    }
    if (strcmp(task->kind, "emit") == 0) {
        const char* topic = "events.test.good";
        long count = 1;
        for (size_t i = 0; i < task->params->count; ++i) {
            if (strcmp(task->params->items[i].key, "topic") == 0)
                topic = task->params->items[i].value;
            if (strcmp(task->params->items[i].key, "count") == 0)
                count = atol(task->params->items[i].value);
        }
        long ok = 0, denied = 0, other = 0;
        for (long i = 0; i < count; ++i) {
            snprintf(line, sizeof line, "event %ld", i);
            de_status st = t->host->emit(t->host->host_ctx, topic, "daemoneye.test.Text",
                                         (const uint8_t*)line, strlen(line));
            if (st == DE_OK)
                ++ok;
            else if (st == DE_ERR_DENIED)
                ++denied;
            else
                ++other;
        }
        snprintf(line, sizeof line, "ok=%ld denied=%ld other=%ld", ok, denied, other);
        test_record(sink, line);
        return DE_OK;
    }
    test_set_error(err, "unknown task kind");
    return DE_ERR_UNSUPPORTED;
}

static de_status good_config(de_plugin* self, const de_config* config, de_error* err) {
    (void)self;
    for (size_t i = 0; i < config->count; ++i) {
        if (strcmp(config->items[i].key, "reject") == 0) {
            test_set_error(err, "key 'reject' is not allowed");
            return DE_ERR_INVALID_ARGUMENT;
        }
    }
    return DE_OK;
}

static de_status good_health(de_plugin* self, de_health* out) {
    test_instance* t = (test_instance*)self;
    const char* greeting = t->host->config_get(t->host->host_ctx, "greeting");
    out->state = DE_HEALTH_HEALTHY;
    snprintf(out->detail, sizeof out->detail, "mode=test\ngreeting=%s\ninstance=%s",
             greeting ? greeting : "(none)", t->host->instance_id);
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "good",
                                                  "1.0.0",
                                                  "A well-behaved test plugin",
                                                  k_caps,
                                                  k_perms,
                                                  k_pubs,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  good_task,
                                                  good_config,
                                                  good_health};

DE_TEST_ENTRY(k_descriptor)
