// The broker's reusable Envelopes for in-process RPC requests
// (host/eventbus/src/request_arenas.hpp): a slot is reused only once nobody holds its Envelope,
// comes back empty, and requests larger than its inline block still parse (ASan checks the arena
// resets).
#include "request_arenas.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace daemoneye::eventbus {
namespace {

std::string request_bytes(const std::string& client, std::size_t pad = 0) {
    rpc::v1::RpcRequest r;
    r.set_correlation_id("7.abcd.1");
    r.set_client_id(client + std::string(pad, 'x'));
    r.set_target("control.collector.procmond");
    r.mutable_correlation()->set_correlation_id("7.abcd.1");
    r.mutable_health_check()->set_verbose(true);
    return r.SerializeAsString();
}

TEST(RequestArenas, ASlotIsReusedOnlyAfterItsEnvelopeIsReleasedAndComesBackEmpty) {
    RequestArenas arenas;
    auto a = arenas.envelope();
    const auto bytes = request_bytes("first");
    ASSERT_TRUE(a->mutable_rpc_request()->ParseFromString(bytes));
    auto b = arenas.envelope();  // a is held: another slot
    EXPECT_NE(a.get(), b.get());
    auto* first = a.get();
    a.reset();
    auto c = arenas.envelope();  // a's slot, reset
    EXPECT_EQ(c.get(), first);
    EXPECT_FALSE(c->has_rpc_request());
    EXPECT_EQ(c->ByteSizeLong(), 0u);
}

TEST(RequestArenas, MoreHeldThanKeptAreAllDistinctAndKeepTheirContent) {
    RequestArenas arenas;
    std::vector<std::shared_ptr<bus::v1::Envelope>> held;
    for (std::size_t i = 0; i < RequestArenas::kSlots + 10; ++i) {
        held.push_back(arenas.envelope());
        ASSERT_TRUE(held.back()->mutable_rpc_request()->ParseFromString(
            request_bytes("client-" + std::to_string(i))));
    }
    for (std::size_t i = 0; i < held.size(); ++i) {
        EXPECT_EQ(held[i]->rpc_request().client_id(), "client-" + std::to_string(i));
    }
    held.clear();
    for (int round = 0; round < 3; ++round) {  // released ones are taken again, freshly reset
        auto e = arenas.envelope();
        EXPECT_FALSE(e->has_rpc_request());
    }
}

TEST(RequestArenas, ARequestBiggerThanTheInlineBlockParsesAndTheSlotIsReusedAfter) {
    RequestArenas arenas;
    const auto big = request_bytes("big", 4 * RequestArenas::kBlockBytes);
    for (int round = 0; round < 3; ++round) {
        auto e = arenas.envelope();
        ASSERT_TRUE(e->mutable_rpc_request()->ParseFromString(big));
        EXPECT_EQ(e->rpc_request().client_id().size(), 3 + 4 * RequestArenas::kBlockBytes);
    }
    auto small = arenas.envelope();
    ASSERT_TRUE(small->mutable_rpc_request()->ParseFromString(request_bytes("small")));
    EXPECT_EQ(small->rpc_request().client_id(), "small");
}

}  // namespace
}  // namespace daemoneye::eventbus
