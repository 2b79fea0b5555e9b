// The routing table: patterns in a trie keyed by level, so matching a topic costs O(depth), not
// O(subscriptions). Owned by the broker's event loop; not thread-safe by design (no locks).
#pragma once

#include <cstdint>
#include <type_traits>
#include <memory>
#include <string_view>

namespace daemoneye::eventbus {

// Who subscribed: a session and that session's own subscription id.
struct SubscriberRef {
    std::uint64_t session_id = 0;
    std::uint64_t subscription_id = 0;
    friend bool operator==(const SubscriberRef&, const SubscriberRef&) = default;
};

class SubscriptionTrie {
public:
    SubscriptionTrie();
    ~SubscriptionTrie();
    SubscriptionTrie(SubscriptionTrie&&) noexcept;
    SubscriptionTrie& operator=(SubscriptionTrie&&) noexcept;

    // `pattern` must be valid (validate_pattern). Returns false if that exact ref is already there.
    bool insert(std::string_view pattern, SubscriberRef ref);
    // Returns false if it was not there. Empty branches are pruned.
    bool erase(std::string_view pattern, SubscriberRef ref);
    // Removes every subscription of a session; returns how many.
    std::size_t erase_session(std::uint64_t session_id);

    // Calls `visit` once per matching subscription (a session with overlapping subscriptions is
    // visited once per subscription; the broker groups them per session). `topic` must be valid.
    // No allocation on this path.
    template <class Visit>
    void match(std::string_view topic, Visit&& visit) const {
        using V = std::remove_reference_t<Visit>;
        match_impl(topic, VisitRef{const_cast<void*>(static_cast<const void*>(&visit)),
                                   [](void* obj, const SubscriberRef& ref) {
                                       (*static_cast<V*>(obj))(ref);
                                   }});
    }

    std::size_t size() const;  // number of subscriptions

private:
    struct Node;
    // A non-owning callable reference (std::function_ref is C++26).
    struct VisitRef {
        void* obj;
        void (*call)(void*, const SubscriberRef&);
    };
    void match_impl(std::string_view topic, VisitRef visit) const;
    std::unique_ptr<Node> root_;
    std::size_t size_ = 0;
};

}  // namespace daemoneye::eventbus
