// Tests plugins/fsmond/src/fsmond_collector.cpp against the real kernel: file operations in a
// watched temp dir are each reported once, new directories are followed, and an inotify queue
// overflow is reported and followed by a rescan that finds what the queue lost.
#include "fsmond_collector.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

namespace daemoneye::fsmond {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class Recorder {
  public:
    CollectorIo io() {
        CollectorIo io;
        io.emit = [this](const char* topic, const char*, const std::string& bytes) {
            events::v1::FileEvent ev;
            EXPECT_TRUE(ev.ParseFromString(bytes));
            EXPECT_EQ(topic_for(ev.kind()), topic);
            std::lock_guard lock(mu_);
            events_.push_back(ev);
            cv_.notify_all();
            return DE_OK;
        };
        io.log = [](de_log_level, const std::string&) {};
        io.now_unix_nanos = [] { return uint64_t{1}; };
        return io;
    }
    // Waits until pred(events) holds; false after a generous timeout.
    template <class Pred>
    bool wait(Pred pred, std::chrono::seconds timeout = 30s) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return pred(events_); });
    }
    std::vector<events::v1::FileEvent> snapshot() {
        std::lock_guard lock(mu_);
        return events_;
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<events::v1::FileEvent> events_;
};

size_t count(const std::vector<events::v1::FileEvent>& evs, Kind kind, const std::string& path) {
    size_t n = 0;
    for (const auto& e : evs) n += e.kind() == kind && e.file().path() == path;
    return n;
}

std::string sha256_hex(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    std::string s;
    char b[3];
    for (unsigned i = 0; i < len; ++i) {
        snprintf(b, sizeof b, "%02x", md[i]);
        s += b;
    }
    return s;
}

void write_file(const fs::path& p, const std::string& data) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << data;
}

