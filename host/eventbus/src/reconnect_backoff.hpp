// The reconnect policy of a socket client (ClientOptions::reconnect): which values are usable,
// and the delay before each attempt. Pure functions, so the growth, the cap and the jitter range
// can be checked without a clock or a broker (RemoteTransport::run supplies the random value).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>

#include "daemoneye/eventbus/bus_error.hpp"
#include "daemoneye/eventbus/client_options.hpp"
#include "daemoneye/result.hpp"

namespace daemoneye::eventbus {

// What the delay computation needs: initial > 0, max >= initial, multiplier >= 1 and jitter in
// [0, 1] (jitter > 1 would make delays negative: a busy re-dial loop; negative jitter is not a
// valid range for the random factor). NaN fails every check. The error names the field and the
// value.
inline Result<void, BusError> validate_reconnect_policy(const ReconnectPolicy& p) {
    auto invalid = [](const std::string& field, const std::string& value, const std::string& rule) {
        return unexpected(
            BusError{BusError::Code::InvalidOptions,
                     "ClientOptions.reconnect." + field + " is " + value + "; it must be " + rule});
    };
    auto ms = [](std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; };
    auto num = [](double v) {  // 1.5, not to_string's 1.500000
        std::ostringstream out;
        out << v;
        return out.str();
    };
    if (p.initial.count() <= 0) return invalid("initial", ms(p.initial), "> 0 ms");
    if (p.max < p.initial) {
        return invalid("max", ms(p.max),
                       ">= reconnect.initial (" + std::to_string(p.initial.count()) + " ms)");
    }
    if (!(p.multiplier >= 1.0) || std::isinf(p.multiplier)) {
        return invalid("multiplier", num(p.multiplier), "a finite number >= 1");
    }
    if (!(p.jitter >= 0.0 && p.jitter <= 1.0)) {
        return invalid("jitter", num(p.jitter), "in [0, 1]");
    }
    return {};
}

// The wait before reconnect attempt `attempt` (1 for the first): initial * multiplier^(attempt-1),
// capped at max, then scaled by 1 - jitter + 2 * jitter * random01, a factor in
// [1 - jitter, 1 + jitter] for random01 in [0, 1) (clamped to [0, 1] here; the top is reached
// only through rounding). So a jittered delay may exceed max by up to the jitter share, is never
// below (1 - jitter) times the capped delay, and never negative. Truncated to whole ms.
inline std::chrono::milliseconds reconnect_delay(std::size_t attempt, const ReconnectPolicy& p,
                                                 double random01) {
    const double steps = attempt > 1 ? static_cast<double>(attempt - 1) : 0.0;
    const auto initial = static_cast<double>(p.initial.count());
    const auto cap = static_cast<double>(p.max.count());
    // In floating point: grows to infinity rather than overflowing, and min() then caps it.
    const double grown = std::min(cap, initial * std::pow(p.multiplier, steps));
    const double factor = 1.0 - p.jitter + 2.0 * p.jitter * std::clamp(random01, 0.0, 1.0);
    // Bounded below the largest representable count (a max near milliseconds::max() with jitter
    // would overflow the conversion).
    const double delay = std::clamp(grown * factor, 0.0, 9.0e18);
    return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(delay));
}

}  // namespace daemoneye::eventbus
