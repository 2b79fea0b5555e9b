#include "daemoneye/eventbus/subscription_trie.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "daemoneye/eventbus/topic.hpp"

namespace daemoneye::eventbus {
namespace {

using Refs = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

Refs matches(const SubscriptionTrie& trie, std::string_view topic) {
    Refs out;
    trie.match(topic,
               [&](const SubscriberRef& r) { out.emplace_back(r.session_id, r.subscription_id); });
    std::sort(out.begin(), out.end());
    return out;
}

TEST(SubscriptionTrie, ExactPlusAndHash) {
    SubscriptionTrie trie;
    EXPECT_TRUE(trie.insert("events.process.lifecycle", {1, 1}));
    EXPECT_TRUE(trie.insert("events.+.lifecycle", {1, 2}));
    EXPECT_TRUE(trie.insert("events.#", {2, 1}));
    EXPECT_TRUE(trie.insert("#", {3, 1}));
    EXPECT_TRUE(trie.insert("control.#", {4, 1}));
    EXPECT_EQ(trie.size(), 5u);

    EXPECT_EQ(matches(trie, "events.process.lifecycle"), (Refs{{1, 1}, {1, 2}, {2, 1}, {3, 1}}));
    EXPECT_EQ(matches(trie, "events"), (Refs{{2, 1}, {3, 1}}));  // `events.#` matches `events`
    EXPECT_EQ(matches(trie, "events.network.lifecycle"), (Refs{{1, 2}, {2, 1}, {3, 1}}));
    EXPECT_EQ(matches(trie, "other"), (Refs{{3, 1}}));
    EXPECT_TRUE(trie.has_match("other"));
    ASSERT_TRUE(trie.erase("#", {3, 1}));
    EXPECT_FALSE(trie.has_match("other"));
    EXPECT_EQ(matches(trie, "other"), Refs{});
}

TEST(SubscriptionTrie, DuplicateRefRefused) {
    SubscriptionTrie trie;
    EXPECT_TRUE(trie.insert("a.b", {1, 7}));
    EXPECT_FALSE(trie.insert("a.b", {1, 7}));
    EXPECT_FALSE(trie.insert("c.#", {1, 7}));  // subscription ids are unique within a session
    EXPECT_TRUE(trie.insert("a.b", {2, 7}));
    EXPECT_EQ(trie.size(), 2u);
    EXPECT_EQ(trie.pattern_of({1, 7}), "a.b");
    EXPECT_FALSE(trie.pattern_of({1, 8}).has_value());
}

TEST(SubscriptionTrie, EraseChecksPatternAndPrunes) {
    SubscriptionTrie trie;
    const std::size_t empty_nodes = trie.node_count();
    ASSERT_TRUE(trie.insert("a.b.c.d", {1, 1}));
    ASSERT_TRUE(trie.insert("a.+.#", {1, 2}));
    EXPECT_FALSE(trie.erase("a.b.c", {1, 1}));  // wrong pattern
    EXPECT_FALSE(trie.erase("a.b.c.d", {1, 3}));
    EXPECT_FALSE(trie.erase("x.y", {1, 1}));
    EXPECT_TRUE(trie.erase("a.b.c.d", {1, 1}));
    EXPECT_FALSE(trie.erase("a.b.c.d", {1, 1}));
    EXPECT_EQ(trie.node_count(), empty_nodes + 3);  // a, +, #
    EXPECT_TRUE(trie.erase(SubscriberRef{1, 2}));
    EXPECT_EQ(trie.node_count(), empty_nodes);
    EXPECT_EQ(trie.size(), 0u);
    EXPECT_EQ(trie.session_count(), 0u);
}

TEST(SubscriptionTrie, EraseSessionRemovesOnlyThatSession) {
    SubscriptionTrie trie;
    for (std::uint64_t s = 1; s <= 3; ++s) {
        ASSERT_TRUE(trie.insert("events.#", {s, 1}));
        ASSERT_TRUE(trie.insert("events.process.+", {s, 2}));
        ASSERT_TRUE(trie.insert("control.health.heartbeat", {s, 3}));
    }
    EXPECT_EQ(trie.erase_session(2), 3u);
    EXPECT_EQ(trie.erase_session(2), 0u);
    EXPECT_EQ(trie.size(), 6u);
    EXPECT_EQ(trie.session_subscription_count(2), 0u);
    EXPECT_EQ(trie.session_subscription_count(3), 3u);
    EXPECT_EQ(matches(trie, "events.process.tree"), (Refs{{1, 1}, {1, 2}, {3, 1}, {3, 2}}));
    EXPECT_EQ(trie.erase_session(1), 3u);
    EXPECT_EQ(trie.erase_session(3), 3u);
    EXPECT_EQ(trie.node_count(), 1u);
}

TEST(SubscriptionTrie, OverlappingSubscriptionsGroupedPerSession) {
    SubscriptionTrie trie;
    ASSERT_TRUE(trie.insert("events.#", {5, 30}));
    ASSERT_TRUE(trie.insert("events.process.+", {5, 10}));
    ASSERT_TRUE(trie.insert("#", {5, 20}));
    ASSERT_TRUE(trie.insert("events.process.lifecycle", {2, 1}));
    ASSERT_TRUE(trie.insert("events.network.#", {9, 1}));
    SessionMatches m;
    trie.match_sessions("events.process.lifecycle", m);
    EXPECT_EQ(m.subscription_count(), 4u);
    EXPECT_EQ(m.session_count(), 2u);
    std::vector<std::pair<std::uint64_t, std::vector<std::uint64_t>>> got;
    m.for_each_session([&](std::uint64_t session, std::span<const SubscriberRef> refs) {
        std::vector<std::uint64_t> ids;
        for (const auto& r : refs) {
            EXPECT_EQ(r.session_id, session);
            ids.push_back(r.subscription_id);
        }
        got.emplace_back(session, ids);
    });
    EXPECT_EQ(got, (std::vector<std::pair<std::uint64_t, std::vector<std::uint64_t>>>{
                       {2, {1}}, {5, {10, 20, 30}}}));
    trie.match_sessions("nothing.here", m);  // only `#`
    EXPECT_EQ(m.subscription_count(), 1u);
    EXPECT_EQ(m.session_count(), 1u);
    ASSERT_TRUE(trie.erase("#", {5, 20}));
    trie.match_sessions("nothing.here", m);
    EXPECT_TRUE(m.empty());
    EXPECT_EQ(m.session_count(), 0u);
}

// Many subscribers on one node, removed in an order that exercises the swap-and-pop index fixups.
TEST(SubscriptionTrie, HotNodeChurn) {
    SubscriptionTrie trie;
    constexpr std::uint64_t kSessions = 2000;
    for (std::uint64_t s = 0; s < kSessions; ++s) ASSERT_TRUE(trie.insert("events.#", {s, s % 7}));
    for (std::uint64_t s = 0; s < kSessions; s += 3)
        ASSERT_TRUE(trie.erase("events.#", {s, s % 7}));
    for (std::uint64_t s = 1; s < kSessions; s += 3) ASSERT_EQ(trie.erase_session(s), 1u);
    Refs expect;
    for (std::uint64_t s = 2; s < kSessions; s += 3) expect.emplace_back(s, s % 7);
    EXPECT_EQ(matches(trie, "events.x"), expect);
    for (std::uint64_t s = 2; s < kSessions; s += 3) ASSERT_TRUE(trie.contains({s, s % 7}));
    for (std::uint64_t s = 2; s < kSessions; s += 3)
        ASSERT_TRUE(trie.erase(SubscriberRef{s, s % 7}));
    EXPECT_EQ(trie.size(), 0u);
    EXPECT_EQ(trie.node_count(), 1u);
}

// Thousands of children under one node, removed in random order: exercises the child table's
// growth and deletion (probe runs that wrap around the end of the table).
TEST(SubscriptionTrie, WideNodeRandomErase) {
    constexpr std::uint64_t kChildren = 5000;
    std::mt19937 rng(7);
    std::vector<std::uint64_t> order(kChildren);
    for (std::uint64_t i = 0; i < kChildren; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    SubscriptionTrie trie;
    for (std::uint64_t i : order) ASSERT_TRUE(trie.insert("wide.k" + std::to_string(i), {1, i}));
    EXPECT_EQ(trie.node_count(), 2 + kChildren);  // root, wide, children

    std::shuffle(order.begin(), order.end(), rng);
    std::set<std::uint64_t> live(order.begin(), order.end());
    for (std::size_t n = 0; n < kChildren; ++n) {
        const std::uint64_t i = order[n];
        ASSERT_TRUE(trie.erase("wide.k" + std::to_string(i), {1, i}));
        live.erase(i);
        if (n % 97 == 0 || live.size() < 50) {
            for (std::uint64_t j = 0; j < kChildren; j += (live.size() < 50 ? 1 : 13)) {
                const Refs got = matches(trie, "wide.k" + std::to_string(j));
                ASSERT_EQ(got.size(), live.count(j)) << "k" << j << " after " << n + 1 << " erases";
            }
        }
    }
    EXPECT_EQ(trie.node_count(), 1u);
}

TEST(SubscriptionTrie, MoveKeepsContents) {
    SubscriptionTrie a;
    ASSERT_TRUE(a.insert("x.+", {1, 1}));
    SubscriptionTrie b(std::move(a));
    EXPECT_EQ(matches(b, "x.y"), (Refs{{1, 1}}));
    SubscriptionTrie c;
    c = std::move(b);
    EXPECT_EQ(c.size(), 1u);
    EXPECT_EQ(matches(c, "x.y"), (Refs{{1, 1}}));
}

// --- randomized differential test: the trie against brute-force pattern_matches ---

class RandomTopics {
  public:
    explicit RandomTopics(std::uint32_t seed) : rng_(seed) {}

    std::string level() {
        static const char* kWords[] = {"a", "b", "c", "events", "process", "x-1", "Z_9"};
        return kWords[pick(std::size(kWords))];
    }
    std::string topic() {
        const std::size_t depth = 1 + pick(5);
        std::string t = level();
        for (std::size_t i = 1; i < depth; ++i) t += "." + level();
        return t;
    }
    std::string pattern() {
        const std::size_t depth = 1 + pick(5);
        std::string p;
        for (std::size_t i = 0; i < depth; ++i) {
            if (i) p += '.';
            const std::size_t roll = pick(10);
            if (i + 1 == depth && roll < 2) {
                p += '#';
            } else if (roll < 4) {
                p += '+';
            } else {
                p += level();
            }
        }
        return p;
    }
    std::size_t pick(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
    }

  private:
    std::mt19937 rng_;
};

TEST(SubscriptionTrie, RandomizedAgainstBruteForce) {
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
        RandomTopics gen(seed);
        SubscriptionTrie trie;
        std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> live;  // ref -> pattern
        std::uint64_t next_id = 1;
        for (int step = 0; step < 600; ++step) {
            const std::size_t op = gen.pick(10);
            if (op < 5 || live.empty()) {
                const std::string p = gen.pattern();
                ASSERT_TRUE(validate_pattern(p).ok()) << p;
                const std::uint64_t session = 1 + gen.pick(8);
                ASSERT_TRUE(trie.insert(p, {session, next_id}));
                live[{session, next_id}] = p;
                ++next_id;
            } else if (op < 8) {
                auto it = std::next(live.begin(), static_cast<long>(gen.pick(live.size())));
                ASSERT_TRUE(trie.erase(it->second, {it->first.first, it->first.second}));
                live.erase(it);
            } else if (op < 9) {
                const std::uint64_t session = 1 + gen.pick(8);
                std::size_t expected = 0;
                for (auto it = live.begin(); it != live.end();) {
                    if (it->first.first == session) {
                        it = live.erase(it);
                        ++expected;
                    } else {
                        ++it;
                    }
                }
                ASSERT_EQ(trie.erase_session(session), expected);
            } else {
                auto it = std::next(live.begin(), static_cast<long>(gen.pick(live.size())));
                ASSERT_EQ(trie.pattern_of({it->first.first, it->first.second}), it->second);
            }
            ASSERT_EQ(trie.size(), live.size());
            for (int q = 0; q < 5; ++q) {
                const std::string t = gen.topic();
                Refs expect;
                for (const auto& [ref, p] : live) {
                    if (pattern_matches(p, t)) expect.push_back(ref);
                }
                ASSERT_EQ(matches(trie, t), expect)
                    << "seed " << seed << " step " << step << " topic " << t;
                ASSERT_EQ(trie.has_match(t), !expect.empty());
            }
        }
        for (const auto& [ref, p] : live) ASSERT_TRUE(trie.erase(p, {ref.first, ref.second}));
        EXPECT_EQ(trie.node_count(), 1u) << "every branch pruned";
    }
}

}  // namespace
}  // namespace daemoneye::eventbus
