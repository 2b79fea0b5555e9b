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
    if (const auto k = get<std::uint16_t>(bytes, 6);
        k != static_cast<std::uint16_t>(RequestKind::Lookup)) {
        return fail("request: unknown kind " + std::to_string(k));
    }
    Request r;
    r.request_id = get<std::uint32_t>(bytes, 8);
    const std::uint32_t count = get<std::uint32_t>(bytes, 12);
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
