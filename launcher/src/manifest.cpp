#include "daemoneye/launcher/manifest.hpp"

#include <cstring>

#include "daemoneye/launcher/topic_filter.hpp"
#include "daemoneye/sdk/topic.hpp"

namespace daemoneye::launcher {
namespace {

constexpr std::size_t kMaxString = 256;
constexpr std::size_t kMaxEntries = 64;

Unexpected<Failure> bad(const std::string& field, const std::string& what) {
    return unexpected(
        Failure{ExitCode::LoadFailure, "invalid plugin descriptor: " + field + " " + what});
}

// A NUL-terminated string of 1..max bytes of printable text (UTF-8 allowed, no control chars).
Result<std::string, Failure> text(const char* s, const std::string& field,
                                  std::size_t max = kMaxString) {
    if (s == nullptr) return bad(field, "is NULL");
    std::size_t n = strnlen(s, max + 1);
    if (n == 0) return bad(field, "is empty");
    if (n > max) return bad(field, "is longer than " + std::to_string(max) + " bytes");
    for (std::size_t i = 0; i < n; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f)
            return bad(field, "contains a control character at byte " + std::to_string(i));
    }
    return std::string(s, n);
}

Result<std::vector<std::string>, Failure> list(const char* const* items, const std::string& field) {
    if (items == nullptr) return bad(field, "is NULL (use an empty, NULL-terminated array)");
    std::vector<std::string> out;
    for (std::size_t i = 0; items[i] != nullptr; ++i) {
        if (i >= kMaxEntries)
            return bad(field, "has more than " + std::to_string(kMaxEntries) + " entries");
        auto s = text(items[i], field + "[" + std::to_string(i) + "]");
        if (!s) return unexpected(s.error());
        out.push_back(std::move(*s));
    }
    return out;
}

bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

}  // namespace

Status check_abi(std::uint32_t plugin_major, std::uint32_t plugin_minor) {
    if (plugin_major == DE_PLUGIN_ABI_MAJOR && plugin_minor <= DE_PLUGIN_ABI_MINOR) return {};
    return fail("plugin ABI " + std::to_string(plugin_major) + "." + std::to_string(plugin_minor) +
                " is not compatible with host ABI " + std::to_string(DE_PLUGIN_ABI_MAJOR) + "." +
                std::to_string(DE_PLUGIN_ABI_MINOR) +
                " (rule: plugin major == host major and plugin minor <= host minor)");
}

Result<Manifest, Failure> read_manifest(const de_plugin_descriptor& d) {
    Manifest m;
    m.abi_major = d.abi_major;
    m.abi_minor = d.abi_minor;
    auto name = text(d.name, "name", 64);
    if (!name) return unexpected(name.error());
    for (char c : *name) {
        if (!name_char(c)) return bad("name '" + *name + "'", "has a character outside [a-z0-9_-]");
    }
    m.name = *name;
    auto version = text(d.version, "version", 64);
    if (!version) return unexpected(version.error());
    m.version = *version;
    auto description = text(d.description, "description");
    if (!description) return unexpected(description.error());
    m.description = *description;

    auto caps = list(d.capabilities, "capabilities");
    if (!caps) return unexpected(caps.error());
    m.capabilities = *caps;
    auto perms = list(d.permissions, "permissions");
    if (!perms) return unexpected(perms.error());
    m.permissions = *perms;
    for (const auto& p : m.permissions) {
        auto parsed = parse_permission(p, /*allow_bare_path=*/true);
        if (!parsed) return bad("permissions", parsed.error().message);
        m.declared_permissions.push_back(std::move(*parsed));
    }
    auto pubs = list(d.publishes, "publishes");
    if (!pubs) return unexpected(pubs.error());
    m.publishes = *pubs;
    for (const auto& p : m.publishes) {
        if (auto st = validate_pattern(p); !st)
            return bad("publishes '" + p + "'", st.error().message);
        // The SDK's rule, which the agent's registry applies again.
        if (const char* why = sdk::topic::undeclarable_reason(p)) {
            return bad("publishes '" + p + "'", why);
        }
    }

    if (d.create == nullptr) return bad("create", "is NULL (required)");
    if (d.start == nullptr) return bad("start", "is NULL (required)");
    if (d.stop == nullptr) return bad("stop", "is NULL (required)");
    if (d.destroy == nullptr) return bad("destroy", "is NULL (required)");
    return m;
}

bus::v1::PluginManifest to_proto(const Manifest& m) {
    bus::v1::PluginManifest out;
    out.set_name(m.name);
    out.set_version(m.version);
    out.set_abi_major(m.abi_major);
    out.set_abi_minor(m.abi_minor);
    out.set_description(m.description);
    for (const auto& s : m.capabilities) out.add_capabilities(s);
    for (const auto& s : m.permissions) out.add_permissions(s);
    for (const auto& s : m.publishes) out.add_publishes(s);
    return out;
}

}  // namespace daemoneye::launcher
