// A filesystem change as a watcher reports it, before debouncing and enrichment.
#pragma once

#include <chrono>
#include <string>

#include "daemoneye/events/v1/events.pb.h"

namespace daemoneye::fsmond {

using Clock = std::chrono::steady_clock;
using Kind = events::v1::FileEventKind;

struct Change {
    Kind kind = events::v1::FILE_EVENT_KIND_UNSPECIFIED;
    std::string path;
    std::string old_path;  // moves
    std::string detail;    // "moved in from outside the watched paths", ...
    bool is_dir = false;
};

}  // namespace daemoneye::fsmond
