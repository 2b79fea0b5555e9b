// scan_rpc_request / scan_rpc_response: what the broker reads from an RPC body without parsing
// it, checked against protobuf's own encoding; and the strict UTF-8 check behind it.
#include "rpc_head.hpp"

#include <gtest/gtest.h>

#include <random>

#include "daemoneye/rpc/v1/rpc.pb.h"
#include "wire_format.hpp"

namespace daemoneye::eventbus {
namespace {

namespace rpcv1 = daemoneye::rpc::v1;

std::span<const std::uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string field_bytes(std::uint32_t field, const std::string& value) {
    std::uint8_t head[16];
    auto* p = wirefmt::put_len_header(head, field, value.size());
    return std::string(reinterpret_cast<char*>(head), static_cast<std::size_t>(p - head)) + value;
}

rpcv1::RpcRequest full_request() {
    rpcv1::RpcRequest r;
    r.set_correlation_id("agent-1-42-7");
    r.set_client_id("daemoneye-cli");
    r.set_target("control.collector.procmond");
    r.set_operation(rpcv1::OPERATION_HEALTH_CHECK);
    r.mutable_timestamp()->set_unix_nanos(1234567890123);
    r.set_timeout_ms(30000);
    r.set_reply_to("control.rpc.reply.9");
    r.mutable_correlation()->set_workflow_stage("stage");
    (*r.mutable_correlation()->mutable_tags())["k"] = "v";
    r.mutable_health_check()->set_verbose(true);
    return r;
}

TEST(RpcHead, RequestFieldsMatchProtobufsEncoding) {
    const std::string body = full_request().SerializeAsString();
    auto head = scan_rpc_request(bytes_of(body));
    ASSERT_TRUE(head) << head.error();
    EXPECT_EQ(head->correlation_id, "agent-1-42-7");
    EXPECT_EQ(head->target, "control.collector.procmond");
    EXPECT_EQ(head->timeout_ms, 30000u);

    auto empty = scan_rpc_request({});
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->correlation_id.empty());
    EXPECT_EQ(empty->timeout_ms, 0u);
}

TEST(RpcHead, ResponseFieldsMatchProtobufsEncoding) {
    rpcv1::RpcResponse r;
    r.set_correlation_id("c-1");
    r.set_status(rpcv1::STATUS_ERROR);
    r.mutable_error()->set_message("nope");
    r.set_execution_time_us(17);
    r.set_responder("procmond");
    r.mutable_health()->set_message("fine");
    const std::string body = r.SerializeAsString();
    auto head = scan_rpc_response(bytes_of(body));
    ASSERT_TRUE(head) << head.error();
    EXPECT_EQ(head->correlation_id, "c-1");
}

TEST(RpcHead, LastOccurrenceWinsAsInProtobuf) {
    const std::string body = full_request().SerializeAsString() + field_bytes(3, "control.other") +
                             field_bytes(1, "second-id");
    auto head = scan_rpc_request(bytes_of(body));
    ASSERT_TRUE(head) << head.error();
    rpcv1::RpcRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(body));
    EXPECT_EQ(head->target, parsed.target());
    EXPECT_EQ(head->correlation_id, parsed.correlation_id());
}

TEST(RpcHead, UnknownFieldsPassButMustBeWellFormed) {
    const std::string base = full_request().SerializeAsString();
    EXPECT_TRUE(scan_rpc_request(bytes_of(base + "\xf8\x06\x2a")));          // field 111 varint
    EXPECT_TRUE(scan_rpc_request(bytes_of(base + field_bytes(99, "xyz"))));  // field 99 bytes
    auto r = scan_rpc_request(bytes_of(base + "\xf8\x06"));                  // varint missing
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("field 111"), std::string::npos) << r.error();
    r = scan_rpc_request(bytes_of(base + "\xfb\x06"));  // field 111, wire type 3 (group)
    ASSERT_FALSE(r);
}

