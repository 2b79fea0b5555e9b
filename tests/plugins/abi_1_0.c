/* Built for ABI 1.0 (before de_host_api::socket_owners): must still load and run on a newer 1.x
 * host. Reads only the 1.0 part of the host table. */
#include "test_plugin.h"

static const char* const k_none[] = {NULL};

static de_status old_health(de_plugin* self, de_health* out) {
    const de_host_api* host = ((test_instance*)self)->host;
    snprintf(out->detail, sizeof out->detail, "old.host_abi=%u.%u\nold.instance=%s",
             (unsigned)host->abi_major, (unsigned)host->abi_minor, host->instance_id);
    return DE_OK;
}

static const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                                  DE_PLUGIN_ABI_MAJOR,
                                                  0,
                                                  "old_abi",
                                                  "1.0.0",
                                                  "Built for ABI 1.0",
                                                  k_none,
                                                  k_none,
                                                  k_none,
                                                  test_create,
                                                  test_start,
                                                  test_stop,
                                                  test_destroy,
                                                  NULL,
                                                  NULL,
                                                  old_health};

DE_TEST_ENTRY(k_descriptor)
