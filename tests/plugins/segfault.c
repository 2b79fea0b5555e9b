/* Dereferences NULL in start(): the launcher must die with SIGSEGV, not hide it. */
#include "test_plugin.h"

static const char* const k_none[] = {NULL};

static de_status crash_start(de_plugin* self, de_error* err) {
    (void)self;
    (void)err;
    /* Not NULL itself: UBSan (asan preset) would report a null store and exit 1 instead. */
    volatile int* p = (volatile int*)(uintptr_t)8;
    *p = 1;
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "segfault",
                                                  "1.0.0",
                                                  "Crashes in start()",
                                                  k_none,
                                                  k_none,
                                                  k_none,
                                                  test_create,
                                                  crash_start,
                                                  test_stop,
                                                  test_destroy,
                                                  NULL,
                                                  NULL,
                                                  NULL};

DE_TEST_ENTRY(k_descriptor)
