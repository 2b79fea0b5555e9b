#include "proc_parsers.hpp"

#include <charconv>
#include <cstddef>
#include <system_error>

namespace procmond {
namespace {

// Bytes shown in error messages are capped so a hostile file cannot make a log line huge.
std::string quote(std::string_view s) {
    constexpr std::size_t kMax = 40;
    std::string out = "'";
    for (char c : s.substr(0, kMax)) {
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    if (s.size() > kMax) out += "...";
    out += "'";
    return out;
}

template <class Int>
bool parse_int(std::string_view s, Int& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// Splits on runs of ' ' into at most `max` fields.
std::size_t split_spaces(std::string_view s, std::string_view* out, std::size_t max) {
    std::size_t n = 0;
    std::size_t i = 0;
    while (i < s.size() && n < max) {
        while (i < s.size() && s[i] == ' ') ++i;
        if (i >= s.size()) break;
        std::size_t j = i;
        while (j < s.size() && s[j] != ' ' && s[j] != '\n') ++j;
        out[n++] = s.substr(i, j - i);
        if (j < s.size() && s[j] == '\n') break;
        i = j;
    }
    return n;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

}  // namespace

Result<StatFields> parse_stat(std::string_view text) {
    StatFields f;
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
        return failure("stat: no '(comm)' field in " + quote(text));
    }
    if (!parse_int(trim(text.substr(0, open)), f.pid) || f.pid <= 0) {
        return failure("stat: bad pid " + quote(text.substr(0, open)));
    }
    f.comm = std::string(text.substr(open + 1, close - open - 1));

    // Fields 3.. (state onwards). We use up to field 24 (rss) and require field 25 to exist, so a
    // read cut inside the rss number is detected instead of yielding a wrong value.
    constexpr std::size_t kNeed = 23;
    constexpr std::size_t kMax = 48;  // through field 50 (env_start)
    std::string_view fields[kMax];
    const std::size_t n = split_spaces(text.substr(close + 1), fields, kMax);
    if (n < kNeed) {
        return failure("stat: truncated after comm: " + std::to_string(n) + " of " +
                       std::to_string(kNeed) + " fields");
    }
    // fields[i] is stat field (i + 3).
    if (fields[0].size() != 1) return failure("stat: bad state " + quote(fields[0]));
    f.state = fields[0][0];
    if (!parse_int(fields[4 - 3], f.ppid) || f.ppid < 0) {
        return failure("stat: bad ppid (field 4) " + quote(fields[1]));
    }
    if (!parse_int(fields[9 - 3], f.flags)) {
        return failure("stat: bad flags (field 9) " + quote(fields[9 - 3]));
    }
    if (!parse_int(fields[14 - 3], f.utime_ticks)) {
        return failure("stat: bad utime (field 14) " + quote(fields[14 - 3]));
    }
    if (!parse_int(fields[15 - 3], f.stime_ticks)) {
        return failure("stat: bad stime (field 15) " + quote(fields[15 - 3]));
    }
    if (!parse_int(fields[20 - 3], f.num_threads)) {
        return failure("stat: bad num_threads (field 20) " + quote(fields[20 - 3]));
    }
    if (!parse_int(fields[22 - 3], f.starttime_ticks)) {
        return failure("stat: bad starttime (field 22) " + quote(fields[22 - 3]));
    }
    if (!parse_int(fields[23 - 3], f.vsize_bytes)) {
        return failure("stat: bad vsize (field 23) " + quote(fields[23 - 3]));
    }
    if (!parse_int(fields[24 - 3], f.rss_pages)) {
        return failure("stat: bad rss (field 24) " + quote(fields[24 - 3]));
    }
    if (n >= 50 - 2) {
        std::uint64_t h = 0xcbf29ce484222325ULL;
        bool any = false;
        bool hidden = true;
        for (std::size_t field : {26, 27, 28, 48, 49, 50}) {
            std::uint64_t v = 0;
            if (!parse_int(fields[field - 3], v)) return f;  // unusual content: no fingerprint
            any |= v != 0;
            hidden &= field <= 27 ? v <= 1 : v == 0;
            h = (h ^ v) * 0x100000001b3ULL;
            h ^= h >> 29;
        }
        if (any) f.image_fingerprint = h == 0 ? 1 : h;
        f.layout_hidden = hidden;
    }
    return f;
}

Result<StatusFields> parse_status(std::string_view text) {
    StatusFields f;
    bool have_uid = false;
    bool have_gid = false;
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);

        const bool is_uid = line.starts_with("Uid:");
        const bool is_gid = line.starts_with("Gid:");
        if (!is_uid && !is_gid) continue;
        std::string_view ids[4];
        std::string_view rest = line.substr(4);
        // Tabs separate the ids; normalise by treating tab like space.
        std::string tmp(rest);
        for (char& c : tmp) {
            if (c == '\t') c = ' ';
        }
        const std::size_t n = split_spaces(tmp, ids, 4);
        std::uint32_t real = 0;
        std::uint32_t eff = 0;
        if (n < 2 || !parse_int(ids[0], real) || !parse_int(ids[1], eff)) {
            return failure("status: line " + std::to_string(line_no) + ": malformed " +
                           (is_uid ? "Uid" : "Gid") + " line " + quote(line));
        }
        if (is_uid) {
            f.uid = real;
            f.euid = eff;
            have_uid = true;
        } else {
            f.gid = real;
            f.egid = eff;
            have_gid = true;
        }
    }
    if (!have_uid) return failure("status: no Uid line");
    if (!have_gid) return failure("status: no Gid line");
    return f;
}

std::vector<std::string> parse_cmdline(std::string_view text, std::size_t max_args) {
    std::vector<std::string> argv;
    while (!text.empty() && argv.size() < max_args) {
        const auto nul = text.find('\0');
        argv.emplace_back(text.substr(0, nul));
        if (nul == std::string_view::npos) break;
        text.remove_prefix(nul + 1);
    }
    return argv;
}

std::string container_id_from_cgroup_path(std::string_view path) {
    // Scan for a run of exactly 64 lowercase hex digits bounded by non-hex characters.
    std::size_t i = 0;
    while (i < path.size()) {
        if (!is_hex(path[i])) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < path.size() && is_hex(path[j])) ++j;
        if (j - i == 64) return std::string(path.substr(i, 64));
        i = j;
    }
    return {};
}

