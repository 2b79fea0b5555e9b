// JSON string escaping for the hand-written JSON the agent logs, the launcher's --describe and the
// CLI print (structured messages go through protobuf's JSON mapping instead).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace daemoneye {

// The body of a JSON string literal (no surrounding quotes).
inline std::string json_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 8);
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += ch;
                }
        }
    }
    return out;
}

// A complete JSON string literal, quotes included.
inline std::string json_quote(std::string_view text) {
    return '"' + json_escape(text) + '"';
}

}  // namespace daemoneye
