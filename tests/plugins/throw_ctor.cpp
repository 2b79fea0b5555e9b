// A raw C++ plugin (no SDK) whose collector constructor throws, and nothing catches it
// before the C ABI: the launcher must report the error and exit cleanly.
#include <stdexcept>

#include "daemoneye/plugin_api.h"

namespace {

struct Collector {
    Collector() { throw std::runtime_error("constructor failed on purpose"); }
};

const char* const k_none[] = {nullptr};

de_status create(const de_host_api*, const de_config*, de_plugin** out, de_error*) {
    *out = reinterpret_cast<de_plugin*>(new Collector());
    return DE_OK;
}
de_status start(de_plugin*, de_error*) {
    return DE_OK;
}
de_status stop(de_plugin*, de_error*) {
    return DE_OK;
}
void destroy(de_plugin* p) {
    delete reinterpret_cast<Collector*>(p);
}

const de_plugin_descriptor k_descriptor = {sizeof(de_plugin_descriptor),
                                           DE_PLUGIN_ABI_MAJOR,
                                           DE_PLUGIN_ABI_MINOR,
                                           "throw-ctor",
                                           "1.0.0",
                                           "Throws across the C ABI from ctor",
                                           k_none,
                                           k_none,
                                           k_none,
                                           create,
                                           start,
                                           stop,
                                           destroy,
                                           nullptr,
                                           nullptr,
                                           nullptr};

}  // namespace

extern "C" DE_PLUGIN_EXPORT const de_plugin_descriptor* daemoneye_plugin_entry() {
    return &k_descriptor;
}
