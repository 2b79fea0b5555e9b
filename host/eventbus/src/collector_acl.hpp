// What an adopted collector may do on the bus besides publishing (PresetIdentity's grants): a
// plugin runs inside its launcher and can write to the session itself, so the broker, not the
// launcher, decides. It subscribes only to patterns its subscribe grants cover, serves only exact
// RPC targets its serve grants match, and calls only targets its call grants match. Sessions
// without a preset identity (in-process clients, socket clients of the broker's uid or root)
// are not restricted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemoneye/result.hpp"

namespace daemoneye::eventbus {

struct PresetIdentity;

class CollectorAcl {
  public:
    CollectorAcl() = default;  // unrestricted
    // Invalid grant patterns are left out (and listed by rejected_grants()).
    explicit CollectorAcl(const PresetIdentity& identity);

    // Arguments must be valid patterns / topics. Each error names what was asked and what is
    // granted: "serving RPC on 'control.collector.#' denied: this collector may serve only
    // control.collector.procmond.procmond-0 (exact targets)".
    Result<void> check_subscribe(std::string_view pattern) const;
    Result<void> check_serve(std::string_view pattern) const;
    Result<void> check_call(std::string_view target) const;

    bool restricted() const { return restricted_; }
    const std::vector<std::string>& rejected_grants() const { return rejected_; }

  private:
    bool restricted_ = false;
    std::vector<std::string> subscribe_;
    std::vector<std::string> serve_;
    std::vector<std::string> call_;
    std::vector<std::string> rejected_;
};

}  // namespace daemoneye::eventbus
