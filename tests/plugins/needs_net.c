/* Declares net.read: refused unless the agent grants it. */
#include "test_plugin.h"

static const char* const k_none[] = {NULL};
static const char* const k_perms[] = {"net.read", NULL};

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  DE_PLUGIN_ABI_MINOR,
                                                  "needs-net",
                                                  "1.0.0",
                                                  "Declares net.read",
                                                  k_none,
                                                  k_perms,
                                                  k_none,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  NULL,
                                                  NULL,
                                                  NULL};

DE_TEST_ENTRY(k_descriptor)
