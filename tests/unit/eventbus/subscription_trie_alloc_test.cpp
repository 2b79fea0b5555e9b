// The match path must not allocate (DESIGN.md: no per-message allocation on the hot path). This
// binary replaces the global operator new to count allocations, so it is kept apart from the
// other trie tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "daemoneye/eventbus/subscription_trie.hpp"

namespace {
std::atomic<std::size_t> g_allocations{0};
}

void* operator new(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
    return ::operator new(size);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}

namespace daemoneye::eventbus {
namespace {

TEST(SubscriptionTrieAlloc, MatchAllocatesNothing) {
    SubscriptionTrie trie;
    std::size_t id = 0;
    for (const char* p :
         {"#", "events.#", "events.process.+", "events.+.lifecycle", "events.process.lifecycle",
          "control.collector.+", "control.collector.procmond.#", "+.+.+"}) {
        for (std::uint64_t session = 1; session <= 4; ++session) {
            ASSERT_TRUE(trie.insert(p, {session, ++id}));
        }
    }
    // Topics with levels longer than any SSO buffer, so a hidden std::string copy would show.
    const std::string long_level(60, 'q');
    const std::string topics[] = {"events.process.lifecycle",
                                  "control.collector.procmond.instance-" + long_level,
                                  "events." + long_level + ".lifecycle", "nothing", "a.b.c"};

    {  // the hook really counts
        const std::size_t start = g_allocations.load();
        std::string copy = topics[1];
        EXPECT_GT(g_allocations.load(), start);
        EXPECT_EQ(copy, topics[1]);
    }

    SessionMatches grouped;
    for (const auto& t : topics) trie.match_sessions(t, grouped);  // grow the reusable buffer once

    const std::size_t before = g_allocations.load();
    std::size_t visits = 0;
    std::size_t sessions = 0;
    for (int round = 0; round < 100; ++round) {
        for (const auto& t : topics) {
            trie.match(t, [&](const SubscriberRef&) { ++visits; });
            trie.match_sessions(t, grouped);
            sessions += grouped.session_count();
            visits += trie.has_match(t) ? 1 : 0;
        }
    }
    EXPECT_EQ(g_allocations.load() - before, 0u);
    EXPECT_GT(visits, 0u);
    EXPECT_GT(sessions, 0u);
}

}  // namespace
}  // namespace daemoneye::eventbus
