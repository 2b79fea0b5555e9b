// What an adopted collector may do with RPC (PresetIdentity::rpc_serve_grants/rpc_call_grants):
// serve only exact targets a serve grant matches, call only targets a call grant matches.
// Sessions without a preset identity (in-process clients, socket clients of the broker's uid or
// root) are not restricted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemoneye/result.hpp"

namespace daemoneye::eventbus {

class RpcAcl {
  public:
    RpcAcl() = default;  // unrestricted
    // Invalid grant patterns are left out (and listed by rejected_grants()).
    RpcAcl(std::vector<std::string> serve_grants, std::vector<std::string> call_grants);

    // `pattern` and `target` must be valid. The error names what was asked and what is granted:
    // "serving RPC on 'control.collector.#' denied: this collector may serve only
    // control.collector.procmond.procmond-0 (exact targets)".
    Result<void> check_serve(std::string_view pattern) const;
    Result<void> check_call(std::string_view target) const;

    bool restricted() const { return restricted_; }
    const std::vector<std::string>& rejected_grants() const { return rejected_; }

  private:
    bool restricted_ = false;
    std::vector<std::string> serve_;
    std::vector<std::string> call_;
    std::vector<std::string> rejected_;
};

}  // namespace daemoneye::eventbus
