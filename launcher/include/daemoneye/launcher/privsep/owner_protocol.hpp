// The wire format between the launcher (client, inside the sandbox, sharing its address space and
// descriptors with the plugin) and the socket-owner helper (privileged, outside the sandbox) on a
// SOCK_SEQPACKET socketpair: one request per message, answers in one or more messages.
//
// The helper treats every request as hostile (the plugin can write to the socket directly): sizes
// are fixed and bounded, every field is checked, and the only question it answers is "which
// processes hold these socket inodes" — it never opens a path a request names.
//
//   request  = header{magic, version, kind = LOOKUP, request_id, count} + count x u64 inode
//   response = header{magic, version, status, request_id, flags, count} + payload
//     status OK:           count records {u64 inode, u32 pid, u16 comm_len, u16 exe_len,
//                          comm bytes, exe bytes}; flags LAST on the final message of a request,
//                          which also carries flag STATS and, after its records, the walk's
//                          counters {u64 pids_unreadable, u64 fds_examined}
//     status BAD_REQUEST:  payload = reason text (count 0, LAST)
//     status READY / SETUP_FAILED: once, at start-up; payload = what the helper applied / why
//                          it gave up
//   proc.read (ABI 1.2) adds two request kinds, each with count = 1 and one u64 pid
//   (1..kMaxPid):
//   LINKS     -> OK, flags LAST | LINKS, count 1, one LinksRecord (encode_links_response)
//   OPEN_EXE  -> OK, flags LAST | EXE, count 0, payload i32 errno; when it is 0 the message
//                carries the opened descriptor (SCM_RIGHTS)
//   A kind the instance was not granted (LOOKUP without net.read, LINKS/OPEN_EXE without
//   proc.read) is answered BAD_REQUEST.
// Integers are in host byte order (both ends are the same process image on the same machine).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemoneye/plugin_api.h"
#include "daemoneye/result.hpp"

