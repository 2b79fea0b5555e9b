// fsmond: events/s sustained for a burst of file writes, with no loss below the inotify queue
// limit. The burst creates and writes N files (2 raw events each) as fast as one thread can; the
// run checks that every file is reported exactly once and no overflow happened.
//   fsmond_events_bench [files=5000] [mode=inotify|fanotify] [debounce_ms=0]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>

#include "fsmond_collector.hpp"

using namespace daemoneye::fsmond;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
    const int files = argc > 1 ? std::atoi(argv[1]) : 5000;
    const std::string mode = argc > 2 ? argv[2] : "inotify";
    const int debounce = argc > 3 ? std::atoi(argv[3]) : 0;
    int queue_limit = 0;
    std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> queue_limit;

    // Peer in the same run: the same burst with nobody watching (what the writer alone costs).
    auto burst = [files](const fs::path& where) {
        char name[64];
        for (int i = 0; i < files; ++i) {
            std::snprintf(name, sizeof name, "/f%06d", i);
            const int fd = open((where.string() + name).c_str(),
                                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16) std::exit(1);
            close(fd);
        }
    };
    double unwatched_s = 0;
    {
        std::string t = (fs::temp_directory_path() / "fsmond-bench-base-XXXXXX").string();
        const fs::path base = mkdtemp(t.data());
        const auto b0 = std::chrono::steady_clock::now();
        burst(base);
        unwatched_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - b0).count();
        fs::remove_all(base);
    }
    std::string tmpl = (fs::temp_directory_path() / "fsmond-bench-XXXXXX").string();
    const fs::path dir = mkdtemp(tmpl.data());
    std::mutex mu;
    std::condition_variable cv;
    size_t created = 0, overflows = 0, other = 0;
    CollectorIo io;
    io.emit = [&](const char*, const char*, const std::string& bytes) {
        daemoneye::events::v1::FileEvent ev;
        ev.ParseFromString(bytes);
        std::lock_guard lock(mu);
        if (ev.kind() == daemoneye::events::v1::FILE_EVENT_KIND_CREATED)
            ++created;
        else if (ev.kind() == daemoneye::events::v1::FILE_EVENT_KIND_OVERFLOW)
            ++overflows;
        else
            ++other;
        cv.notify_all();
        return DE_OK;
    };
    io.now_unix_nanos = [] { return uint64_t{0}; };
    FsmondConfig cfg;
    cfg.paths = {dir.string()};
    cfg.debounce = std::chrono::milliseconds(debounce);
    cfg.mode = mode == "fanotify" ? WatchMode::Fanotify : WatchMode::Inotify;
    FsmondCollector c(io, cfg);
    auto started = c.start();
    if (!started) {
        std::fprintf(stderr, "start: %s\n", started.error().c_str());
        return 1;
    }
    c.wait_ready(std::chrono::seconds(30));

    const auto t0 = std::chrono::steady_clock::now();
    char name[64];
    for (int i = 0; i < files; ++i) {
        std::snprintf(name, sizeof name, "/f%06d", i);
        const int fd =
            open((dir.string() + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16) return 1;
        close(fd);
    }
    const auto t_written = std::chrono::steady_clock::now();
    std::unique_lock lock(mu);
    const bool all = cv.wait_for(lock, std::chrono::seconds(120), [&] {
        return created >= static_cast<size_t>(files) || overflows > 0;
    });
    const auto t1 = std::chrono::steady_clock::now();
    const double write_s = std::chrono::duration<double>(t_written - t0).count();
    const double total_s = std::chrono::duration<double>(t1 - t0).count();
    std::printf(
        "fsmond %s debounce=%dms: %d files (%d raw events; max_queued_events=%d) written in %.3f "
        "s, "
        "all reported after %.3f s -> %.0f events/s (%.0f raw/s); created=%zu other=%zu "
        "overflows=%zu%s\n",
        c.mode_name().c_str(), debounce, files, 2 * files, queue_limit, write_s, total_s,
        created / total_s, 2 * files / total_s, created, other, overflows,
        all && overflows == 0 && created == static_cast<size_t>(files) ? " (no loss)" : " (LOSS)");
    std::printf(
        "  same burst unwatched: %.3f s (%.0f files/s): the writer's own cost on this machine\n",
        unwatched_s, files / unwatched_s);
    lock.unlock();
    c.stop();
    fs::remove_all(dir);
    return created == static_cast<size_t>(files) && overflows == 0 ? 0 : 2;
}
