/* A descriptor whose name breaks the rules ([a-z0-9_-]{1,64}). */
#include "test_plugin.h"

static const char* const k_none[] = {NULL};

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "Bad Name!",
                                                  "1.0.0",
                                                  "A descriptor with an invalid name",
                                                  k_none,
                                                  k_none,
                                                  k_none,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  NULL,
                                                  NULL,
                                                  NULL};

DE_TEST_ENTRY(k_descriptor)