namespace daemoneye::launcher::privsep {

inline constexpr std::uint32_t kMagic = 0x48594544;  // "DEYH"
inline constexpr std::uint16_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 16;
inline constexpr std::size_t kMaxInodes = DE_SOCKET_OWNERS_MAX;
inline constexpr std::size_t kMaxRequestBytes = kHeaderBytes + kMaxInodes * 8;
inline constexpr std::size_t kMaxResponseBytes = std::size_t{64} << 10;
inline constexpr std::size_t kMaxCommBytes = 64;
inline constexpr std::size_t kMaxExeBytes = 4096;
inline constexpr std::size_t kMaxReasonBytes = 512;

enum class RequestKind : std::uint16_t { Lookup = 1, Links = 2, OpenExe = 3 };
inline constexpr std::uint32_t kMaxPid = 4194304;  // PID_MAX_LIMIT
inline constexpr std::size_t kMaxNamespaces = DE_PROCESS_NS_MAX;
inline constexpr std::size_t kMaxNsNameBytes = 32;
inline constexpr std::size_t kMaxNsLinkBytes = 64;
inline constexpr std::size_t kMaxPathBytes = 4096;
// Which request kinds a helper serves (bits: 1 << kind).
inline constexpr std::uint32_t kind_bit(RequestKind k) {
    return 1u << static_cast<unsigned>(k);
}
enum class ReplyStatus : std::uint16_t { Ok = 0, BadRequest = 1, Ready = 2, SetupFailed = 3 };
inline constexpr std::uint16_t kFlagLast = 1;
inline constexpr std::uint16_t kFlagStats = 2;
inline constexpr std::uint16_t kFlagLinks = 4;
inline constexpr std::uint16_t kFlagExe = 8;
inline constexpr std::size_t kStatsBytes = 16;

// Counters of one /proc walk (find_socket_owners), carried back on the LAST reply.
struct WalkStats {
    std::uint64_t pids_unreadable = 0;  // fd directories the walk was denied (a partial view)
    std::uint64_t fds_examined = 0;
};

struct Request {
    RequestKind kind = RequestKind::Lookup;
    std::uint32_t request_id = 0;
    std::vector<std::uint64_t> inodes;  // Lookup
    std::uint32_t pid = 0;              // Links, OpenExe
};

// The answer to LINKS: de_process_links on the wire. Every *_errno is 0 when its fields hold.
struct LinksRecord {
    struct Namespace {
        std::string name;
        std::string link;
        std::int32_t error = 0;
    };
    std::uint32_t pid = 0;
    std::int32_t error = 0;  // ENOENT: no such process (nothing else is valid)
    std::int32_t exe_errno = 0;
    std::string exe;
    std::uint64_t exe_dev = 0, exe_ino = 0;
    std::int64_t exe_mtime_ns = 0, exe_ctime_ns = 0;
    std::uint64_t exe_size = 0;
    std::uint32_t exe_mode = 0, exe_uid = 0;
    std::uint64_t exe_nlink = 0;
    std::int32_t cwd_errno = 0;
    std::string cwd;
    std::vector<Namespace> namespaces;
    std::int32_t root_exe_errno = 0;
    std::uint64_t root_exe_dev = 0, root_exe_ino = 0;
    std::uint64_t image_fingerprint = 0;
};

struct OwnerRecord {
    std::uint64_t inode = 0;
    std::uint32_t pid = 0;
    std::string comm;
    std::string exe;
};

struct ResponseHeader {
    ReplyStatus status = ReplyStatus::Ok;
    std::uint32_t request_id = 0;
    std::uint16_t flags = 0;
    std::uint16_t count = 0;
};

struct Response {
    ResponseHeader header;
    std::vector<OwnerRecord> records;  // status Ok
    WalkStats stats;                   // status Ok with flag STATS (the LAST message)
    std::string text;                  // the other statuses
    LinksRecord links;                 // status Ok with flag LINKS
    std::int32_t exe_errno = -1;       // status Ok with flag EXE (0: a descriptor came along)
};

// A lookup request; `inodes` must hold at most kMaxInodes.
std::vector<std::uint8_t> encode_request(std::uint32_t request_id,
                                         std::span<const std::uint64_t> inodes);

// A LINKS or OPEN_EXE request for one pid.
std::vector<std::uint8_t> encode_pid_request(RequestKind kind, std::uint32_t request_id,
                                             std::uint32_t pid);

// Checks everything: size, magic, version, kind, count, exact length, pid range. The error says
// what is wrong ("request: 20 bytes, expected 16 + 8 x 2 = 32").
Result<Request> decode_request(std::span<const std::uint8_t> bytes);
// The request id of a message, when it is long enough to carry one (for error replies).
std::uint32_t peek_request_id(std::span<const std::uint8_t> bytes);

// Packs `records` into messages of at most kMaxResponseBytes; the last one is flagged LAST and
// STATS and carries `stats` (an empty result is one LAST message with only the stats). comm/exe
// are cut to their maximum sizes.
std::vector<std::vector<std::uint8_t>> encode_owner_responses(std::uint32_t request_id,
                                                              std::span<const OwnerRecord> records,
                                                              const WalkStats& stats = {});
// A one-message reply carrying text: BAD_REQUEST, READY or SETUP_FAILED (text cut to
// kMaxReasonBytes).
std::vector<std::uint8_t> encode_text_response(ReplyStatus status, std::uint32_t request_id,
                                               std::string_view text);

// The reply to LINKS (strings cut to their maximum sizes, at most kMaxNamespaces entries).
std::vector<std::uint8_t> encode_links_response(std::uint32_t request_id, const LinksRecord& r);
// The reply to OPEN_EXE (the descriptor travels beside it, when `error` is 0).
std::vector<std::uint8_t> encode_exe_response(std::uint32_t request_id, std::int32_t error);

Result<Response> decode_response(std::span<const std::uint8_t> bytes);

}  // namespace daemoneye::launcher::privsep
