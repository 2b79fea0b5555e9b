#include "daemoneye/launcher/bridge/emit_buffer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace daemoneye::launcher {
namespace {

const std::uint8_t kData[] = {1, 2, 3, 4};

TEST(EmitBuffer, RefusesWhenFullInsteadOfGrowing) {
    EmitBuffer b(3, 1 << 20);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(b.push("t", "T", kData, 4, 1), DE_OK);
    EXPECT_EQ(b.push("t", "T", kData, 4, 1), DE_ERR_BACKPRESSURE);
    EXPECT_EQ(b.accepted(), 3u);
    EXPECT_EQ(b.refused(), 1u);
    std::vector<PendingEvent> out;
    EXPECT_EQ(b.drain(out, 1 << 20), 3u);
    EXPECT_EQ(b.push("t", "T", kData, 4, 1), DE_OK);  // room again
}

TEST(EmitBuffer, ByteCapAndDrainBudgetKeepOrder) {
    EmitBuffer b(1000, 3 * (1 + 1 + 100 + 32));
    std::vector<std::uint8_t> big(100, 7);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(b.push("t", "T", big.data(), big.size(), static_cast<std::uint64_t>(i)), DE_OK);
    EXPECT_EQ(b.push("t", "T", big.data(), big.size(), 9), DE_ERR_BACKPRESSURE);
    std::vector<PendingEvent> out;
    EXPECT_EQ(b.drain(out, 1), 1u);  // always at least one
    EXPECT_EQ(b.drain(out, 1 << 20), 2u);
    ASSERT_EQ(out.size(), 3u);
    for (std::uint64_t i = 0; i < 3; ++i) EXPECT_EQ(out[i].timestamp_unix_nanos, i);
    EXPECT_TRUE(b.empty());
}

TEST(EmitBuffer, NotifiesOnlyWhenItBecomesNonEmpty) {
    EmitBuffer b(10, 1 << 20);
    int notified = 0;
    b.set_on_ready([&] { ++notified; });
    EXPECT_EQ(b.push("t", "T", kData, 4, 1), DE_OK);
    EXPECT_EQ(b.push("t", "T", kData, 4, 1), DE_OK);
    EXPECT_EQ(notified, 1);
    std::vector<PendingEvent> out;
    b.drain(out, 1 << 20);
    EXPECT_EQ(b.push("t", "T", kData, 4, 1), DE_OK);
    EXPECT_EQ(notified, 2);
}

TEST(EmitBuffer, ClosedRefusesWithClosed) {
    EmitBuffer b(10, 1 << 20);
    b.close();
    EXPECT_EQ(b.push("t", "T", kData, 4, 1), DE_ERR_CLOSED);
}

TEST(EmitBuffer, ConcurrentProducersLoseNothingAccepted) {
    EmitBuffer b(500, 1 << 20);
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> ok{0};
    std::vector<std::thread> producers;
    for (int t = 0; t < 4; ++t) {
        producers.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) {
                if (b.push("t", "T", kData, 4, 1) == DE_OK) ok.fetch_add(1);
            }
        });
    }
    std::uint64_t drained = 0;
    std::thread consumer([&] {
        std::vector<PendingEvent> out;
        while (!done.load() || !b.empty()) {
            out.clear();
            drained += b.drain(out, 4096);
        }
    });
    for (auto& p : producers) p.join();
    done = true;
    consumer.join();
    EXPECT_EQ(drained, ok.load());
    EXPECT_EQ(b.accepted() + b.refused(), 80000u);
}

}  // namespace
}  // namespace daemoneye::launcher
