// What one session may publish: the patterns granted at Welcome. Nobody publishes on
// control.rpc.reply.# (the broker routes replies itself), and a subscription may not name
// another session's reply topic.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemoneye/result.hpp"

namespace daemoneye::eventbus {

class PublishAcl {
  public:
    PublishAcl() = default;
    // Invalid grant patterns are left out (and listed by rejected_grants()).
    explicit PublishAcl(std::vector<std::string> grants);

    // Ok, or a message naming the topic and the grants, e.g. "publish to 'events.network.x'
    // denied: this session may publish only to events.process.#". `topic` must be valid.
    Result<void> check(std::string_view topic) const;
    bool allows(std::string_view topic) const;

    const std::vector<std::string>& grants() const { return grants_; }
    const std::vector<std::string>& rejected_grants() const { return rejected_; }
    std::string describe() const;  // "events.process.#, control.health.heartbeat" or "nothing"

  private:
    std::vector<std::string> grants_;
    std::vector<std::string> rejected_;
    bool allow_all_ = false;
};

// Ok unless `pattern` could receive another session's RPC replies by naming them:
// control.rpc.reply.<other>, control.rpc.reply.+ and control.rpc.reply.# are refused (patterns
// like '#' or 'control.#' are fine: replies never travel as publishes). `pattern` must be valid.
Result<void> check_subscribe_pattern(std::string_view pattern, std::uint64_t own_session);

}  // namespace daemoneye::eventbus
