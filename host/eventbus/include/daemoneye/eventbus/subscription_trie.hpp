// The routing table: patterns in a trie keyed by level, so matching a topic costs O(depth), not
// O(subscriptions). Owned by the broker's event loop; not thread-safe by design (no locks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace daemoneye::eventbus {

// Who subscribed: a session and that session's own subscription id (bus.proto `Subscribe`: unique
// within its session, so a ref names one subscription and one pattern).
struct SubscriberRef {
    std::uint64_t session_id = 0;
    std::uint64_t subscription_id = 0;
    friend bool operator==(const SubscriberRef&, const SubscriberRef&) = default;
};

// One match's subscribers grouped by session: the broker sends a message once per session,
// carrying every matching subscription id (bus.proto `Deliver.subscription_ids`). Keep one
// instance and reuse it: once its buffer has grown, collecting allocates nothing.
class SessionMatches {
  public:
    bool empty() const { return refs_.empty(); }
    std::size_t subscription_count() const { return refs_.size(); }
    std::size_t session_count() const;

    // f(session_id, std::span<const SubscriberRef> refs_of_that_session); sessions in ascending
    // id order, a session's refs in ascending subscription id order.
    template <class F>
    void for_each_session(F&& f) const {
        std::size_t begin = 0;
        while (begin < refs_.size()) {
            std::size_t end = begin + 1;
            while (end < refs_.size() && refs_[end].session_id == refs_[begin].session_id) ++end;
            f(refs_[begin].session_id,
              std::span<const SubscriberRef>(refs_.data() + begin, end - begin));
            begin = end;
        }
    }

  private:
    friend class SubscriptionTrie;
    std::vector<SubscriberRef> refs_;
};

class SubscriptionTrie {
  public:
    SubscriptionTrie();
    ~SubscriptionTrie();
    SubscriptionTrie(SubscriptionTrie&&) noexcept;
    SubscriptionTrie& operator=(SubscriptionTrie&&) noexcept;

    // `pattern` must be valid (validate_pattern). Returns false, changing nothing, if `ref` is
    // already subscribed (under any pattern: subscription ids are unique within a session).
    bool insert(std::string_view pattern, SubscriberRef ref);
    // Returns false if `ref` is not subscribed to `pattern`. Empty branches are pruned.
    bool erase(std::string_view pattern, SubscriberRef ref);
    // Unsubscribe by id alone (bus.proto `Unsubscribe` carries no pattern). Returns false if
    // `ref` is not subscribed.
    bool erase(SubscriberRef ref);
    // Removes every subscription of a session; returns how many. Costs O(that session's
    // subscriptions x depth), not O(all subscriptions).
    std::size_t erase_session(std::uint64_t session_id);

    // The pattern `ref` is subscribed to, if any (rebuilt from the trie; for errors and listing).
    std::optional<std::string> pattern_of(SubscriberRef ref) const;
    bool contains(SubscriberRef ref) const;
    std::size_t session_subscription_count(std::uint64_t session_id) const;

    // Calls `visit(const SubscriberRef&)` once per matching subscription, in no particular order
    // (a session with overlapping subscriptions is visited once per subscription; see
    // match_sessions). `topic` must be valid; an invalid one matches nothing useful but is safe.
    // No allocation on this path.
    template <class Visit>
    void match(std::string_view topic, Visit&& visit) const {
        using V = std::remove_reference_t<Visit>;
        match_impl(topic, VisitRef{const_cast<void*>(static_cast<const void*>(&visit)),
                                   [](void* obj, const SubscriberRef& ref) {
                                       (*static_cast<V*>(obj))(ref);
                                   }});
    }

    // Collects the matches of `topic` into `out` (cleared first), grouped by session. No
    // allocation once `out` has grown to the largest fan-out seen.
    void match_sessions(std::string_view topic, SessionMatches& out) const;

    // True when at least one subscription matches (e.g. RPC NotFound at once). Stops early.
    bool has_match(std::string_view topic) const;

    std::size_t size() const { return size_; }  // number of subscriptions
    std::size_t session_count() const;
    std::size_t node_count() const;  // trie nodes including the root (for tests and metrics)

  private:
    struct Node;
    struct SessionIndex;
    // A non-owning callable reference (std::function_ref is C++26).
    struct VisitRef {
        void* obj;
        void (*call)(void*, const SubscriberRef&);
    };
    void match_impl(std::string_view topic, VisitRef visit) const;
    void remove_at(Node* node, std::size_t pos);
    void prune(Node* node);

    std::unique_ptr<Node> root_;
    std::unique_ptr<SessionIndex> sessions_;
    std::size_t size_ = 0;
};

}  // namespace daemoneye::eventbus
