// libFuzzer target for plugins/fsmond/src/inotify_decoder.cpp: any bytes as an inotify read().
#include <cstddef>
#include <cstdint>

#include "inotify_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto r = daemoneye::fsmond::decode_inotify({data, size});
    for (const auto& rec : r.records)
        if (rec.name.size() > size) __builtin_trap();
    return 0;
}
