// Plugin permissions: what a plugin declares in its descriptor, what the agent grants on the
// command line (--permission), and what each one opens in the sandbox.
//
//   proc.read          read /proc (all processes); CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH
//   net.read           host network namespace; socket(AF_NETLINK, NETLINK_SOCK_DIAG) + bind;
//                      read /proc (socket inode -> pid); CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH
//   proc.events        host network namespace; socket(AF_NETLINK, NETLINK_CONNECTOR) + bind;
//                      CAP_NET_ADMIN (the kernel's process connector requires it)
//   fs.watch:<path>    read-only access beneath <path>; inotify; CAP_DAC_READ_SEARCH
//   fs.read:<path>     read-only access beneath <path>; CAP_DAC_READ_SEARCH
//
// A plugin may declare a bare "fs.watch" / "fs.read" (the paths come from its config, the agent
// grants them): it is covered by any granted fs.watch:<path> / fs.read:<path>. A declared
// "fs.watch:/a/b" is covered by a granted "fs.watch:/a".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemoneye/result.hpp"

namespace daemoneye::launcher {

struct Permission {
    enum class Kind { ProcRead, NetRead, ProcEvents, FsWatch, FsRead };
    Kind kind = Kind::ProcRead;
    std::string path;  // FsWatch / FsRead; empty for a bare declaration
    std::string text;  // as written

    friend bool operator==(const Permission&, const Permission&) = default;
};

// Parses one permission. `allow_bare_path` accepts "fs.watch" / "fs.read" without a path
// (declarations may; grants may not, because a grant must say what it opens).
Result<Permission> parse_permission(std::string_view text, bool allow_bare_path);

class PermissionSet {
  public:
    PermissionSet() = default;
    // Grants from the command line; the error names the bad entry.
    static Result<PermissionSet> from_grants(const std::vector<std::string>& grants);

    void add(Permission p);
    bool covers(const Permission& declared) const;
    const std::vector<Permission>& items() const { return items_; }

    bool has(Permission::Kind kind) const;
    // What the sandbox derives from the set.
    bool needs_host_network() const;              // net.read, proc.events
    std::vector<std::string> read_paths() const;  // Landlock read-only paths
    std::vector<std::string> names() const;       // as written, for reports

  private:
    std::vector<Permission> items_;
};

// Declared permissions not covered by the grants (empty: all covered).
std::vector<std::string> uncovered(const PermissionSet& granted,
                                   const std::vector<Permission>& declared);

}  // namespace daemoneye::launcher
