// Strict UTF-8, as proto3 requires of every string field: the hand readers (rpc_head,
// MessageView) check what protobuf would check.
#pragma once

#include <string_view>

namespace daemoneye::eventbus {

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view text);

}  // namespace daemoneye::eventbus