class TempDir {
  public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "fsmond-test-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

class FsmondCollectorTest : public ::testing::TestWithParam<WatchMode> {};

TEST_P(FsmondCollectorTest, CreateModifyMoveDeleteEachReportedOnce) {
    TempDir dir;
    FsmondConfig cfg;
    cfg.paths = {dir.path().string()};
    cfg.debounce = 100ms;
    cfg.mode = GetParam();
    Recorder rec;
    FsmondCollector c(rec.io(), cfg);
    auto started = c.start();
    if (!started.ok() && GetParam() == WatchMode::Fanotify) GTEST_SKIP() << started.error();
    ASSERT_TRUE(started.ok()) << started.error();
    ASSERT_TRUE(c.wait_ready(30s));
    EXPECT_EQ(c.mode_name(), GetParam() == WatchMode::Fanotify ? "fanotify" : "inotify");

    const std::string a = (dir.path() / "a.conf").string();
    const std::string b = (dir.path() / "b.conf").string();
    write_file(a, "first");
    ASSERT_TRUE(rec.wait(
        [&](const auto& e) { return count(e, events::v1::FILE_EVENT_KIND_CREATED, a) == 1; }));
    write_file(a, "second version");
    ASSERT_TRUE(rec.wait(
        [&](const auto& e) { return count(e, events::v1::FILE_EVENT_KIND_MODIFIED, a) >= 1; }));
    fs::rename(a, b);
    ASSERT_TRUE(rec.wait(
        [&](const auto& e) { return count(e, events::v1::FILE_EVENT_KIND_MOVED, b) == 1; }));
    fs::remove(b);
    ASSERT_TRUE(rec.wait(
        [&](const auto& e) { return count(e, events::v1::FILE_EVENT_KIND_DELETED, b) == 1; }));
    std::this_thread::sleep_for(
        300ms);  // anything duplicated would have arrived by now (3 windows)
    c.stop();

    const auto evs = rec.snapshot();
    EXPECT_EQ(count(evs, events::v1::FILE_EVENT_KIND_CREATED, a), 1u);
    EXPECT_EQ(count(evs, events::v1::FILE_EVENT_KIND_MODIFIED, a), 1u);
    EXPECT_EQ(count(evs, events::v1::FILE_EVENT_KIND_MOVED, b), 1u);
    EXPECT_EQ(count(evs, events::v1::FILE_EVENT_KIND_DELETED, b), 1u);
    EXPECT_EQ(count(evs, events::v1::FILE_EVENT_KIND_DELETED, a), 0u) << "a move is not a delete";
    for (const auto& e : evs) {
        if (e.kind() == events::v1::FILE_EVENT_KIND_MODIFIED && e.file().path() == a) {
            EXPECT_EQ(e.file().sha256(), sha256_hex("second version"));
            EXPECT_EQ(e.file().size(), 14u);
            EXPECT_EQ(e.file().uid(), ::geteuid());
            EXPECT_TRUE(S_ISREG(e.file().mode()));
            EXPECT_GE(e.coalesced(), 1u);
        }
        if (e.kind() == events::v1::FILE_EVENT_KIND_MOVED) {
            EXPECT_EQ(e.old_path(), a);
        }
        if (e.kind() == events::v1::FILE_EVENT_KIND_CREATED && e.file().path() == a) {
            EXPECT_EQ(e.file().sha256(), sha256_hex("first"));
        }
    }
    // The ring answers recent_changes in order.
    auto recent = c.recent_changes({{"path", dir.path().string()}});
    ASSERT_TRUE(recent.ok()) << recent.error();
    ASSERT_GE(recent.value().size(), 4u);
    EXPECT_EQ(recent.value().back().kind(), events::v1::FILE_EVENT_KIND_DELETED);
    EXPECT_FALSE(c.recent_changes({{"limit", "zero"}}).ok());
    EXPECT_NE(c.health().detail.find("view=full"), std::string::npos) << c.health().detail;
}

TEST_P(FsmondCollectorTest, BurstOfWritesCoalesces) {
    TempDir dir;
    FsmondConfig cfg;
    cfg.paths = {dir.path().string()};
    cfg.debounce = 2000ms;  // 20 tiny writes take microseconds; 2 s is slack for a busy machine
    cfg.mode = GetParam();
    const std::string f = (dir.path() / "log").string();
    write_file(f, "");
    Recorder rec;
    FsmondCollector c(rec.io(), cfg);
    auto started = c.start();
    if (!started.ok() && GetParam() == WatchMode::Fanotify) GTEST_SKIP() << started.error();
    ASSERT_TRUE(started.ok()) << started.error();
    ASSERT_TRUE(c.wait_ready(30s));
    {
        const int fd = ::open(f.c_str(), O_WRONLY | O_APPEND);
        for (int i = 0; i < 20; ++i) ASSERT_EQ(::write(fd, "x", 1), 1);
        ::close(fd);
    }
    ASSERT_TRUE(rec.wait(
        [&](const auto& e) { return count(e, events::v1::FILE_EVENT_KIND_MODIFIED, f) >= 1; }));
    std::this_thread::sleep_for(300ms);
    const auto evs = rec.snapshot();
    // One event for the burst. `coalesced` counts the raw events that reached us: the kernel
    // already merges identical back-to-back events in its queue, so it is >= 1, not 20.
    EXPECT_EQ(count(evs, events::v1::FILE_EVENT_KIND_MODIFIED, f), 1u);
    for (const auto& e : evs) {
        if (e.file().path() == f) {
            EXPECT_GE(e.coalesced(), 1u);
            EXPECT_EQ(e.file().size(), 20u);
        }
    }
}

TEST_P(FsmondCollectorTest, FollowsNewDirectoriesIncludingFilesCreatedBeforeTheWatch) {
    TempDir dir;
    FsmondConfig cfg;
    cfg.paths = {dir.path().string()};
    cfg.debounce = 50ms;
    cfg.mode = GetParam();
    Recorder rec;
    FsmondCollector c(rec.io(), cfg);
    auto started = c.start();
    if (!started.ok() && GetParam() == WatchMode::Fanotify) GTEST_SKIP() << started.error();
    ASSERT_TRUE(started.ok()) << started.error();
    ASSERT_TRUE(c.wait_ready(30s));
    // mkdir -p and a file at once: the file usually exists before any watch on the new dirs.
    fs::create_directories(dir.path() / "x" / "y");
    const std::string inner = (dir.path() / "x" / "y" / "inner").string();
    write_file(inner, "quick");
    ASSERT_TRUE(rec.wait(
        [&](const auto& e) { return count(e, events::v1::FILE_EVENT_KIND_CREATED, inner) == 1; }));
    // And later changes inside the new directory are seen through its own watch.
    const std::string later = (dir.path() / "x" / "y" / "later").string();
    write_file(later, "z");
    ASSERT_TRUE(rec.wait(
        [&](const auto& e) { return count(e, events::v1::FILE_EVENT_KIND_CREATED, later) == 1; }));
    // Excluded names are not reported.
}

INSTANTIATE_TEST_SUITE_P(Modes, FsmondCollectorTest,
                         ::testing::Values(WatchMode::Inotify, WatchMode::Fanotify),
                         [](const auto& info) {
                             return info.param == WatchMode::Inotify ? "inotify" : "fanotify";
                         });

TEST(FsmondExclude, ExcludedPathsAreNotReported) {
    TempDir dir;
    FsmondConfig cfg;
    cfg.paths = {dir.path().string()};
    cfg.debounce = 20ms;
    cfg.mode = WatchMode::Inotify;
    cfg.exclude = {"*.swp"};
    Recorder rec;
    FsmondCollector c(rec.io(), cfg);
    ASSERT_TRUE(c.start().ok());
    ASSERT_TRUE(c.wait_ready(30s));
    write_file(dir.path() / ".a.swp", "x");
    const std::string marker = (dir.path() / "marker").string();
    write_file(marker, "x");
    ASSERT_TRUE(rec.wait(
        [&](const auto& e) { return count(e, events::v1::FILE_EVENT_KIND_CREATED, marker) == 1; }));
    for (const auto& e : rec.snapshot()) EXPECT_EQ(e.file().path().find(".swp"), std::string::npos);
}

// Lowers fs.inotify.max_queued_events only while our inotify instance is created (the limit is
// taken at inotify_init), then restores it.
class QueueLimit {
  public:
    explicit QueueLimit(int value) {
        std::ifstream in(kPath);
        in >> saved_;
        std::ofstream out(kPath);
        out << value;
        out.flush();
        ok_ = static_cast<bool>(out) && saved_ > 0;
    }
    ~QueueLimit() { restore(); }
    void restore() {
        if (saved_ <= 0) return;
        std::ofstream out(kPath);
        out << saved_;
        saved_ = 0;
    }
    bool ok() const { return ok_; }

