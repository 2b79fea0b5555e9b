// The hand readers of bus bodies against protobuf (wire_differential.hpp): named cases for the
// ways protobuf's wire format can be bent (keys, lengths, repeats), then many mutated bodies.
#include "wire_differential.hpp"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "wire_format.hpp"

namespace daemoneye::eventbus {
namespace {

using wire_check::varint;
using wire_check::wire_divergence;

// Mutated strings are meant to be refused: protobuf's log line for each is noise here.
const bool kQuietProtobuf = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
}();

std::span<const std::uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string hex(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string len_field(std::uint64_t key, const std::string& value, int key_width = 0) {
    return varint(key, key_width) + varint(value.size()) + value;
}

constexpr std::uint64_t key_of(std::uint32_t field, std::uint32_t wire_type) {
    return (static_cast<std::uint64_t>(field) << 3) | wire_type;
}

bus::v1::Message full_message() {
    bus::v1::Message m;
    m.set_topic("events.process.start");
    m.set_payload_type("daemoneye.events.v1.ProcessEvent");
    m.set_payload(
        std::string("\x08\x96\x01\x12\x04"
                    "bash",
                    8));
    m.mutable_timestamp()->set_unix_nanos(1763700000123456789ULL);
    m.set_source_session(42);
    auto* c = m.mutable_correlation();
    c->set_correlation_id("agent-1-42-7");
    c->set_parent_correlation_id("parent");
    c->set_root_correlation_id("root");
    c->set_sequence_number(9);
    c->set_workflow_stage("collect");
    (*c->mutable_tags())["host"] = "h1";
    return m;
}

rpc::v1::RpcRequest full_request() {
    rpc::v1::RpcRequest r;
    r.set_correlation_id("cli-7-1");
    r.set_client_id("daemoneye-cli");
    r.set_target("control.collector.procmond");
    r.set_operation(rpc::v1::OPERATION_HEALTH_CHECK);
    r.mutable_timestamp()->set_unix_nanos(1234567890123);
    r.set_timeout_ms(30000);
    r.set_reply_to("control.rpc.reply.9");
    r.mutable_correlation()->set_workflow_stage("stage");
    r.mutable_health_check()->set_verbose(true);
    return r;
}

rpc::v1::RpcResponse full_response() {
    rpc::v1::RpcResponse r;
    r.set_correlation_id("cli-7-1");
    r.set_status(rpc::v1::STATUS_ERROR);
    r.mutable_error()->set_message("nope");
    r.set_execution_time_us(17);
    r.set_responder("procmond");
    r.mutable_correlation()->set_sequence_number(3);
    return r;
}

// The spoof this file exists for: protobuf reads a key only up to 32 bits and drops the rest, so
// a five-byte key with bits set past bit 31 is field 1 (topic) to protobuf. The bus must not
// read it as some other field and skip it.
TEST(WireDifferential, KeysWithBitsPast32AreRefusedNotReadAsAnotherField) {
    const std::string spoof = len_field((std::uint64_t{1} << 32) | key_of(1, 2), "control.x", 5);
    const std::string body = full_message().SerializeAsString() + spoof;
    bus::v1::Message pb;
    ASSERT_TRUE(pb.ParseFromString(body));
    ASSERT_EQ(pb.topic(), "control.x");  // what every protobuf subscriber would see

    auto view = MessageView::parse(bytes_of(body));
    ASSERT_FALSE(view) << view->topic();
    EXPECT_NE(view.error().message.find("bad field key at byte " +
                                        std::to_string(body.size() - spoof.size())),
              std::string::npos)
        << view.error().message;

    const std::string target_spoof =
        len_field((std::uint64_t{1} << 33) | key_of(3, 2), "control.collector.other", 5);
    auto head = scan_rpc_request(bytes_of(full_request().SerializeAsString() + target_spoof));
    ASSERT_FALSE(head);
    EXPECT_NE(head.error().find("bad field key"), std::string::npos) << head.error();
    EXPECT_FALSE(scan_rpc_response(
        bytes_of(full_response().SerializeAsString() +
                 len_field((std::uint64_t{1} << 34) | key_of(1, 2), "other-id", 5))));
    EXPECT_EQ(wire_divergence(bytes_of(body)), "");
}

TEST(WireDifferential, KeysAndLengthsOverFiveBytesAreRefusedAsProtobufDoes) {
    const std::string base = full_message().SerializeAsString();
    // Field 1 with its key padded to six bytes: protobuf refuses the body, so must we.
    const std::string long_key = base + len_field(key_of(1, 2), "control.x", 6);
    bus::v1::Message pb;
    EXPECT_FALSE(pb.ParseFromString(long_key));
    EXPECT_FALSE(MessageView::parse(bytes_of(long_key)));

    const std::string long_length = base + varint(key_of(2, 2)) + varint(3, 6) + "abc";
    EXPECT_FALSE(pb.ParseFromString(long_length));
    EXPECT_FALSE(MessageView::parse(bytes_of(long_length)));

    // Padded, but within five bytes and 32 bits: both accept and read the same.
    const std::string padded = base + len_field(key_of(1, 2), "events.padded", 5);
    ASSERT_TRUE(pb.ParseFromString(padded));
    auto view = MessageView::parse(bytes_of(padded));
    ASSERT_TRUE(view) << view.error().message;
    EXPECT_EQ(view->topic(), "events.padded");
    EXPECT_EQ(wire_divergence(bytes_of(padded)), "");
    // The largest field number protobuf allows, unknown to every bus message.
    const std::string high = base + len_field(key_of((1u << 29) - 1, 2), "x");
    ASSERT_TRUE(pb.ParseFromString(high));
    EXPECT_TRUE(MessageView::parse(bytes_of(high)));
}

// The broker forwards only Messages MessageView accepts, so it must refuse whatever protobuf
// would refuse at any depth, and say what and where.
TEST(WireDifferential, WhatProtobufRefusesInAMessageIsRefusedAndNamed) {
    const std::string base = full_message().SerializeAsString();
    const auto at = std::to_string(base.size());
    struct Case {
        std::string tail;
        std::string expect;
    };
    const std::vector<Case> cases = {
        {len_field(key_of(2, 2), "caf\xc3"), "payload_type is not UTF-8 at byte " + at},
        {len_field(key_of(1, 2), "\xed\xa0\x80"), "topic is not UTF-8 at byte " + at},
        {len_field(key_of(6, 2), len_field(key_of(2, 2), "\xff")),
         "correlation: string field is not UTF-8"},
        {len_field(key_of(6, 2), len_field(key_of(6, 2), len_field(key_of(2, 2), "\xc3\x28"))),
         "correlation tag is not UTF-8"},
        {len_field(key_of(6, 2), varint(key_of(4, 0)) + "\x80"), "correlation: sequence_number"},
        {len_field(key_of(4, 2), varint(key_of(1, 0)) + "\xff"), "timestamp: unix_nanos"},
    };
    for (const auto& c : cases) {
        const std::string body = base + c.tail;
        bus::v1::Message pb;
        EXPECT_FALSE(pb.ParseFromString(body)) << c.expect;
        auto view = MessageView::parse(bytes_of(body));
        ASSERT_FALSE(view) << c.expect;
        EXPECT_NE(view.error().message.find(c.expect), std::string::npos) << view.error().message;
    }
}

TEST(WireDifferential, RepeatsMergeAsInProtobuf) {
    bus::v1::Message second;
    second.set_topic("events.process.exit");
    second.mutable_correlation()->set_sequence_number(0);  // not encoded: proto3 default
    std::string body = full_message().SerializeAsString() + second.SerializeAsString();
    // An explicit zero sequence in a later correlation: protobuf's parse overwrites with it.
    body += len_field(key_of(6, 2), varint(key_of(4, 0)) + varint(0));
    ASSERT_TRUE(MessageView::parse(bytes_of(body)));
    EXPECT_EQ(wire_divergence(bytes_of(body)), "");
    EXPECT_EQ(MessageView::parse(bytes_of(body))->correlation().sequence_number(), 0u);
}

// Bodies built from whole fields with the keys protobuf decoders disagree on, spliced into,
// appended to or cut from valid messages of all three kinds.
class Mutator {
  public:
    explicit Mutator(std::uint64_t seed) : rng_(seed) {}

    std::string mutate(std::string body) {
        for (int i = 0, n = 1 + pick(4); i < n; ++i) {
            switch (pick(6)) {
                case 0:
                case 1:
                    body += field();
                    break;
                case 2:
                    body.insert(0, field());
                    break;
                case 3:
                    if (!body.empty()) body.insert(pick(static_cast<int>(body.size())), field());
                    break;
                case 4:
                    if (!body.empty()) {
                        body[pick(static_cast<int>(body.size()))] = static_cast<char>(pick(256));
                    }
                    break;
                default:
                    if (!body.empty()) body.resize(pick(static_cast<int>(body.size())));
            }
        }
        return body;
    }

  private:
    int pick(int n) { return static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }

    std::string field() {
        static const std::uint32_t kFields[] = {1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 15, 16, 99};
        std::uint32_t f = kFields[pick(static_cast<int>(std::size(kFields)))];
        if (pick(8) == 0) f = (1u << 29) - 1;
        const std::uint32_t wt =
            pick(4) == 0 ? static_cast<std::uint32_t>(pick(8)) : (pick(2) == 0 ? 2u : 0u);
        std::uint64_t key = key_of(f, wt);
        if (pick(4) == 0) key |= static_cast<std::uint64_t>(1 + pick(7)) << 32;  // past 32 bits
        std::string out = varint(key, pick(3) == 0 ? 1 + pick(10) : 0);
        switch (wt) {
            case 0:
                return out + varint(rng_() >> pick(64), pick(4) == 0 ? 1 + pick(10) : 0);
            case 1:
                return out + std::string(8, static_cast<char>(pick(256)));
            case 5:
                return out + std::string(4, static_cast<char>(pick(256)));
            case 2: {
                static const char* kValues[] = {
                    "control.forged", "events.process.start", "", "x", "\xc0\xaf", "\x08\x05",
                    "\x20\x00"};
                const std::string v = kValues[pick(static_cast<int>(std::size(kValues)))];
                return out + varint(v.size(), pick(4) == 0 ? 1 + pick(7) : 0) + v;
            }
            default:
                return out;  // groups and invalid wire types: no value
        }
    }

    std::mt19937_64 rng_;
};

TEST(WireDifferential, MutatedBodiesReadTheSameAsProtobufWheneverBothAccept) {
    const std::vector<std::string> seeds = {full_message().SerializeAsString(),
                                            full_request().SerializeAsString(),
                                            full_response().SerializeAsString(), std::string()};
    Mutator mutator(20261121);
    int compared = 0;
    for (int i = 0; i < 100000; ++i) {
        const std::string body = mutator.mutate(seeds[static_cast<std::size_t>(i) % seeds.size()]);
        const std::string why = wire_divergence(bytes_of(body));
        ASSERT_EQ(why, "") << "body " << hex(body);
        bus::v1::Message pb;
        compared += pb.ParseFromString(body) && MessageView::parse(bytes_of(body)) ? 1 : 0;
    }
    EXPECT_GT(compared, 2000);  // the property was exercised, not vacuously true
}

}  // namespace
}  // namespace daemoneye::eventbus
