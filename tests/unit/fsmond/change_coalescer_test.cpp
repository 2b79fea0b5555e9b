// Tests plugins/fsmond/src/change_coalescer.cpp with a hand-driven clock.
#include "change_coalescer.hpp"

#include <gtest/gtest.h>

namespace daemoneye::fsmond {
namespace {

using namespace std::chrono_literals;
using events::v1::FILE_EVENT_KIND_ATTRIB;
using events::v1::FILE_EVENT_KIND_CREATED;
using events::v1::FILE_EVENT_KIND_DELETED;
using events::v1::FILE_EVENT_KIND_MODIFIED;
using events::v1::FILE_EVENT_KIND_MOVED;
using events::v1::FILE_EVENT_KIND_OVERFLOW;

Change ch(Kind k, std::string path, std::string old = {}) {
    Change c;
    c.kind = k;
    c.path = std::move(path);
    c.old_path = std::move(old);
    return c;
}

TEST(ChangeCoalescer, BurstBecomesOneEventWithCount) {
    ChangeCoalescer co(100ms);
    const auto t0 = Clock::time_point{} + 1s;
    std::vector<ReadyChange> ready;
    co.add(ch(FILE_EVENT_KIND_CREATED, "/a"), t0, ready);
    for (int i = 1; i <= 5; ++i) co.add(ch(FILE_EVENT_KIND_MODIFIED, "/a"), t0 + i * 10ms, ready);
    co.add(ch(FILE_EVENT_KIND_ATTRIB, "/a"), t0 + 60ms, ready);
    EXPECT_TRUE(ready.empty());
    co.flush_due(t0 + 150ms, ready);
    EXPECT_TRUE(ready.empty()) << "the window restarts with every event";
    co.flush_due(t0 + 160ms, ready);
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].change.kind, FILE_EVENT_KIND_CREATED);
    EXPECT_EQ(ready[0].coalesced, 7u);
    EXPECT_EQ(co.pending(), 0u);
}

TEST(ChangeCoalescer, ModifyWinsOverAttribAndPathsAreSeparate) {
    ChangeCoalescer co(50ms);
    const auto t0 = Clock::time_point{} + 1s;
    std::vector<ReadyChange> ready;
    co.add(ch(FILE_EVENT_KIND_ATTRIB, "/a"), t0, ready);
    co.add(ch(FILE_EVENT_KIND_MODIFIED, "/a"), t0, ready);
    co.add(ch(FILE_EVENT_KIND_MODIFIED, "/b"), t0, ready);
    ASSERT_TRUE(co.next_deadline().has_value());
    co.flush_due(*co.next_deadline(), ready);
    ASSERT_EQ(ready.size(), 2u);
    EXPECT_EQ(ready[0].change.path, "/a");
    EXPECT_EQ(ready[0].change.kind, FILE_EVENT_KIND_MODIFIED);
    EXPECT_EQ(ready[1].change.path, "/b");
}

TEST(ChangeCoalescer, DeleteAndMoveFlushPendingFirstAndAreNotDelayed) {
    ChangeCoalescer co(1s);
    const auto t0 = Clock::time_point{} + 1s;
    std::vector<ReadyChange> ready;
    co.add(ch(FILE_EVENT_KIND_CREATED, "/a"), t0, ready);
    co.add(ch(FILE_EVENT_KIND_MOVED, "/b", "/a"), t0, ready);
    co.add(ch(FILE_EVENT_KIND_MODIFIED, "/b"), t0, ready);
    co.add(ch(FILE_EVENT_KIND_DELETED, "/b"), t0, ready);
    ASSERT_EQ(ready.size(), 4u);
    EXPECT_EQ(ready[0].change.kind, FILE_EVENT_KIND_CREATED);
    EXPECT_EQ(ready[1].change.kind, FILE_EVENT_KIND_MOVED);
    EXPECT_EQ(ready[2].change.kind, FILE_EVENT_KIND_MODIFIED);
    EXPECT_EQ(ready[3].change.kind, FILE_EVENT_KIND_DELETED);
}

TEST(ChangeCoalescer, OverflowFlushesEverything) {
    ChangeCoalescer co(1s);
    const auto t0 = Clock::time_point{} + 1s;
    std::vector<ReadyChange> ready;
    co.add(ch(FILE_EVENT_KIND_MODIFIED, "/a"), t0, ready);
    co.add(ch(FILE_EVENT_KIND_OVERFLOW, ""), t0, ready);
    ASSERT_EQ(ready.size(), 2u);
    EXPECT_EQ(ready[1].change.kind, FILE_EVENT_KIND_OVERFLOW);
}

TEST(ChangeCoalescer, ContinuousWritesStillReportedAfterMaxDelay) {
    ChangeCoalescer co(100ms, 10);
    const auto t0 = Clock::time_point{} + 1s;
    std::vector<ReadyChange> ready;
    for (int i = 0; i < 200; ++i) {
        co.add(ch(FILE_EVENT_KIND_MODIFIED, "/log"), t0 + i * 10ms, ready);
        co.flush_due(t0 + i * 10ms, ready);
    }
    EXPECT_GE(ready.size(), 1u);  // not starved for 2 s by a writer that never pauses
}

TEST(ChangeCoalescer, ZeroWindowPassesThrough) {
    ChangeCoalescer co(0ms);
    std::vector<ReadyChange> ready;
    co.add(ch(FILE_EVENT_KIND_MODIFIED, "/a"), Clock::now(), ready);
    EXPECT_EQ(ready.size(), 1u);
}

}  // namespace
}  // namespace daemoneye::fsmond
