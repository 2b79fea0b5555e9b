// The hand-written wire encoding must be exactly what protobuf parses.
#include "frame_builder.hpp"

#include <gtest/gtest.h>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/common/v1/common.pb.h"
#include "daemoneye/eventbus/message_view.hpp"
#include "gap_tracker.hpp"
#include "message_encoder.hpp"
#include "topic_sequencer.hpp"

namespace daemoneye::eventbus {
namespace {

MessageRef encode(BufferPool& pool, std::string_view topic, std::string_view payload,
                  std::uint64_t source, std::uint64_t seq,
                  const common::v1::CorrelationMetadata* corr = nullptr) {
    MessageEncoder enc(topic, "test.Type",
                       {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()},
                       1234, corr);
    auto buf = pool.allocate(enc.size() + stamp_size(source, seq));
    auto* p = enc.write(buf->data());
    p = write_stamp(p, source, seq);
    buf->size = static_cast<std::uint32_t>(p - buf->data());
    return buf;
}

TEST(MessageEncoder, StampOverridesWhatThePublisherSetAndKeepsTheRest) {
    BufferPool pool;
    common::v1::CorrelationMetadata corr;
    corr.set_correlation_id("c-1");
    corr.set_sequence_number(999);  // the broker's stamp wins
    (*corr.mutable_tags())["k"] = "v";
    auto buf = encode(pool, "events.a", "hello", 42, 7, &corr);
    bus::v1::Message m;
    ASSERT_TRUE(m.ParseFromArray(buf->data(), static_cast<int>(buf->size)));
    EXPECT_EQ(m.topic(), "events.a");
    EXPECT_EQ(m.payload(), "hello");
    EXPECT_EQ(m.payload_type(), "test.Type");
    EXPECT_EQ(m.timestamp().unix_nanos(), 1234u);
    EXPECT_EQ(m.source_session(), 42u);
    EXPECT_EQ(m.correlation().sequence_number(), 7u);
    EXPECT_EQ(m.correlation().correlation_id(), "c-1");
    EXPECT_EQ(m.correlation().tags().at("k"), "v");

    auto view = MessageView::parse(buf->bytes());
    ASSERT_TRUE(view);
    EXPECT_EQ(view->topic(), "events.a");
    EXPECT_EQ(view->payload_string(), "hello");
    EXPECT_EQ(view->sequence_number(), 7u);
    EXPECT_EQ(view->source_session(), 42u);
    EXPECT_EQ(view->correlation_id(), "c-1");
    EXPECT_EQ(view->correlation().tags().at("k"), "v");
}

TEST(MessageView, RejectsTruncatedBytes) {
    const std::uint8_t bad[] = {0x0A, 0x09, 'a'};
    EXPECT_FALSE(MessageView::parse(bad));
}

TEST(FrameBuilder, CoalescedFrameIsABatchProtobufParses) {
    BufferPool pool;
    OutboundQueue q({100, 1 << 20, 100});
    auto small = encode(pool, "events.a", "x", 1, 1);
    auto big = encode(pool, "events.b", std::string(40000, 'B'), 1, 2);  // gathered, not copied
    const std::uint64_t one[] = {5};
    const std::uint64_t two[] = {5, 300};
    ASSERT_TRUE(q.push_delivery(small, one));
    ASSERT_TRUE(q.push_delivery(big, two));
    bus::v1::Envelope ack;
    ack.mutable_ack()->set_ref(9);
    OutboundItem control;
    control.kind = OutboundItem::Kind::Envelope;
    control.bytes = pool.allocate(ack.ByteSizeLong());
    ack.SerializeToArray(control.bytes->data(), static_cast<int>(ack.ByteSizeLong()));
    control.bytes->size = static_cast<std::uint32_t>(ack.ByteSizeLong());
    ASSERT_TRUE(q.push_control(control));

    FrameBuilder fb(1 << 20, 16 * 1024);
    EXPECT_EQ(fb.build(q), 3u);
    EXPECT_TRUE(q.empty());
    std::string payload;
    for (const auto& b : fb.buffers()) payload.append(static_cast<const char*>(b.data()), b.size());
    EXPECT_EQ(payload.size(), fb.payload_bytes());
    EXPECT_GE(fb.buffers().size(), 2u);  // the big message is its own iovec

    bus::v1::Batch batch;
    ASSERT_TRUE(batch.ParseFromString(payload));
    ASSERT_EQ(batch.items_size(), 3);
    EXPECT_EQ(batch.items(0).deliver().message().topic(), "events.a");
    EXPECT_EQ(batch.items(0).deliver().subscription_ids_size(), 1);
    EXPECT_EQ(batch.items(1).deliver().message().payload().size(), 40000u);
    EXPECT_EQ(batch.items(1).deliver().subscription_ids(1), 300u);
    EXPECT_EQ(batch.items(2).ack().ref(), 9u);
    EXPECT_TRUE(fb.whole_frame().empty());  // the big message is referenced, not copied
    fb.reset();
    EXPECT_TRUE(fb.empty());
}

// Everything copied: the frame is one buffer, header room first, for a single send().
TEST(FrameBuilder, CopiedFrameIsOneBufferWithRoomForTheHeader) {
    BufferPool pool;
    OutboundQueue q({100, 1 << 20, 100});
    FrameBuilder fb(1 << 20, 16 * 1024);
    EXPECT_TRUE(fb.whole_frame().empty());     // nothing built yet
    for (int round = 0; round < 2; ++round) {  // and again after a reset
        const std::uint64_t ids[] = {7};
        ASSERT_TRUE(q.push_delivery(encode(pool, "events.a", "one", 1, 1), ids));
        ASSERT_TRUE(q.push_delivery(encode(pool, "events.b", std::string(500, 'z'), 1, 2), ids));
        ASSERT_EQ(fb.build(q), 2u);
        std::string payload;
        for (const auto& b : fb.buffers()) {
            payload.append(static_cast<const char*>(b.data()), b.size());
        }
        const auto whole = fb.whole_frame();
        ASSERT_EQ(whole.size(), wire::kFrameHeaderSize + fb.payload_bytes());
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(whole.data()) + wire::kFrameHeaderSize,
                              whole.size() - wire::kFrameHeaderSize),
                  payload);
        bus::v1::Batch batch;
        ASSERT_TRUE(batch.ParseFromString(payload));
        EXPECT_EQ(batch.items(1).deliver().message().payload(), std::string(500, 'z'));
        fb.reset();
        EXPECT_TRUE(fb.whole_frame().empty());
    }
}

