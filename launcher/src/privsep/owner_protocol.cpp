#include "daemoneye/launcher/privsep/owner_protocol.hpp"

#include <algorithm>
#include <cstring>

namespace daemoneye::launcher::privsep {
namespace {

template <class T>
void put(std::vector<std::uint8_t>& out, T v) {
    const auto at = out.size();
    out.resize(at + sizeof v);
    std::memcpy(out.data() + at, &v, sizeof v);
}

template <class T>
T get(std::span<const std::uint8_t> bytes, std::size_t at) {
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    return v;
}

void put_header(std::vector<std::uint8_t>& out, std::uint16_t status_or_kind, std::uint32_t id,
                std::uint16_t flags, std::uint16_t count) {
    put<std::uint32_t>(out, kMagic);
    put<std::uint16_t>(out, kVersion);
    put<std::uint16_t>(out, status_or_kind);
    put<std::uint32_t>(out, id);
    put<std::uint16_t>(out, flags);
    put<std::uint16_t>(out, count);
}

constexpr std::size_t kRecordFixedBytes = 8 + 4 + 2 + 2;

}  // namespace

std::vector<std::uint8_t> encode_request(std::uint32_t request_id,
                                         std::span<const std::uint64_t> inodes) {
    std::vector<std::uint8_t> out;
    out.reserve(kHeaderBytes + inodes.size() * 8);
    put<std::uint32_t>(out, kMagic);
    put<std::uint16_t>(out, kVersion);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(RequestKind::Lookup));
    put<std::uint32_t>(out, request_id);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(inodes.size()));
    for (std::uint64_t inode : inodes) put<std::uint64_t>(out, inode);
    return out;
}

std::vector<std::uint8_t> encode_pid_request(RequestKind kind, std::uint32_t request_id,
                                             std::uint32_t pid) {
    std::vector<std::uint8_t> out;
    out.reserve(kHeaderBytes + 8);
    put<std::uint32_t>(out, kMagic);
    put<std::uint16_t>(out, kVersion);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(kind));
    put<std::uint32_t>(out, request_id);
    put<std::uint32_t>(out, 1);
    put<std::uint64_t>(out, pid);
    return out;
}

std::uint32_t peek_request_id(std::span<const std::uint8_t> bytes) {
    return bytes.size() >= 12 ? get<std::uint32_t>(bytes, 8) : 0;
}

Result<Request> decode_request(std::span<const std::uint8_t> bytes) {
    if (bytes.size() < kHeaderBytes) {
        return fail("request: " + std::to_string(bytes.size()) + " bytes, shorter than the " +
                    std::to_string(kHeaderBytes) + "-byte header");
    }
    if (bytes.size() > kMaxRequestBytes) {
        return fail("request: " + std::to_string(bytes.size()) + " bytes, over the limit of " +
                    std::to_string(kMaxRequestBytes));
    }
    if (get<std::uint32_t>(bytes, 0) != kMagic) return fail("request: bad magic");
    if (const auto v = get<std::uint16_t>(bytes, 4); v != kVersion) {
        return fail("request: protocol version " + std::to_string(v) + ", expected " +
                    std::to_string(kVersion));
    }
    const auto k = get<std::uint16_t>(bytes, 6);
    if (k != static_cast<std::uint16_t>(RequestKind::Lookup) &&
        k != static_cast<std::uint16_t>(RequestKind::Links) &&
        k != static_cast<std::uint16_t>(RequestKind::OpenExe)) {
        return fail("request: unknown kind " + std::to_string(k));
    }
    Request r;
    r.kind = static_cast<RequestKind>(k);
    r.request_id = get<std::uint32_t>(bytes, 8);
    const std::uint32_t count = get<std::uint32_t>(bytes, 12);
    if (r.kind != RequestKind::Lookup) {
        const char* what = r.kind == RequestKind::Links ? "links" : "open_exe";
        if (count != 1 || bytes.size() != kHeaderBytes + 8) {
            return fail(std::string("request: ") + what + " takes exactly one pid (count " +
                        std::to_string(count) + ", " + std::to_string(bytes.size()) +
                        " bytes; expected count 1, " + std::to_string(kHeaderBytes + 8) + ")");
        }
        const auto pid = get<std::uint64_t>(bytes, kHeaderBytes);
        if (pid == 0 || pid > kMaxPid) {
            return fail(std::string("request: ") + what + " pid " + std::to_string(pid) +
                        " out of range 1.." + std::to_string(kMaxPid));
        }
        r.pid = static_cast<std::uint32_t>(pid);
        return r;
    }
    if (count > kMaxInodes) {
        return fail("request: " + std::to_string(count) + " inodes, over the limit of " +
                    std::to_string(kMaxInodes));
    }
    const std::size_t want = kHeaderBytes + std::size_t{count} * 8;
    if (bytes.size() != want) {
        return fail("request: " + std::to_string(bytes.size()) + " bytes, expected " +
                    std::to_string(kHeaderBytes) + " + 8 x " + std::to_string(count) + " = " +
                    std::to_string(want));
    }
    r.inodes.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        r.inodes.push_back(get<std::uint64_t>(bytes, kHeaderBytes + std::size_t{i} * 8));
    }
    return r;
}

