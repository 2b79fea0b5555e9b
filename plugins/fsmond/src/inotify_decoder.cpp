#include "inotify_decoder.hpp"

#include <sys/inotify.h>

#include <cstring>

namespace daemoneye::fsmond {

InotifyDecodeResult decode_inotify(std::span<const uint8_t> buffer) {
    InotifyDecodeResult r;
    size_t off = 0;
    while (off < buffer.size()) {
        const size_t left = buffer.size() - off;
        if (left < sizeof(inotify_event)) {
            ++r.malformed;
            r.first_error = "truncated inotify header: " + std::to_string(left) +
                            " bytes at offset " + std::to_string(off);
            break;
        }
        inotify_event ev;  // copy: the buffer may be unaligned
        std::memcpy(&ev, buffer.data() + off, sizeof ev);
        if (ev.len > left - sizeof ev) {
            ++r.malformed;
            r.first_error = "inotify name of " + std::to_string(ev.len) + " bytes at offset " +
                            std::to_string(off) + " runs past the buffer";
            break;
        }
        InotifyRecord rec;
        rec.wd = ev.wd;
        rec.mask = ev.mask;
        rec.cookie = ev.cookie;
        if (ev.len > 0) {
            const char* name = reinterpret_cast<const char*>(buffer.data() + off + sizeof ev);
            rec.name.assign(name, strnlen(name, ev.len));  // NUL padded; tolerate none
        }
        r.records.push_back(std::move(rec));
        off += sizeof ev + ev.len;
    }
    return r;
}

}  // namespace daemoneye::fsmond
