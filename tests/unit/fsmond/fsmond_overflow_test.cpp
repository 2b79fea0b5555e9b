// Tests plugins/fsmond/src/fsmond_collector.cpp: an inotify queue overflow is reported and followed
// by a rescan that finds what the queue lost. Its own binary, run serially: it lowers the global
// fs.inotify.max_queued_events while its inotify instance is created, which would shrink the
// queue of any other watcher created in that instant.
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

[[maybe_unused]] size_t count(const std::vector<events::v1::FileEvent>& evs, Kind kind,
                              const std::string& path) {
    size_t n = 0;
    for (const auto& e : evs) n += e.kind() == kind && e.file().path() == path;
    return n;
}

[[maybe_unused]] std::string sha256_hex(const std::string& data) {
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
        << "some created files were never reported: " <<
        [&] {
            std::set<std::string> seen;
            const auto evs = rec.snapshot();
            for (const auto& ev : evs)
                if (ev.kind() == events::v1::FILE_EVENT_KIND_CREATED) seen.insert(ev.file().path());
            std::string missing = std::to_string(evs.size()) + " events; missing: ";
            for (const auto& m : made) {
                if (seen.contains(m)) continue;
                missing += m + " ";
                for (const auto& ev : evs)
                    if (ev.file().path() == m)
                        missing += "[kind " + std::to_string(ev.kind()) + " " + ev.detail() + "] ";
                if (missing.size() > 800) break;
            }
            return missing;
        }();
    // machine
    const auto h = c.health();
    EXPECT_EQ(h.detail.find("overflows=0"), std::string::npos) << h.detail;
    EXPECT_EQ(h.detail.find("rescans=0"), std::string::npos) << h.detail;
    for (const auto& ev : rec.snapshot())
        if (ev.kind() == events::v1::FILE_EVENT_KIND_OVERFLOW) {
            EXPECT_NE(ev.detail().find("max_queued_events"), std::string::npos) << ev.detail();
        }
}

}  // namespace
}  // namespace daemoneye::fsmond
