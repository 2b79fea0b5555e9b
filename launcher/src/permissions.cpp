#include "daemoneye/launcher/permissions.hpp"

#include <algorithm>

namespace daemoneye::launcher {
namespace {

// A granted path must be absolute, normalised enough to compare by prefix, and free of '..'.
Result<std::string> check_path(std::string_view text, std::string_view path) {
    if (path.empty() || path.front() != '/') {
        return fail("permission '" + std::string(text) + "': path must be absolute");
    }
    if (path.size() > 4096) return fail("permission '" + std::string(text) + "': path too long");
    std::string out(path);
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    for (std::size_t pos = 0; pos <= out.size();) {
        std::size_t next = out.find('/', pos);
        if (next == std::string::npos) next = out.size();
        std::string_view level(out.data() + pos, next - pos);
        if (level == ".." || level == ".") {
            return fail("permission '" + std::string(text) + "': path may not contain '.' or '..'");
        }
        pos = next + 1;
    }
    if (out.find('\0') != std::string::npos) return fail("permission: path contains NUL");
    return out;
}

bool path_within(std::string_view inner, std::string_view outer) {
    if (outer == "/") return true;
    if (inner.size() < outer.size() || inner.substr(0, outer.size()) != outer) return false;
    return inner.size() == outer.size() || inner[outer.size()] == '/';
}

}  // namespace

Result<Permission> parse_permission(std::string_view text, bool allow_bare_path) {
    Permission p;
    p.text = std::string(text);
    if (text == "proc.read") {
        p.kind = Permission::Kind::ProcRead;
        return p;
    }
    if (text == "net.read") {
        p.kind = Permission::Kind::NetRead;
        return p;
    }
    if (text == "proc.events") {
        p.kind = Permission::Kind::ProcEvents;
        return p;
    }
    for (auto [prefix, kind] : {std::pair{std::string_view("fs.watch"), Permission::Kind::FsWatch},
                                std::pair{std::string_view("fs.read"), Permission::Kind::FsRead}}) {
        if (text.substr(0, prefix.size()) != prefix) continue;
        std::string_view rest = text.substr(prefix.size());
        p.kind = kind;
        if (rest.empty()) {
            if (!allow_bare_path) {
                return fail("permission '" + std::string(text) +
                            "' needs a path: " + std::string(prefix) + ":<absolute path>");
            }
            return p;
        }
        if (rest.front() != ':') break;
        auto path = check_path(text, rest.substr(1));
        if (!path) return unexpected(path.error());
        p.path = *path;
        return p;
    }
    return fail("unknown permission '" + std::string(text) +
                "' (known: proc.read, net.read, proc.events, fs.watch:<path>, fs.read:<path>)");
}

Result<PermissionSet> PermissionSet::from_grants(const std::vector<std::string>& grants) {
    PermissionSet set;
    for (const auto& g : grants) {
        auto p = parse_permission(g, /*allow_bare_path=*/false);
        if (!p) return unexpected(p.error());
        set.add(std::move(*p));
    }
    return set;
}

void PermissionSet::add(Permission p) {
    if (std::find(items_.begin(), items_.end(), p) == items_.end()) items_.push_back(std::move(p));
}

bool PermissionSet::covers(const Permission& declared) const {
    return std::any_of(items_.begin(), items_.end(), [&](const Permission& g) {
        if (g.kind != declared.kind) return false;
        if (declared.kind != Permission::Kind::FsWatch &&
            declared.kind != Permission::Kind::FsRead) {
            return true;
        }
        return declared.path.empty() || path_within(declared.path, g.path);
    });
}

bool PermissionSet::has(Permission::Kind kind) const {
    return std::any_of(items_.begin(), items_.end(),
                       [&](const Permission& p) { return p.kind == kind; });
}

bool PermissionSet::needs_host_network() const {
    return has(Permission::Kind::NetRead) || has(Permission::Kind::ProcEvents);
}

std::vector<std::string> PermissionSet::read_paths() const {
    std::vector<std::string> out;
    auto add = [&](const std::string& path) {
        if (std::find(out.begin(), out.end(), path) == out.end()) out.push_back(path);
    };
    for (const auto& p : items_) {
        switch (p.kind) {
            case Permission::Kind::ProcRead:
            case Permission::Kind::NetRead:
                add("/proc");
                break;
            case Permission::Kind::FsWatch:
            case Permission::Kind::FsRead:
                if (!p.path.empty()) add(p.path);
                break;
            case Permission::Kind::ProcEvents:
                break;
        }
    }
    return out;
}

std::vector<std::string> PermissionSet::names() const {
    std::vector<std::string> out;
    for (const auto& p : items_) out.push_back(p.text);
    return out;
}

std::vector<std::string> uncovered(const PermissionSet& granted,
                                   const std::vector<Permission>& declared) {
    std::vector<std::string> out;
    for (const auto& d : declared) {
        if (!granted.covers(d)) out.push_back(d.text);
    }
    return out;
}

}  // namespace daemoneye::launcher
