// Hash of plugin_api.h's declarations: comments dropped, whitespace runs collapsed, so improving
// documentation never needs an ABI bump while any change to a declaration does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace daemoneye::abi_test {

inline std::string normalize_c_source(std::string_view text) {
    std::string out;
    bool pending_space = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
            std::size_t end = text.find("*/", i + 2);
            i = end == std::string_view::npos ? text.size() : end + 1;
            pending_space = true;
            continue;
        }
        if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
            std::size_t end = text.find('\n', i);
            i = end == std::string_view::npos ? text.size() : end;
            pending_space = true;
            continue;
        }
        if (c ==
            '"') {  // string literals are kept verbatim ("//" inside a literal is not a comment)
            if (pending_space && !out.empty()) out += ' ';
            pending_space = false;
            std::size_t end = i + 1;
            while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
            out.append(text.substr(i, end + 1 - i));
            i = end;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            pending_space = true;
            continue;
        }
        if (pending_space && !out.empty()) out += ' ';
        pending_space = false;
        out += c;
    }
    return out;
}

// FNV-1a, 64 bit: stable, dependency-free, plenty to notice an edit.
inline std::uint64_t fnv1a64(std::string_view text) {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

}  // namespace daemoneye::abi_test
