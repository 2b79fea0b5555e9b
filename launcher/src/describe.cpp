#include "daemoneye/launcher/describe.hpp"

#include <cstdio>

#include "daemoneye/launcher/sandbox/violations.hpp"

namespace daemoneye::launcher {
namespace {

std::string quoted(std::string_view s) {
    return "\"" + json_escape(s) + "\"";
}

std::string array(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + quoted(items[i]);
    return out + "]";
}

}  // namespace

std::string describe_json(const Manifest& m, const SandboxReport& sandbox) {
    std::string out = "{";
    out += "\"name\":" + quoted(m.name);
    out += ",\"version\":" + quoted(m.version);
    out += ",\"abi\":" + quoted(std::to_string(m.abi_major) + "." + std::to_string(m.abi_minor));
    out += ",\"abi_major\":" + std::to_string(m.abi_major);
    out += ",\"abi_minor\":" + std::to_string(m.abi_minor);
    out += ",\"description\":" + quoted(m.description);
    out += ",\"capabilities\":" + array(m.capabilities);
    out += ",\"permissions\":" + array(m.permissions);
    out += ",\"publishes\":" + array(m.publishes);
    out += ",\"sandbox\":[";
    for (std::size_t i = 0; i < sandbox.size(); ++i) {
        const auto& l = sandbox[i];
        out += std::string(i ? "," : "") + "{\"name\":" + quoted(l.name) +
               ",\"applied\":" + (l.applied ? "true" : "false") +
               ",\"detail\":" + quoted(l.detail) + "}";
    }
    out += "],\"violations\":[";
    auto violations = sandbox::violation_counts();
    for (std::size_t i = 0; i < violations.size(); ++i) {
        out += std::string(i ? "," : "") + "{\"syscall\":" + quoted(violations[i].syscall) +
               ",\"count\":" + std::to_string(violations[i].count) + "}";
    }
    // Filesystem denials during the static constructors, named like "open(/etc/shadow)".
    bool first = violations.empty();
    for (const auto& f : sandbox::fs_denial_counts()) {
        out += std::string(first ? "" : ",") + "{\"syscall\":" + quoted(f.what()) +
               ",\"count\":" + std::to_string(f.count) + "}";
        first = false;
    }
    out += "]}";
    return out;
}

}  // namespace daemoneye::launcher
