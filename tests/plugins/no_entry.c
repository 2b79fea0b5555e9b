/* Exports a function, but not the entry symbol. */
#include "daemoneye/plugin_api.h"

DE_PLUGIN_EXPORT int daemoneye_plugin_entry_misspelled(void) {
    return 42;
}
