#include "fanotify_decoder.hpp"

#include <fcntl.h>
#include <sys/fanotify.h>

#include <cstring>

namespace daemoneye::fsmond {

FanotifyDecodeResult decode_fanotify(std::span<const uint8_t> buffer) {
    FanotifyDecodeResult r;
    auto reject = [&r](std::string why) {
        ++r.malformed;
        if (r.first_error.empty()) r.first_error = std::move(why);
    };
    size_t off = 0;
    while (buffer.size() - off >= sizeof(fanotify_event_metadata)) {
        fanotify_event_metadata md;
        std::memcpy(&md, buffer.data() + off, sizeof md);
        if (md.vers != FANOTIFY_METADATA_VERSION) {
            reject("fanotify metadata version " + std::to_string(md.vers));
            return r;
        }
        if (md.event_len < sizeof md || md.event_len > buffer.size() - off ||
            md.metadata_len < sizeof md || md.metadata_len > md.event_len) {
            reject("fanotify event length " + std::to_string(md.event_len) + " at offset " +
                   std::to_string(off));
            return r;
        }
        FanotifyRecord rec;
        rec.mask = md.mask;
        rec.fd = md.fd;
        rec.pid = md.pid;
        // Info records follow the metadata, each with its own header and length.
        size_t info = off + md.metadata_len;
        const size_t end = off + md.event_len;
        bool bad = false;
        while (end - info >= sizeof(fanotify_event_info_header)) {
            fanotify_event_info_header h;
            std::memcpy(&h, buffer.data() + info, sizeof h);
            if (h.len < sizeof h || h.len > end - info) {
                reject("fanotify info record length " + std::to_string(h.len));
                bad = true;
                break;
            }
            const bool named = h.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
                               h.info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
                               h.info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME ||
                               h.info_type == FAN_EVENT_INFO_TYPE_DFID ||
                               h.info_type == FAN_EVENT_INFO_TYPE_FID;
            if (named) {
                // header | fsid (8) | file_handle { u32 handle_bytes; i32 handle_type; bytes } |
                // name\0
                const size_t fixed = sizeof h + 8 + 8;
                if (h.len < fixed) {
                    reject("fanotify fid record of " + std::to_string(h.len) + " bytes");
                    bad = true;
                    break;
                }
                FanotifyName n;
                n.info_type = h.info_type;
                std::memcpy(&n.fsid, buffer.data() + info + sizeof h, 8);
                uint32_t handle_bytes;
                std::memcpy(&handle_bytes, buffer.data() + info + sizeof h + 8, 4);
                if (handle_bytes > h.len - fixed) {
                    reject("fanotify file handle of " + std::to_string(handle_bytes) +
                           " bytes overruns its record");
                    bad = true;
                    break;
                }
                const uint8_t* hp = buffer.data() + info + sizeof h + 8;
                n.handle.assign(hp, hp + 8 + handle_bytes);
                const size_t name_at = fixed + handle_bytes;
                if (name_at < h.len) {
                    const char* s = reinterpret_cast<const char*>(buffer.data() + info + name_at);
                    n.name.assign(s, strnlen(s, h.len - name_at));
                }
                rec.names.push_back(std::move(n));
            }
            info += h.len;
        }
        if (!bad) r.records.push_back(std::move(rec));
        off += md.event_len;
    }
    if (off < buffer.size()) reject("trailing " + std::to_string(buffer.size() - off) + " bytes");
    return r;
}

}  // namespace daemoneye::fsmond
