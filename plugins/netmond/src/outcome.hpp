// netmond's error convention is the SDK's Outcome (plugins build only against plugin-api/).
#pragma once

#include <daemoneye/sdk/outcome.hpp>

namespace daemoneye::netmond {

using sdk::Failure;
using sdk::Outcome;
using sdk::parse_bool;
using sdk::parse_uint;

}  // namespace daemoneye::netmond
