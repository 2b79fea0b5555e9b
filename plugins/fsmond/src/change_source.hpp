// Where raw changes come from: inotify (per-directory watches) or fanotify (filesystem marks).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "change.hpp"

namespace daemoneye::fsmond {

struct SourceStats {
    size_t watches = 0;           // inotify watches / fanotify marks held
    uint64_t malformed = 0;       // undecodable kernel records
    uint64_t watch_failures = 0;  // watches that could not be added (permission, limit)
    uint64_t overflows = 0;
    std::string last_error;
};

class ChangeSource {
  public:
    virtual ~ChangeSource() = default;
    virtual int fd() const = 0;                 // poll() it for readability
    virtual std::string mode_name() const = 0;  // "inotify" / "fanotify"
    // Called for every directory the collector walks (initial scan, new dirs, rescans), and for a
    // configured root that is a single file.
    virtual void watch_dir(const std::string& dir) = 0;
    // Drains what the kernel queued, appending changes.
    virtual void read(std::vector<Change>& out, Clock::time_point now) = 0;
    // Housekeeping for time-based decisions (a move whose other half never came).
    virtual void tick(std::vector<Change>& /*out*/, Clock::time_point /*now*/) {}
    virtual std::optional<Clock::time_point> next_deadline() const { return std::nullopt; }
    virtual SourceStats stats() const = 0;
};

}  // namespace daemoneye::fsmond
