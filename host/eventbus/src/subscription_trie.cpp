#include "daemoneye/eventbus/subscription_trie.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <unordered_map>

#include "daemoneye/eventbus/topic.hpp"
#include "level_table.hpp"

namespace daemoneye::eventbus {

struct SubscriptionTrie::Node {
    std::string key;  // this node's level under its parent ("+" and "#" for the wildcard slots)
    std::size_t key_hash = 0;
    Node* parent = nullptr;
    detail::LevelTable<Node> children;       // exact levels
    std::unique_ptr<Node> plus;              // `+` one level
    std::unique_ptr<Node> hash;              // `#` rest; a leaf, since `#` is always last
    std::vector<SubscriberRef> subscribers;  // patterns that end here

    bool unused() const { return subscribers.empty() && children.empty() && !plus && !hash; }
};

// Where each subscription lives, by session then subscription id: makes duplicate checks,
// erase-by-id and erase_session O(1) per subscription instead of a scan of the trie or of a hot
// node's subscriber list.
struct SubscriptionTrie::SessionIndex {
    struct Location {
        Node* node;
        std::size_t pos;  // index in node->subscribers
    };
    using Subscriptions = std::unordered_map<std::uint64_t, Location>;
    std::unordered_map<std::uint64_t, Subscriptions> by_session;

    Location* find(SubscriberRef ref) {
        auto s = by_session.find(ref.session_id);
        if (s == by_session.end()) return nullptr;
        auto l = s->second.find(ref.subscription_id);
        return l == s->second.end() ? nullptr : &l->second;
    }
};

namespace {

// The levels of the topic being matched, each hashed once however many nodes look it up.
struct TopicKey {
    TopicLevels levels;
    std::array<std::size_t, kMaxTopicLevels> hashes;
    std::size_t count = 0;

    explicit TopicKey(std::string_view topic) : count(split_levels(topic, levels)) {
        for (std::size_t i = 0; i < count; ++i) hashes[i] = detail::level_hash(levels[i]);
    }
};

// The trie walk shared by match, match_sessions and has_match. `emit` returns false to stop.
// Recursion depth is bounded by kMaxTopicLevels.
template <class Node, class Emit>
bool walk(const Node& node, const TopicKey& topic, std::size_t i, Emit& emit) {
    if (node.hash) {
        for (const SubscriberRef& ref : node.hash->subscribers) {
            if (!emit(ref)) return false;
        }
    }
    if (i == topic.count) {
        for (const SubscriberRef& ref : node.subscribers) {
            if (!emit(ref)) return false;
        }
        return true;
    }
    if (const Node* child = node.children.find(topic.levels[i], topic.hashes[i])) {
        if (!walk(*child, topic, i + 1, emit)) return false;
    }
    if (node.plus) return walk(*node.plus, topic, i + 1, emit);
    return true;
}

}  // namespace

std::size_t SessionMatches::session_count() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < refs_.size(); ++i) {
        if (i == 0 || refs_[i].session_id != refs_[i - 1].session_id) ++n;
    }
    return n;
}

SubscriptionTrie::SubscriptionTrie()
    : root_(std::make_unique<Node>()), sessions_(std::make_unique<SessionIndex>()) {}
SubscriptionTrie::~SubscriptionTrie() = default;
SubscriptionTrie::SubscriptionTrie(SubscriptionTrie&&) noexcept = default;
SubscriptionTrie& SubscriptionTrie::operator=(SubscriptionTrie&&) noexcept = default;

bool SubscriptionTrie::insert(std::string_view pattern, SubscriberRef ref) {
    assert(validate_pattern(pattern).ok());
    if (sessions_->find(ref)) return false;
    TopicLevels levels;
    const std::size_t count = split_levels(pattern, levels);
    if (count == 0) return false;  // too deep: never valid

    Node* node = root_.get();
    for (std::size_t i = 0; i < count; ++i) {
        const std::string_view level = levels[i];
        Node* next = nullptr;
        if (level == "+" || level == "#") {
            std::unique_ptr<Node>& slot = level == "+" ? node->plus : node->hash;
            if (!slot) {
                slot = std::make_unique<Node>();
                slot->key = std::string(level);
                slot->parent = node;
            }
            next = slot.get();
        } else {
            const std::size_t h = detail::level_hash(level);
            next = node->children.find(level, h);
            if (!next) {
                auto child = std::make_unique<Node>();
                child->key = std::string(level);
                child->key_hash = h;
                child->parent = node;
                next = node->children.insert(h, std::move(child));
            }
        }
        node = next;
    }
    node->subscribers.push_back(ref);
    sessions_->by_session[ref.session_id].emplace(
        ref.subscription_id, SessionIndex::Location{node, node->subscribers.size() - 1});
    ++size_;
    return true;
}