std::vector<std::vector<std::uint8_t>> encode_owner_responses(std::uint32_t request_id,
                                                              std::span<const OwnerRecord> records,
                                                              const WalkStats& stats) {
    std::vector<std::vector<std::uint8_t>> messages;
    std::vector<std::uint8_t> body;
    std::uint16_t count = 0;
    auto flush = [&](bool last) {
        std::vector<std::uint8_t> m;
        m.reserve(kHeaderBytes + body.size());
        put_header(m, static_cast<std::uint16_t>(ReplyStatus::Ok), request_id,
                   last ? kFlagLast | kFlagStats : 0, count);
        m.insert(m.end(), body.begin(), body.end());
        if (last) {
            put<std::uint64_t>(m, stats.pids_unreadable);
            put<std::uint64_t>(m, stats.fds_examined);
        }
        messages.push_back(std::move(m));
        body.clear();
        count = 0;
    };
    for (const auto& r : records) {
        const std::size_t comm_len = std::min(r.comm.size(), kMaxCommBytes);
        const std::size_t exe_len = std::min(r.exe.size(), kMaxExeBytes);
        const std::size_t size = kRecordFixedBytes + comm_len + exe_len;
        // Room is kept for the stats trailer: any message may turn out to be the last.
        if (kHeaderBytes + body.size() + size + kStatsBytes > kMaxResponseBytes ||
            count == UINT16_MAX) {
            flush(false);
        }
        put<std::uint64_t>(body, r.inode);
        put<std::uint32_t>(body, r.pid);
        put<std::uint16_t>(body, static_cast<std::uint16_t>(comm_len));
        put<std::uint16_t>(body, static_cast<std::uint16_t>(exe_len));
        body.insert(body.end(), r.comm.begin(), r.comm.begin() + static_cast<long>(comm_len));
        body.insert(body.end(), r.exe.begin(), r.exe.begin() + static_cast<long>(exe_len));
        ++count;
    }
    flush(true);
    return messages;
}

std::vector<std::uint8_t> encode_text_response(ReplyStatus status, std::uint32_t request_id,
                                               std::string_view text) {
    std::vector<std::uint8_t> m;
    text = text.substr(0, kMaxReasonBytes);
    put_header(m, static_cast<std::uint16_t>(status), request_id, kFlagLast, 0);
    m.insert(m.end(), text.begin(), text.end());
    return m;
}

namespace {

void put_string(std::vector<std::uint8_t>& out, const std::string& v, std::size_t max) {
    const std::size_t n = std::min(v.size(), max);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(n));
    out.insert(out.end(), v.begin(), v.begin() + static_cast<long>(n));
}

// Reads what put_string wrote; false when it runs past the end or over `max`.
bool get_string(std::span<const std::uint8_t> bytes, std::size_t& at, std::size_t max,
                std::string& v) {
    if (bytes.size() - at < 2) return false;
    const auto n = get<std::uint16_t>(bytes, at);
    at += 2;
    if (n > max || bytes.size() - at < n) return false;
    v.assign(reinterpret_cast<const char*>(bytes.data() + at), n);
    at += n;
    return true;
}

