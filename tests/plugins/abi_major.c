/* Built for a future ABI major: the launcher must refuse it, naming both versions and the rule. */
#include "test_plugin.h"

static const char* const k_none[] = {NULL};

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR + 1,
                                                  0, /* a major bump resets the minor */
                                                  "abi-major",
                                                  "1.0.0",
                                                  "Built for a future ABI major",
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
