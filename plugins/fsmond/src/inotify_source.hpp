// inotify: one watch per directory, new directories followed, moves paired by cookie.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <unordered_map>

#include "change_source.hpp"
#include "fsmond_config.hpp"
#include "inotify_decoder.hpp"

namespace daemoneye::fsmond {

class InotifySource final : public ChangeSource {
  public:
    // Creates the inotify instance; the collector then walks the roots, calling watch_dir().
    // `walk_new_dir` walks a directory that appeared (watching it and reporting what is already in
    // it): supplied by the collector, which owns the snapshot the walk updates.
    static Outcome<std::unique_ptr<InotifySource>> create(
        const FsmondConfig& config,
        std::function<void(const std::string&, std::vector<Change>&)> walk_new_dir);
    ~InotifySource() override;

    int fd() const override { return fd_; }
    std::string mode_name() const override { return "inotify"; }
    void watch_dir(const std::string& dir) override;
    void read(std::vector<Change>& out, Clock::time_point now) override;
    void tick(std::vector<Change>& out, Clock::time_point now) override;
    std::optional<Clock::time_point> next_deadline() const override;
    SourceStats stats() const override;

    // How long a MOVED_FROM waits for its MOVED_TO before it counts as "moved out".
    static constexpr std::chrono::milliseconds kMovePairing{50};

  private:
    InotifySource(int fd, const FsmondConfig& config,
                  std::function<void(const std::string&, std::vector<Change>&)> walk_new_dir);
    void handle(const InotifyRecord& rec, std::vector<Change>& out, Clock::time_point now);
    void forget_subtree(const std::string& dir);
    void rename_subtree(const std::string& from, const std::string& to);
    bool is_root(const std::string& path) const;

    struct PendingMove {
        std::string path;
        bool is_dir = false;
        Clock::time_point since;
    };

    int fd_ = -1;
    FsmondConfig config_;
    std::function<void(const std::string&, std::vector<Change>&)> walk_new_dir_;
    std::unordered_map<int, std::string> wd_path_;
    std::map<std::string, int> path_wd_;     // ordered: a subtree is a contiguous range
    std::map<uint32_t, PendingMove> moves_;  // by cookie
    std::vector<uint8_t> buf_;
    SourceStats stats_;
};

}  // namespace daemoneye::fsmond