constexpr std::size_t kLinksFixedBytes = 4 + 4 + 4 + 8 * 5 + 4 + 4 + 8 + 4 + 4 + 8 + 8 + 8;

Result<LinksRecord> decode_links(std::span<const std::uint8_t> bytes, std::size_t at) {
    if (bytes.size() - at < kLinksFixedBytes) return fail("helper reply: truncated links record");
    LinksRecord r;
    r.pid = get<std::uint32_t>(bytes, at);
    r.error = get<std::int32_t>(bytes, at + 4);
    r.exe_errno = get<std::int32_t>(bytes, at + 8);
    r.exe_dev = get<std::uint64_t>(bytes, at + 12);
    r.exe_ino = get<std::uint64_t>(bytes, at + 20);
    r.exe_mtime_ns = get<std::int64_t>(bytes, at + 28);
    r.exe_ctime_ns = get<std::int64_t>(bytes, at + 36);
    r.exe_size = get<std::uint64_t>(bytes, at + 44);
    r.exe_mode = get<std::uint32_t>(bytes, at + 52);
    r.exe_uid = get<std::uint32_t>(bytes, at + 56);
    r.exe_nlink = get<std::uint64_t>(bytes, at + 60);
    r.cwd_errno = get<std::int32_t>(bytes, at + 68);
    r.root_exe_errno = get<std::int32_t>(bytes, at + 72);
    r.root_exe_dev = get<std::uint64_t>(bytes, at + 76);
    r.root_exe_ino = get<std::uint64_t>(bytes, at + 84);
    r.image_fingerprint = get<std::uint64_t>(bytes, at + 92);
    at += kLinksFixedBytes;
    if (!get_string(bytes, at, kMaxPathBytes, r.exe) ||
        !get_string(bytes, at, kMaxPathBytes, r.cwd) || bytes.size() - at < 2) {
        return fail("helper reply: bad links strings");
    }
    const auto ns = get<std::uint16_t>(bytes, at);
    at += 2;
    if (ns > kMaxNamespaces) return fail("helper reply: too many namespaces");
    for (std::uint16_t i = 0; i < ns; ++i) {
        LinksRecord::Namespace n;
        if (!get_string(bytes, at, kMaxNsNameBytes, n.name) ||
            !get_string(bytes, at, kMaxNsLinkBytes, n.link) || bytes.size() - at < 4) {
            return fail("helper reply: bad namespace entry");
        }
        n.error = get<std::int32_t>(bytes, at);
        at += 4;
        r.namespaces.push_back(std::move(n));
    }
    if (at != bytes.size()) return fail("helper reply: trailing bytes after links record");
    return r;
}

}  // namespace

std::vector<std::uint8_t> encode_links_response(std::uint32_t request_id, const LinksRecord& r) {
    std::vector<std::uint8_t> m;
    put_header(m, static_cast<std::uint16_t>(ReplyStatus::Ok), request_id, kFlagLast | kFlagLinks,
               1);
    put<std::uint32_t>(m, r.pid);
    put<std::int32_t>(m, r.error);
    put<std::int32_t>(m, r.exe_errno);
    put<std::uint64_t>(m, r.exe_dev);
    put<std::uint64_t>(m, r.exe_ino);
    put<std::int64_t>(m, r.exe_mtime_ns);
    put<std::int64_t>(m, r.exe_ctime_ns);
    put<std::uint64_t>(m, r.exe_size);
    put<std::uint32_t>(m, r.exe_mode);
    put<std::uint32_t>(m, r.exe_uid);
    put<std::uint64_t>(m, r.exe_nlink);
    put<std::int32_t>(m, r.cwd_errno);
    put<std::int32_t>(m, r.root_exe_errno);
    put<std::uint64_t>(m, r.root_exe_dev);
    put<std::uint64_t>(m, r.root_exe_ino);
    put<std::uint64_t>(m, r.image_fingerprint);
    put_string(m, r.exe, kMaxPathBytes);
    put_string(m, r.cwd, kMaxPathBytes);
    const std::size_t ns = std::min(r.namespaces.size(), kMaxNamespaces);
    put<std::uint16_t>(m, static_cast<std::uint16_t>(ns));
    for (std::size_t i = 0; i < ns; ++i) {
        put_string(m, r.namespaces[i].name, kMaxNsNameBytes);
        put_string(m, r.namespaces[i].link, kMaxNsLinkBytes);
        put<std::int32_t>(m, r.namespaces[i].error);
    }
    return m;
}

