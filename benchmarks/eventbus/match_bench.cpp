// Topic match rate against 1k, 10k and 100k subscriptions (mixed exact / `+` / `#`): the trie's
// cost should stay nearly flat, because a match walks the topic's levels, not the subscriptions.
// BM_BruteForce is the peer measured in the same run: every pattern tested with pattern_matches,
// which is what the trie replaces.
//
// Workload: each subscription has its own host level, so a topic matches the same small number
// of subscriptions at every size (a growing answer would measure output, not lookup):
//   60 % exact  events.<kind>.<event>.h<i>
//   25 % plus   events.+.<event>.h<i>
//   15 % hash   events.<kind>.h<i>.#
// plus a fixed set of broad subscriptions (`#`, `events.#`, `events.process.+.+`, ...).
// Topics: events.<kind>.<event>.h<j> for random j (half of them match a per-host subscription),
// and events.<kind>.h<j>.<event>.<detail> (exercises the `#` branch).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "daemoneye/eventbus/subscription_trie.hpp"
#include "daemoneye/eventbus/topic.hpp"

namespace {

using daemoneye::eventbus::SessionMatches;
using daemoneye::eventbus::SubscriberRef;
using daemoneye::eventbus::SubscriptionTrie;

const char* const kKinds[] = {"process", "network", "filesystem", "performance"};
const char* const kEvents[] = {"lifecycle", "metadata", "tree", "integrity", "anomaly", "batch"};

struct Workload {
    std::vector<std::pair<std::string, SubscriberRef>> subscriptions;
    std::vector<std::string> topics;
};

Workload make_workload(std::size_t n) {
    std::mt19937 rng(static_cast<std::uint32_t>(n));
    auto pick = [&](std::size_t k) {
        return std::uniform_int_distribution<std::size_t>(0, k - 1)(rng);
    };
    Workload w;
    const std::size_t kSessions = 64;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string host = "h" + std::to_string(i);
        const std::string kind = kKinds[pick(std::size(kKinds))];
        const std::string event = kEvents[pick(std::size(kEvents))];
        const std::size_t roll = pick(100);
        std::string pattern;
        if (roll < 60) {
            pattern = "events." + kind + "." + event + "." + host;
        } else if (roll < 85) {
            pattern = "events.+." + event + "." + host;
        } else {
            pattern = "events." + kind + "." + host + ".#";
        }
        w.subscriptions.push_back({pattern, SubscriberRef{i % kSessions, i}});
    }
    const char* const broad[] = {"#", "events.#", "events.process.+.+", "control.#",
                                 "events.+.lifecycle.+"};
    for (std::size_t i = 0; i < std::size(broad); ++i) {
        w.subscriptions.push_back({broad[i], SubscriberRef{kSessions + i, 1}});
    }
    for (std::size_t i = 0; i < 4096; ++i) {
        const std::string host = "h" + std::to_string(pick(2 * n));  // about half hit a host
        const std::string kind = kKinds[pick(std::size(kKinds))];
        const std::string event = kEvents[pick(std::size(kEvents))];
        if (i % 4 == 3) {
            w.topics.push_back("events." + kind + "." + host + "." + event + ".detail");
        } else {
            w.topics.push_back("events." + kind + "." + event + "." + host);
        }
    }
    return w;
}

// Builds the trie and checks it against brute force on a sample, so a fast wrong answer cannot
// pass for a result.
std::unique_ptr<SubscriptionTrie> build(const Workload& w) {
    auto trie = std::make_unique<SubscriptionTrie>();
    for (const auto& [pattern, ref] : w.subscriptions) {
        if (!trie->insert(pattern, ref)) std::abort();
    }
    for (std::size_t i = 0; i < 256; ++i) {
        std::size_t by_trie = 0;
        std::size_t by_brute_force = 0;
        trie->match(w.topics[i], [&](const SubscriberRef&) { ++by_trie; });
        for (const auto& [pattern, ref] : w.subscriptions) {
            by_brute_force += daemoneye::eventbus::pattern_matches(pattern, w.topics[i]) ? 1 : 0;
        }
        if (by_trie != by_brute_force) {
            std::fprintf(stderr, "trie and brute force disagree on %s\n", w.topics[i].c_str());
            std::abort();
        }
    }
    return trie;
}

void BM_TrieMatch(benchmark::State& state) {
    const Workload w = make_workload(static_cast<std::size_t>(state.range(0)));
    const auto trie = build(w);
    std::size_t i = 0;
    std::uint64_t matched = 0;
    for (auto _ : state) {
        const std::string& topic = w.topics[i++ & 4095];
        trie->match(topic, [&](const SubscriberRef& ref) { matched += ref.subscription_id | 1; });
    }
    benchmark::DoNotOptimize(matched);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    std::uint64_t total = 0;
    for (const auto& t : w.topics) trie->match(t, [&](const SubscriberRef&) { ++total; });
    state.counters["subs"] = static_cast<double>(trie->size());
    state.counters["matches_per_topic"] =
        static_cast<double>(total) / static_cast<double>(w.topics.size());
}

// The broker's path: matches grouped per session (sorted), into a reused buffer.
void BM_TrieMatchSessions(benchmark::State& state) {
    const Workload w = make_workload(static_cast<std::size_t>(state.range(0)));
    const auto trie = build(w);
    SessionMatches out;
    std::size_t i = 0;
    std::size_t sessions = 0;
    for (auto _ : state) {
        trie->match_sessions(w.topics[i++ & 4095], out);
        sessions += out.session_count();
    }
    benchmark::DoNotOptimize(sessions);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_BruteForce(benchmark::State& state) {
    const Workload w = make_workload(static_cast<std::size_t>(state.range(0)));
    std::size_t i = 0;
    std::uint64_t matched = 0;
    for (auto _ : state) {
        const std::string& topic = w.topics[i++ & 4095];
        for (const auto& [pattern, ref] : w.subscriptions) {
            if (daemoneye::eventbus::pattern_matches(pattern, topic))
                matched += ref.subscription_id | 1;
        }
    }
    benchmark::DoNotOptimize(matched);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Subscription churn: insert then erase one subscription against a table of n.
void BM_TrieInsertErase(benchmark::State& state) {
    const Workload w = make_workload(static_cast<std::size_t>(state.range(0)));
    const auto trie = build(w);
    std::uint64_t id = 0;
    for (auto _ : state) {
        const SubscriberRef ref{1u << 20, id++};
        trie->insert("events.process.lifecycle.churn", ref);
        trie->erase("events.process.lifecycle.churn", ref);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

BENCHMARK(BM_TrieMatch)->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_TrieMatchSessions)->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_BruteForce)->Arg(1000)->Arg(10000);
BENCHMARK(BM_TrieInsertErase)->Arg(1000)->Arg(100000);

}  // namespace

BENCHMARK_MAIN();