Result<CgroupInfo> parse_cgroup(std::string_view text) {
    std::string_view v2;
    std::string_view systemd;
    std::string_view first;
    bool have_v2 = false;
    bool have_systemd = false;
    bool have_first = false;
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.empty()) continue;
        const auto c1 = line.find(':');
        const auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string_view::npos) {
            return failure("cgroup: line " + std::to_string(line_no) +
                           ": expected 'id:controllers:path', got " + quote(line));
        }
        std::uint32_t id = 0;
        if (!parse_int(line.substr(0, c1), id)) {
            return failure("cgroup: line " + std::to_string(line_no) + ": bad hierarchy id " +
                           quote(line.substr(0, c1)));
        }
        const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
        const std::string_view path = line.substr(c2 + 1);
        if (path.empty() || path.front() != '/') {
            return failure("cgroup: line " + std::to_string(line_no) + ": path is not absolute " +
                           quote(path));
        }
        if (!have_first) {
            first = path;
            have_first = true;
        }
        if (id == 0 && controllers.empty()) {
            v2 = path;
            have_v2 = true;
        } else if (controllers == "name=systemd") {
            systemd = path;
            have_systemd = true;
        }
    }
    if (!have_first) return failure("cgroup: empty");
    CgroupInfo info;
    info.path = std::string(have_v2 ? v2 : have_systemd ? systemd : first);
    info.container_id = container_id_from_cgroup_path(info.path);
    if (info.container_id.empty() && have_v2 && (have_systemd || first != v2)) {
        // Hybrid hosts: a v1 hierarchy may still carry the id while 0:: says "/".
        info.container_id = container_id_from_cgroup_path(have_systemd ? systemd : first);
    }
    return info;
}

Result<NamespaceLink> parse_namespace_link(std::string_view text) {
    // "<type>:[<inode>]"
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 3 > text.size() ||
        text[colon + 1] != '[' || text.back() != ']') {
        return failure("namespace link: expected 'type:[inode]', got " + quote(text));
    }
    NamespaceLink ns;
    ns.type = std::string(text.substr(0, colon));
    const std::string_view num = text.substr(colon + 2, text.size() - colon - 3);
    if (!parse_int(num, ns.inode) || ns.inode == 0) {
        return failure("namespace link: bad inode " + quote(num));
    }
    return ns;
}

Result<ExeLink> parse_exe_link(std::string_view text) {
    constexpr std::string_view kDeleted = " (deleted)";
    ExeLink exe;
    if (text.ends_with(kDeleted)) {
        exe.deleted = true;
        text.remove_suffix(kDeleted.size());
    }
    if (text.empty()) return failure("exe link: empty target");
    if (text.find('\0') != std::string_view::npos) {
        return failure("exe link: NUL byte in target " + quote(text));
    }
    // Anonymous/memfd executables read as "/memfd:name (deleted)"; paths are always absolute.
    if (text.front() != '/') return failure("exe link: not an absolute path " + quote(text));
    exe.path = std::string(text);
    return exe;
}

Result<std::uint64_t> parse_boot_time(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        if (line.starts_with("btime ")) {
            std::uint64_t v = 0;
            const std::string_view num = trim(line.substr(6));
            if (!parse_int(num, v) || v == 0) {
                return failure("/proc/stat: bad btime value " + quote(num));
            }
            return v;
        }
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    return failure("/proc/stat: no btime line");
}

}  // namespace procmond