bool SubscriptionTrie::erase(std::string_view pattern, SubscriberRef ref) {
    SessionIndex::Location* loc = sessions_->find(ref);
    if (!loc) return false;
    // The ref is subscribed; check it is under this pattern by walking the pattern's path.
    TopicLevels levels;
    const std::size_t count = split_levels(pattern, levels);
    if (count == 0) return false;
    const Node* node = root_.get();
    for (std::size_t i = 0; i < count && node; ++i) {
        const std::string_view level = levels[i];
        if (level == "+") {
            node = node->plus.get();
        } else if (level == "#") {
            node = node->hash.get();
        } else {
            node = node->children.find(level, detail::level_hash(level));
        }
    }
    if (node != loc->node) return false;
    remove_at(loc->node, loc->pos);
    return true;
}

bool SubscriptionTrie::erase(SubscriberRef ref) {
    SessionIndex::Location* loc = sessions_->find(ref);
    if (!loc) return false;
    remove_at(loc->node, loc->pos);
    return true;
}

std::size_t SubscriptionTrie::erase_session(std::uint64_t session_id) {
    auto s = sessions_->by_session.find(session_id);
    if (s == sessions_->by_session.end()) return 0;
    std::vector<std::uint64_t> ids;
    ids.reserve(s->second.size());
    for (const auto& [id, loc] : s->second) ids.push_back(id);
    // Positions shift as entries are swapped out, so look each one up afresh.
    for (std::uint64_t id : ids) {
        const bool erased = erase(SubscriberRef{session_id, id});
        assert(erased);
        (void)erased;
    }
    return ids.size();
}

void SubscriptionTrie::remove_at(Node* node, std::size_t pos) {
    auto& subs = node->subscribers;
    assert(pos < subs.size());
    const SubscriberRef removed = subs[pos];
    if (pos + 1 != subs.size()) {
        subs[pos] = subs.back();
        SessionIndex::Location* moved = sessions_->find(subs[pos]);
        assert(moved && moved->node == node);
        moved->pos = pos;
    }
    subs.pop_back();

    auto s = sessions_->by_session.find(removed.session_id);
    s->second.erase(removed.subscription_id);
    if (s->second.empty()) sessions_->by_session.erase(s);
    --size_;
    prune(node);
}

void SubscriptionTrie::prune(Node* node) {
    while (node != root_.get() && node->unused()) {
        Node* parent = node->parent;
        if (parent->plus.get() == node) {
            parent->plus.reset();
        } else if (parent->hash.get() == node) {
            parent->hash.reset();
        } else {
            parent->children.erase(node, node->key_hash);
        }
        node = parent;
    }
}

std::optional<std::string> SubscriptionTrie::pattern_of(SubscriberRef ref) const {
    const SessionIndex::Location* loc = sessions_->find(ref);
    if (!loc) return std::nullopt;
    std::vector<const std::string*> keys;
    for (const Node* n = loc->node; n != root_.get(); n = n->parent) keys.push_back(&n->key);
    std::string pattern;
    for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
        if (!pattern.empty()) pattern += '.';
        pattern += **it;
    }
    return pattern;
}

bool SubscriptionTrie::contains(SubscriberRef ref) const {
    return sessions_->find(ref) != nullptr;
}

std::size_t SubscriptionTrie::session_subscription_count(std::uint64_t session_id) const {
    auto s = sessions_->by_session.find(session_id);
    return s == sessions_->by_session.end() ? 0 : s->second.size();
}

std::size_t SubscriptionTrie::session_count() const {
    return sessions_->by_session.size();
}

std::size_t SubscriptionTrie::node_count() const {
    std::size_t n = 0;
    std::vector<const Node*> stack{root_.get()};
    while (!stack.empty()) {
        const Node* node = stack.back();
        stack.pop_back();
        ++n;
        node->children.for_each([&stack](const Node& child) { stack.push_back(&child); });
        if (node->plus) stack.push_back(node->plus.get());
        if (node->hash) stack.push_back(node->hash.get());
    }
    return n;
}

void SubscriptionTrie::match_impl(std::string_view topic, VisitRef visit) const {
    const TopicKey key(topic);
    if (key.count == 0) return;
    auto emit = [&visit](const SubscriberRef& ref) {
        visit.call(visit.obj, ref);
        return true;
    };
    walk(*root_, key, 0, emit);
}

void SubscriptionTrie::match_sessions(std::string_view topic, SessionMatches& out) const {
    out.refs_.clear();
    match(topic, [&out](const SubscriberRef& ref) { out.refs_.push_back(ref); });
    std::sort(out.refs_.begin(), out.refs_.end(),
              [](const SubscriberRef& a, const SubscriberRef& b) {
                  return a.session_id != b.session_id ? a.session_id < b.session_id
                                                      : a.subscription_id < b.subscription_id;
              });
}

bool SubscriptionTrie::has_match(std::string_view topic) const {
    const TopicKey key(topic);
    if (key.count == 0) return false;
    bool found = false;
    auto emit = [&found](const SubscriberRef&) {
        found = true;
        return false;
    };
    walk(*root_, key, 0, emit);
    return found;
}

}  // namespace daemoneye::eventbus
