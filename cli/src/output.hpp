// Small output helpers shared by the verbs (text vs --json).
#pragma once

#include <string>
#include <string_view>

namespace daemoneye::cli {

// `text` as a JSON string literal, quotes included (RFC 8259 escaping; bytes >= 0x80 pass
// through, so valid UTF-8 stays valid).
std::string json_string(std::string_view text);

}  // namespace daemoneye::cli
