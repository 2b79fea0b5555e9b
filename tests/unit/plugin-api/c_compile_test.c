/* plugin_api.h must compile as strict C99 (-std=c99 -Wall -Wextra -Werror -pedantic): C plugins
 * and FFI generators (bindgen, cffi) read it as C. Built by ctest; running it checks a few
 * layout facts from the C side. */
#include <stddef.h>
#include <stdio.h>

#include "daemoneye/plugin_api.h"

/* C99 has no _Static_assert: a negative array size fails the build instead. */
#define C_STATIC_ASSERT(cond, name) typedef char static_assert_##name[(cond) ? 1 : -1]

C_STATIC_ASSERT(offsetof(de_plugin_descriptor, struct_size) == 0, descriptor_size_first);
C_STATIC_ASSERT(offsetof(de_host_api, struct_size) == 0, host_api_size_first);
C_STATIC_ASSERT(sizeof(((de_error*)0)->message) == DE_ERROR_MESSAGE_CAPACITY, error_capacity);
C_STATIC_ASSERT(sizeof(((de_health*)0)->detail) == DE_HEALTH_DETAIL_CAPACITY, health_capacity);
C_STATIC_ASSERT(DE_PLUGIN_ABI_MAJOR >= 1, abi_major);

static de_status emit(void* ctx, const char* topic, const char* type, const uint8_t* data,
                      size_t len) {
    (void)ctx;
    (void)topic;
    (void)type;
    (void)data;
    (void)len;
    return DE_OK;
}

int main(void) {
    de_host_api api = {0};
    de_plugin_entry_fn entry = NULL;
    (void)entry;
    api.struct_size = (uint32_t)sizeof api;
    api.emit = emit;
    if (api.emit(NULL, "events.x", "t", NULL, 0) != DE_OK) return 1;
    printf("plugin_api.h %d.%d compiles as C99; %s\n", DE_PLUGIN_ABI_MAJOR, DE_PLUGIN_ABI_MINOR,
           de_status_name(DE_ERR_DENIED));
    return 0;
}
