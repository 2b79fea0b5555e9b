#include "collector_acl.hpp"

#include "daemoneye/eventbus/broker_options.hpp"
#include "daemoneye/eventbus/topic.hpp"

namespace daemoneye::eventbus {

namespace {

std::string list(const std::vector<std::string>& grants) {
    std::string out;
    for (const auto& g : grants) {
        if (!out.empty()) out += ", ";
        out += g;
    }
    return out;
}

std::string granted(const std::vector<std::string>& grants, const char* verb,
                    const char* suffix = "") {
    if (grants.empty()) return std::string("this collector may ") + verb + " nothing";
    return std::string("this collector may ") + verb + " only " + list(grants) + suffix;
}

}  // namespace

CollectorAcl::CollectorAcl(const PresetIdentity& identity) : restricted_(true) {
    auto keep = [this](const std::vector<std::string>& from, std::vector<std::string>& to) {
        for (const auto& g : from) {
            (validate_pattern(g) ? to : rejected_).push_back(g);
        }
    };
    keep(identity.subscribe_grants, subscribe_);
    keep(identity.rpc_serve_grants, serve_);
    keep(identity.rpc_call_grants, call_);
}

Result<void> CollectorAcl::check_subscribe(std::string_view pattern) const {
    if (!restricted_) return {};
    for (const auto& g : subscribe_) {
        if (pattern_covers(g, pattern)) return {};
    }
    return fail("subscription '" + std::string(pattern) +
                "' denied: " + granted(subscribe_, "subscribe to"));
}

Result<void> CollectorAcl::check_serve(std::string_view pattern) const {
    if (!restricted_) return {};
    if (pattern.find_first_of("+#") == std::string_view::npos) {
        for (const auto& g : serve_) {
            if (pattern_matches(g, pattern)) return {};
        }
    }
    return fail("serving RPC on '" + std::string(pattern) +
                "' denied: " + granted(serve_, "serve", " (exact targets)"));
}

Result<void> CollectorAcl::check_call(std::string_view target) const {
    if (!restricted_) return {};
    for (const auto& g : call_) {
        if (pattern_matches(g, target)) return {};
    }
    return fail("RPC call to '" + std::string(target) + "' denied: " + granted(call_, "call"));
}

}  // namespace daemoneye::eventbus
