// Pure decoder of fanotify records reported with FAN_REPORT_DFID_NAME (directory file handle +
// entry name). No I/O: unit tests and the fuzz target feed it raw buffers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace daemoneye::fsmond {

struct FanotifyName {
    uint8_t info_type = 0;        // FAN_EVENT_INFO_TYPE_DFID_NAME, _OLD_DFID_NAME, _NEW_DFID_NAME
    uint64_t fsid = 0;            // both fsid words, for finding a mount fd
    std::vector<uint8_t> handle;  // struct file_handle (handle_bytes, handle_type, f_handle)
    std::string name;             // "." when the event is about the directory itself
};

struct FanotifyRecord {
    uint64_t mask = 0;
    int32_t fd = -1;  // FAN_NOFD with FID reporting
    int32_t pid = 0;
    std::vector<FanotifyName> names;
};

struct FanotifyDecodeResult {
    std::vector<FanotifyRecord> records;
    size_t malformed = 0;
    std::string first_error;
};

FanotifyDecodeResult decode_fanotify(std::span<const uint8_t> buffer);

}  // namespace daemoneye::fsmond
