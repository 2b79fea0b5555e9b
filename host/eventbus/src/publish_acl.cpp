#include "publish_acl.hpp"

#include "daemoneye/eventbus/protocol.hpp"
#include "daemoneye/eventbus/topic.hpp"

namespace daemoneye::eventbus {

namespace {
constexpr std::string_view kReplyRoot = "control.rpc.reply";
}

PublishAcl::PublishAcl(std::vector<std::string> grants) {
    for (auto& g : grants) {
        if (!validate_pattern(g)) {
            rejected_.push_back(std::move(g));
            continue;
        }
        if (g == "#") allow_all_ = true;
        grants_.push_back(std::move(g));
    }
}

bool PublishAcl::allows(std::string_view topic) const {
    if (topic.starts_with(kReplyRoot) &&
        (topic.size() == kReplyRoot.size() || topic[kReplyRoot.size()] == '.')) {
        return false;
    }
    if (allow_all_) return true;
    for (const auto& g : grants_) {
        if (pattern_matches(g, topic)) return true;
    }
    return false;
}

std::string PublishAcl::describe() const {
    if (grants_.empty()) return "nothing";
    std::string out;
    for (const auto& g : grants_) {
        if (!out.empty()) out += ", ";
        out += g;
    }
    return out;
}

Result<void> PublishAcl::check(std::string_view topic) const {
    if (allows(topic)) return {};
    if (topic.starts_with(kReplyRoot)) {
        return fail("publish to '" + std::string(topic) +
                    "' denied: control.rpc.reply.# carries RPC replies routed by the broker only");
    }
    return fail("publish to '" + std::string(topic) +
                "' denied: this session may publish only to " + describe());
}

Result<void> check_subscribe_pattern(std::string_view pattern, std::uint64_t own_session) {
    // Split off the first three levels; only patterns spelling control.rpc.reply are affected.
    std::string_view rest = pattern;
    const char* levels[] = {"control", "rpc", "reply"};
    for (const char* want : levels) {
        const auto dot = rest.find('.');
        const std::string_view level = rest.substr(0, dot);
        if (level != want) return {};
        if (dot == std::string_view::npos) return {};  // e.g. "control.rpc.reply": nothing below
        rest.remove_prefix(dot + 1);
    }
    // rest is the session level (and anything after it).
    const std::string own = std::to_string(own_session);
    const auto dot = rest.find('.');
    const std::string_view session = rest.substr(0, dot);
    if (session == own) return {};
    return fail("subscription '" + std::string(pattern) +
                "' denied: it would receive another session's RPC replies (only " +
                reply_topic(own_session) + " is yours)");
}

}  // namespace daemoneye::eventbus