std::vector<std::uint8_t> encode_exe_response(std::uint32_t request_id, std::int32_t error) {
    std::vector<std::uint8_t> m;
    put_header(m, static_cast<std::uint16_t>(ReplyStatus::Ok), request_id, kFlagLast | kFlagExe, 0);
    put<std::int32_t>(m, error);
    return m;
}

Result<Response> decode_response(std::span<const std::uint8_t> bytes) {
    if (bytes.size() < kHeaderBytes || bytes.size() > kMaxResponseBytes) {
        return fail("helper reply of " + std::to_string(bytes.size()) + " bytes (expected " +
                    std::to_string(kHeaderBytes) + ".." + std::to_string(kMaxResponseBytes) + ")");
    }
    if (get<std::uint32_t>(bytes, 0) != kMagic || get<std::uint16_t>(bytes, 4) != kVersion) {
        return fail("helper reply: bad magic or version");
    }
    Response r;
    const auto status = get<std::uint16_t>(bytes, 6);
    if (status > static_cast<std::uint16_t>(ReplyStatus::SetupFailed)) {
        return fail("helper reply: unknown status " + std::to_string(status));
    }
    r.header.status = static_cast<ReplyStatus>(status);
    r.header.request_id = get<std::uint32_t>(bytes, 8);
    r.header.flags = get<std::uint16_t>(bytes, 12);
    r.header.count = get<std::uint16_t>(bytes, 14);
    if (r.header.status != ReplyStatus::Ok) {
        if (bytes.size() - kHeaderBytes > kMaxReasonBytes)
            return fail("helper reply: text too long");
        r.text.assign(reinterpret_cast<const char*>(bytes.data() + kHeaderBytes),
                      bytes.size() - kHeaderBytes);
        return r;
    }
    if ((r.header.flags & kFlagLinks) != 0) {
        if (r.header.count != 1) return fail("helper reply: links reply with count != 1");
        auto links = decode_links(bytes, kHeaderBytes);
        if (!links) return unexpected(links.error());
        r.links = std::move(*links);
        return r;
    }
    if ((r.header.flags & kFlagExe) != 0) {
        if (bytes.size() != kHeaderBytes + 4) return fail("helper reply: bad open_exe reply size");
        r.exe_errno = get<std::int32_t>(bytes, kHeaderBytes);
        return r;
    }
    std::size_t end = bytes.size();
    if ((r.header.flags & kFlagStats) != 0) {
        if (end - kHeaderBytes < kStatsBytes) return fail("helper reply: truncated stats");
        end -= kStatsBytes;
        r.stats.pids_unreadable = get<std::uint64_t>(bytes, end);
        r.stats.fds_examined = get<std::uint64_t>(bytes, end + 8);
    }
    bytes = bytes.first(end);
    std::size_t at = kHeaderBytes;
    r.records.reserve(r.header.count);
    for (std::uint16_t i = 0; i < r.header.count; ++i) {
        if (bytes.size() - at < kRecordFixedBytes) return fail("helper reply: truncated record");
        OwnerRecord o;
        o.inode = get<std::uint64_t>(bytes, at);
        o.pid = get<std::uint32_t>(bytes, at + 8);
        const auto comm_len = get<std::uint16_t>(bytes, at + 12);
        const auto exe_len = get<std::uint16_t>(bytes, at + 14);
        at += kRecordFixedBytes;
        if (comm_len > kMaxCommBytes || exe_len > kMaxExeBytes ||
            bytes.size() - at < std::size_t{comm_len} + exe_len) {
            return fail("helper reply: bad record lengths");
        }
        o.comm.assign(reinterpret_cast<const char*>(bytes.data() + at), comm_len);
        at += comm_len;
        o.exe.assign(reinterpret_cast<const char*>(bytes.data() + at), exe_len);
        at += exe_len;
        r.records.push_back(std::move(o));
    }
    if (at != bytes.size()) return fail("helper reply: trailing bytes");
    return r;
}

}  // namespace daemoneye::launcher::privsep