  private:
    static constexpr const char* kPath = "/proc/sys/fs/inotify/max_queued_events";
    int saved_ = 0;
    bool ok_ = false;
};

TEST(FsmondOverflow, OverflowIsReportedAndTheRescanFindsEveryFile) {
    if (::geteuid() != 0 || ::access("/proc/sys/fs/inotify/max_queued_events", W_OK) != 0)
        GTEST_SKIP() << "needs root and a writable /proc/sys/fs/inotify/max_queued_events";
    TempDir dir;
    FsmondConfig cfg;
    cfg.paths = {dir.path().string()};
    cfg.debounce = 0ms;
    cfg.mode = WatchMode::Inotify;
    Recorder rec;
    FsmondCollector c(rec.io(), cfg);
    {
        QueueLimit limit(16);
        if (!limit.ok()) GTEST_SKIP() << "could not lower max_queued_events";
        ASSERT_TRUE(c.start().ok());
    }
    ASSERT_TRUE(c.wait_ready(30s));
    std::set<std::string> made;
    for (int round = 0; round < 20; ++round) {
        for (int i = 0; i < 400; ++i) {
            const auto p = dir.path() / ("f" + std::to_string(round) + "_" + std::to_string(i));
            write_file(p, "data");
            made.insert(p.string());
        }
        if (rec.wait(
                [](const auto& e) {
                    for (const auto& ev : e)
                        if (ev.kind() == events::v1::FILE_EVENT_KIND_OVERFLOW) return true;
                    return false;
                },
                2s))
            break;
    }
    ASSERT_TRUE(rec.wait([](const auto& e) {
        for (const auto& ev : e)
            if (ev.kind() == events::v1::FILE_EVENT_KIND_OVERFLOW) return true;
        return false;
    })) << "the queue of 16 never overflowed";
    // Never silently lost: every file is reported as created, by the queue or by the rescan.
    ASSERT_TRUE(rec.wait(
        [&](const auto& e) {
            std::set<std::string> seen;
            for (const auto& ev : e)
                if (ev.kind() == events::v1::FILE_EVENT_KIND_CREATED) seen.insert(ev.file().path());
            for (const auto& m : made)
                if (!seen.contains(m)) return false;
            return true;
        },
        180s))
        << "some created files were never reported";  // rescans of thousands of files on a busy
                                                      // machine
    const auto h = c.health();
    EXPECT_EQ(h.detail.find("overflows=0"), std::string::npos) << h.detail;
    EXPECT_EQ(h.detail.find("rescans=0"), std::string::npos) << h.detail;
    for (const auto& ev : rec.snapshot())
        if (ev.kind() == events::v1::FILE_EVENT_KIND_OVERFLOW) {
            EXPECT_NE(ev.detail().find("max_queued_events"), std::string::npos) << ev.detail();
        }
}

TEST(FsmondTasks, StatPathHashesAndRejectsBadParams) {
    TempDir dir;
    FsmondConfig cfg;
    cfg.paths = {dir.path().string()};
    FsmondCollector c(Recorder().io(), cfg);  // tasks need no running watcher
    const auto f = dir.path() / "file";
    write_file(f, "hello");
    auto info = c.stat_path({{"path", f.string()}});
    ASSERT_TRUE(info.ok()) << info.error();
    EXPECT_EQ(info.value().sha256(), sha256_hex("hello"));
    EXPECT_EQ(info.value().size(), 5u);
    EXPECT_FALSE(c.stat_path({{"path", (dir.path() / "missing").string()}}).ok());
    EXPECT_FALSE(c.stat_path({{"path", "relative"}}).ok());
    EXPECT_FALSE(c.stat_path({{"pth", "/etc"}}).ok());
}

TEST(FsmondUnprivileged, UnreadableDirectoriesAreSkippedAndCounted) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
    TempDir dir;
    fs::create_directories(dir.path() / "open");
    fs::create_directories(dir.path() / "secret" / "deeper");
    ::chmod(dir.path().c_str(), 0755);
    ::chmod((dir.path() / "secret").c_str(), 0700);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(3);
        FsmondConfig cfg;
        cfg.paths = {dir.path().string()};
        cfg.mode = WatchMode::Auto;  // fanotify is refused unprivileged: falls back to inotify
        Recorder rec;
        FsmondCollector c(rec.io(), cfg);
        if (!c.start().ok()) _exit(4);
        if (!c.wait_ready(30s)) _exit(5);
        const auto h = c.health();
        if (h.detail.find("mode=inotify") == std::string::npos) _exit(6);
        if (h.detail.find("view=partial") == std::string::npos) _exit(7);
        c.stop();
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "3 setuid, 4 start, 5 ready, 6 mode, 7 view";
}

}  // namespace
}  // namespace daemoneye::fsmond