TEST(FrameBuilder, StopsAtMaxFrameBytes) {
    BufferPool pool;
    OutboundQueue q({1000, 1 << 30, 10});
    auto m = encode(pool, "events.a", std::string(1000, 'x'), 1, 1);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(q.push_delivery(m, {}));
    FrameBuilder fb(16 * 1024);
    const auto taken = fb.build(q);
    EXPECT_GT(taken, 10u);
    EXPECT_LT(taken, 17u);
    EXPECT_LE(fb.payload_bytes(), 16u * 1024);
    EXPECT_EQ(q.messages(), 100u - taken);
}

TEST(TopicSequencer, PerTopicCountersAndLimit) {
    TopicSequencer s(2);
    EXPECT_EQ(s.next("a"), 1u);
    EXPECT_EQ(s.next("a"), 2u);
    EXPECT_EQ(s.next("b"), 1u);
    EXPECT_EQ(s.next("a"), 3u);
    EXPECT_FALSE(s.next("c"));
}

TEST(GapTracker, CountsMissingNumbersPerSourceAndTopic) {
    GapTracker g;
    g.observe(1, "t.a", 1);
    g.observe(1, "t.a", 2);
    g.observe(1, "t.b", 1);
    g.observe(1, "t.a", 5);   // 3 and 4 lost
    g.observe(2, "t.a", 10);  // joined mid-stream: not a loss
    g.observe(2, "t.a", 12);  // 11 lost
    EXPECT_EQ(g.received(), 6u);
    EXPECT_EQ(g.gaps(), 3u);
    EXPECT_EQ(g.by_source().at(1).gaps, 2u);
    EXPECT_EQ(g.by_source().at(2).gaps, 1u);
}

}  // namespace
}  // namespace daemoneye::eventbus
