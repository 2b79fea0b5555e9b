#include "rpc_acl.hpp"

#include "daemoneye/eventbus/topic.hpp"

namespace daemoneye::eventbus {

namespace {

bool any_matches(const std::vector<std::string>& grants, std::string_view topic) {
    for (const auto& g : grants) {
        if (pattern_matches(g, topic)) return true;
    }
    return false;
}

std::string list(const std::vector<std::string>& grants) {
    std::string out;
    for (const auto& g : grants) {
        if (!out.empty()) out += ", ";
        out += g;
    }
    return out;
}

}  // namespace

RpcAcl::RpcAcl(std::vector<std::string> serve_grants, std::vector<std::string> call_grants)
    : restricted_(true) {
    auto keep = [this](std::vector<std::string>& from, std::vector<std::string>& to) {
        for (auto& g : from) {
            if (validate_pattern(g)) {
                to.push_back(std::move(g));
            } else {
                rejected_.push_back(std::move(g));
            }
        }
    };
    keep(serve_grants, serve_);
    keep(call_grants, call_);
}

Result<void> RpcAcl::check_serve(std::string_view pattern) const {
    if (!restricted_) return {};
    const bool exact = pattern.find_first_of("+#") == std::string_view::npos;
    if (exact && any_matches(serve_, pattern)) return {};
    return fail("serving RPC on '" + std::string(pattern) + "' denied: this collector may serve " +
                (serve_.empty() ? std::string("no RPC target")
                                : "only " + list(serve_) + " (exact targets)"));
}

Result<void> RpcAcl::check_call(std::string_view target) const {
    if (!restricted_ || any_matches(call_, target)) return {};
    return fail("RPC call to '" + std::string(target) + "' denied: this collector may call " +
                (call_.empty() ? std::string("no RPC target") : "only " + list(call_)));
}

}  // namespace daemoneye::eventbus
