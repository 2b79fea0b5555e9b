// libFuzzer target for plugins/fsmond/src/fanotify_decoder.cpp: any bytes as a fanotify read().
#include <cstddef>
#include <cstdint>

#include "fanotify_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto r = daemoneye::fsmond::decode_fanotify({data, size});
    for (const auto& rec : r.records)
        for (const auto& n : rec.names)
            if (n.handle.size() > size || n.name.size() > size) __builtin_trap();
    return 0;
}
