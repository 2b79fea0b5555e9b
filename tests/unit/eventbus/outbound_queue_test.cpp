#include "outbound_queue.hpp"

#include <gtest/gtest.h>

#include "ring_queue.hpp"

namespace daemoneye::eventbus {
namespace {

MessageRef make(BufferPool& pool, std::size_t size) {
    auto r = pool.allocate(size);
    r->size = static_cast<std::uint32_t>(size);
    return r;
}

TEST(RingQueue, FifoAcrossGrowthAndWrap) {
    RingQueue<int> q(2);
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 100; ++i) q.push_back(i);
        for (int i = 0; i < 100; ++i) {
            ASSERT_EQ(q.front(), i);
            q.pop_front();
        }
        EXPECT_TRUE(q.empty());
    }
}

TEST(OutboundQueue, DeliveriesCappedByCountControlHasItsOwnCap) {
    BufferPool pool;
    OutboundQueue q({3, 1 << 20, 2});
    auto m = make(pool, 100);
    const std::uint64_t ids[] = {7};
    EXPECT_TRUE(q.push_delivery(m, ids));
    EXPECT_TRUE(q.push_delivery(m, ids));
    EXPECT_TRUE(q.push_delivery(m, ids));
    EXPECT_FALSE(q.push_delivery(m, ids));  // full: the caller counts a drop
    OutboundItem control;
    control.kind = OutboundItem::Kind::Envelope;
    control.bytes = make(pool, 10);
    EXPECT_TRUE(q.push_control(control));  // an RPC reply still gets through
    EXPECT_TRUE(q.push_control(control));
    EXPECT_FALSE(q.push_control(control));
    EXPECT_EQ(q.messages(), 3u);
    EXPECT_EQ(q.bytes(), 300u);
    q.pop();
    EXPECT_EQ(q.messages(), 2u);
    EXPECT_TRUE(q.push_delivery(m, ids));
    q.clear();
    EXPECT_EQ(q.messages(), 0u);
    EXPECT_EQ(q.bytes(), 0u);
    EXPECT_EQ(q.controls(), 0u);
}

TEST(OutboundQueue, ByteCap) {
    BufferPool pool;
    OutboundQueue q({1000, 250, 10});
    auto m = make(pool, 100);
    EXPECT_TRUE(q.push_delivery(m, {}));
    EXPECT_TRUE(q.push_delivery(m, {}));
    EXPECT_FALSE(q.push_delivery(m, {}));
}

TEST(BufferPool, SharedBytesAreRecycledNotFreed) {
    BufferPool pool;
    MessageBuffer* first = nullptr;
    {
        auto a = make(pool, 300);
        first = a.get();
        MessageRef b = a;  // a second subscriber's reference
        EXPECT_EQ(a->refs, 2u);
        EXPECT_EQ(pool.live_buffers(), 1u);
    }
    EXPECT_EQ(pool.live_buffers(), 0u);
    auto again = make(pool, 280);  // same size class: the same memory comes back
    EXPECT_EQ(again.get(), first);
}

}  // namespace
}  // namespace daemoneye::eventbus
