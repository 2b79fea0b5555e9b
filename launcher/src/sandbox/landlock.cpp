// Landlock through raw syscalls: Debian's headers stop at ABI 2, the running kernel may offer
// more, so the structs and flags of later ABIs are spelled out here and used only when
// landlock_create_ruleset(VERSION) says the kernel has them.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "daemoneye/launcher/sandbox/layers.hpp"

namespace daemoneye::launcher::sandbox {
namespace {

// struct landlock_ruleset_attr as of ABI 6 (fields appended in ABI 4 and 6).
struct RulesetAttr {
    std::uint64_t handled_access_fs;
    std::uint64_t handled_access_net;
    std::uint64_t scoped;
};

struct PathBeneathAttr {
    std::uint64_t allowed_access;
    std::int32_t parent_fd;
} __attribute__((packed));

constexpr std::uint32_t kCreateRulesetVersion = 1U << 0;
constexpr int kRulePathBeneath = 1;

constexpr std::uint64_t kExecute = 1ULL << 0;
constexpr std::uint64_t kReadFile = 1ULL << 2;
constexpr std::uint64_t kReadDir = 1ULL << 3;
constexpr std::uint64_t kFsAbi1 = (1ULL << 13) - 1;      // EXECUTE .. MAKE_SYM
constexpr std::uint64_t kRefer = 1ULL << 13;             // ABI 2
constexpr std::uint64_t kTruncate = 1ULL << 14;          // ABI 3
constexpr std::uint64_t kIoctlDev = 1ULL << 15;          // ABI 5
constexpr std::uint64_t kNetBindTcp = 1ULL << 0;         // ABI 4
constexpr std::uint64_t kNetConnectTcp = 1ULL << 1;      // ABI 4
constexpr std::uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ULL << 1;        // ABI 6

long create_ruleset(const RulesetAttr* attr, std::size_t size, std::uint32_t flags) {
    return syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

}  // namespace

int landlock_abi_version() {
    long v = create_ruleset(nullptr, 0, kCreateRulesetVersion);
    return v < 0 ? 0 : static_cast<int>(v);
}

Result<LayerReport> apply_landlock(const LandlockPolicy& policy) {
    long abi = create_ruleset(nullptr, 0, kCreateRulesetVersion);
    if (abi < 0) {
        std::string why = errno == ENOSYS ? "kernel built without Landlock"
                          : errno == EOPNOTSUPP
                              ? "Landlock is disabled (not in the lsm= boot list)"
                              : std::string("landlock_create_ruleset: ") + std::strerror(errno);
        return not_applied("landlock", why);
    }

    RulesetAttr attr{};
    attr.handled_access_fs = kFsAbi1;
    if (abi >= 2) attr.handled_access_fs |= kRefer;
    if (abi >= 3) attr.handled_access_fs |= kTruncate;
    if (abi >= 5) attr.handled_access_fs |= kIoctlDev;
    std::size_t size = sizeof(std::uint64_t);
    if (abi >= 4) {
        attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
        size = 2 * sizeof(std::uint64_t);
    }
    if (abi >= 6) {
        attr.scoped = kScopeAbstractUnix | kScopeSignal;
        size = sizeof(RulesetAttr);
    }

    Fd ruleset{static_cast<int>(create_ruleset(&attr, size, 0))};
    if (ruleset.fd < 0)
        return fail(std::string("landlock_create_ruleset: ") + std::strerror(errno));

    std::string missing;
    auto add_rule = [&](const std::string& path, std::uint64_t access,
                        std::string& allowed) -> Status {
        Fd target{open(path.c_str(), O_PATH | O_CLOEXEC)};
        if (target.fd < 0) {
            missing += (missing.empty() ? "" : ",") + path;
            return {};
        }
        // Directories get directory rights too; a file only the file rights.
        struct stat st {};
        if (fstat(target.fd, &st) == 0 && !S_ISDIR(st.st_mode)) access &= ~kReadDir;
        PathBeneathAttr rule{access, target.fd};
        if (syscall(SYS_landlock_add_rule, ruleset.fd, kRulePathBeneath, &rule, 0) != 0) {
            return fail("landlock_add_rule " + path + ": " + std::strerror(errno));
        }
        allowed += (allowed.empty() ? "" : ",") + path;
        return {};
    };
    std::string read_only;
    std::string read_exec;
    for (const auto& p : policy.read_paths) {
        if (auto st = add_rule(p, kReadFile | kReadDir, read_only); !st)
            return unexpected(st.error());
    }
    for (const auto& p : policy.exec_paths) {
        if (auto st = add_rule(p, kReadFile | kReadDir | kExecute, read_exec); !st) {
            return unexpected(st.error());
        }
    }

    // ABI 7 logs denials to the audit log by default; nothing to ask for here.
    if (syscall(SYS_landlock_restrict_self, ruleset.fd, 0u) != 0) {
        return fail(std::string("landlock_restrict_self: ") + std::strerror(errno));
    }
    std::string detail = "ABI " + std::to_string(abi) + "; read-only: " + read_only +
                         "; read+exec: " + read_exec +
                         "; writes, creates, removes refused everywhere";
    if (abi >= 4) detail += "; TCP bind/connect refused";
    if (abi >= 6) detail += "; signals and abstract unix sockets scoped to the sandbox";
    if (!missing.empty()) detail += "; absent, skipped: " + missing;
    return applied("landlock", detail);
}

}  // namespace daemoneye::launcher::sandbox
