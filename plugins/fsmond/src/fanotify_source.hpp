// fanotify with filesystem-wide marks (FAN_MARK_FILESYSTEM, needs CAP_SYS_ADMIN): one mark per
// filesystem instead of one watch per directory, no watch limit, no race with new directories.
// Events carry a directory handle + name (FAN_REPORT_DFID_NAME), resolved to a path with
// open_by_handle_at (CAP_DAC_READ_SEARCH), then filtered to the configured paths.
#pragma once

#include <map>
#include <memory>
#include <unordered_map>

#include "change_source.hpp"
#include "fanotify_decoder.hpp"
#include "fsmond_config.hpp"

namespace daemoneye::fsmond {

class FanotifySource final : public ChangeSource {
  public:
    // Fails (with the reason) when the kernel or our capabilities do not allow it; the collector
    // then falls back to inotify.
    static Outcome<std::unique_ptr<FanotifySource>> create(const FsmondConfig& config);
    ~FanotifySource() override;

    int fd() const override { return fd_; }
    std::string mode_name() const override { return "fanotify"; }
    void watch_dir(const std::string& dir) override;  // marks the directory's filesystem once
    void read(std::vector<Change>& out, Clock::time_point now) override;
    SourceStats stats() const override;

  private:
    FanotifySource(int fd, const FsmondConfig& config);
    Outcome<bool> mark(const std::string& path);
    bool resolve(const FanotifyName& n, std::string& path);
    bool wanted(const std::string& path) const;
    void handle(const FanotifyRecord& rec, std::vector<Change>& out);

    int fd_ = -1;
    FsmondConfig config_;
    std::unordered_map<uint64_t, int> mount_fds_;     // fsid -> an fd on that filesystem
    std::unordered_map<uint64_t, bool> marked_devs_;  // st_dev already marked
    std::vector<uint8_t> buf_;
    SourceStats stats_;
};

}  // namespace daemoneye::fsmond