TEST(RpcHead, EachBadTopLevelFieldIsNamed) {
    struct Case {
        std::string body;
        std::string expect;
    };
    const std::string good = full_request().SerializeAsString();
    const std::vector<Case> cases = {
        {"\x08\x01", "field 1 (correlation_id) is not length-delimited"},
        {"\x1a\x05"
         "ab",
         "field 3 (target) is truncated"},
        {"\x30\x80", "field 6 (timeout_ms) is truncated"},
        {"\x32\x01"
         "a",
         "field 6 (timeout_ms) is not a varint"},
        {field_bytes(2, "caf\xc3"), "field 2 (client_id) is not UTF-8"},
        {field_bytes(7, "\xed\xa0\x80"), "field 7 (reply_to) is not UTF-8"},  // a surrogate
        {std::string("\x00", 1), "bad field key at byte"},
        {std::string("\x2d\x00\x00\x00\x00", 5), "field 5 (timestamp) is not length-delimited"},
    };
    for (const auto& c : cases) {
        auto r = scan_rpc_request(bytes_of(good + c.body));
        ASSERT_FALSE(r) << c.expect;
        EXPECT_NE(r.error().find(c.expect), std::string::npos) << r.error();
        // protobuf agrees that none of these is a valid RpcRequest whose known fields are intact
        // (it keeps a wrongly typed known field as an unknown one; we refuse it).
    }
    auto r = scan_rpc_response(bytes_of(std::string("\x10\x01") + field_bytes(6, "\xff")));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("field 6 (responder) is not UTF-8"), std::string::npos) << r.error();
}

// Whatever protobuf accepts as an RpcRequest built by our encoder, scan accepts with the same
// fields; whatever scan refuses on random corruption, protobuf refuses too, or it is a case
// where scan is stricter on purpose (a known field with the wrong wire type; a key protobuf would
// truncate to 32 bits, see wire_differential_test.cpp).
TEST(RpcHead, AgreesWithProtobufOnCorruptedBodies) {
    std::mt19937 rng(7);
    const std::string good = full_request().SerializeAsString();
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string body = good;
        for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) {
            body[rng() % body.size()] = static_cast<char>(rng() % 256);
        }
        if (rng() % 4 == 0) body.resize(rng() % body.size());
        rpcv1::RpcRequest parsed;
        const bool pb = parsed.ParseFromString(body);
        auto head = scan_rpc_request(bytes_of(body));
        if (head) {
            // The top level scanned clean: protobuf may still refuse something nested.
            if (pb) {
                ++accepted;
                EXPECT_EQ(head->correlation_id, parsed.correlation_id());
                EXPECT_EQ(head->target, parsed.target());
                EXPECT_EQ(head->timeout_ms, parsed.timeout_ms());
            }
        } else if (pb) {
            // Only where scan is stricter on purpose.
            const bool wrong_type =
                head.error().find("is not a varint") != std::string::npos ||
                head.error().find("is not length-delimited") != std::string::npos ||
                head.error().find("bad field key") != std::string::npos;
            EXPECT_TRUE(wrong_type) << head.error();
        }
    }
    EXPECT_GT(accepted, 100);  // the comparison above ran often enough to mean something
}

TEST(RpcHead, Utf8) {
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("plain ascii, longer than eight bytes"));
    EXPECT_TRUE(valid_utf8("caf\xc3\xa9"));                 // U+00E9
    EXPECT_TRUE(valid_utf8("\xe2\x82\xac"));                // U+20AC
    EXPECT_TRUE(valid_utf8("\xf0\x9f\x98\x80 smile"));      // U+1F600
    EXPECT_TRUE(valid_utf8("\xf4\x8f\xbf\xbf"));            // U+10FFFF
    EXPECT_FALSE(valid_utf8("\xc0\xaf"));                   // overlong '/'
    EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));               // overlong
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));               // surrogate U+D800
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));           // past U+10FFFF
    EXPECT_FALSE(valid_utf8("abcdefgh\x80"));               // lone continuation after ASCII run
    EXPECT_FALSE(valid_utf8("\xe2\x82"));                   // truncated
    EXPECT_FALSE(valid_utf8("\xf8\x88\x80\x80\x80"));       // 5-byte form
    EXPECT_FALSE(valid_utf8(std::string("ok\xc3") + "("));  // bad continuation
}

}  // namespace
}  // namespace daemoneye::eventbus
