#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "daemoneye/launcher/sandbox/layers.hpp"

namespace daemoneye::launcher::sandbox {
namespace {

struct CapFree {
    void operator()(cap_t c) const { cap_free(c); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

std::string cap_names(const std::vector<int>& caps) {
    if (caps.empty()) return "none";
    std::string out;
    for (int c : caps) {
        char* name = cap_to_name(static_cast<cap_value_t>(c));
        if (!out.empty()) out += ",";
        out += name != nullptr ? name : std::to_string(c);
        cap_free(name);
    }
    return out;
}

// Sets permitted = effective = keep, inheritable = empty.
Status set_process_caps(const std::vector<int>& keep) {
    CapPtr caps(cap_init());
    if (!caps) return fail("cap_init failed");
    std::vector<cap_value_t> values(keep.begin(), keep.end());
    if (!values.empty()) {
        if (cap_set_flag(caps.get(), CAP_PERMITTED, static_cast<int>(values.size()), values.data(),
                         CAP_SET) != 0 ||
            cap_set_flag(caps.get(), CAP_EFFECTIVE, static_cast<int>(values.size()), values.data(),
                         CAP_SET) != 0) {
            return fail("cap_set_flag failed");
        }
    }
    if (cap_set_proc(caps.get()) != 0)
        return fail(std::string("cap_set_proc: ") + std::strerror(errno));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    return {};
}

std::vector<int> held_effective() {
    std::vector<int> out;
    CapPtr caps(cap_get_proc());
    if (!caps) return out;
    for (int c = 0; c <= CAP_LAST_CAP; ++c) {
        cap_flag_value_t v = CAP_CLEAR;
        if (cap_get_flag(caps.get(), static_cast<cap_value_t>(c), CAP_PERMITTED, &v) == 0 &&
            v == CAP_SET) {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace

Result<std::vector<LayerReport>> drop_privileges(const std::string& user,
                                                 const std::vector<int>& keep_caps) {
    std::vector<LayerReport> reports;
    if (geteuid() != 0) {
        reports.push_back(not_applied(
            "user", "not started as root (uid " + std::to_string(getuid()) +
                        "): cannot switch to '" + user + "'; runs as the invoking user"));
        std::vector<int> held = held_effective();
        std::vector<int> keep;
        std::copy_if(held.begin(), held.end(), std::back_inserter(keep), [&](int c) {
            return std::find(keep_caps.begin(), keep_caps.end(), c) != keep_caps.end();
        });
        if (held.empty()) {
            reports.push_back(applied("caps", "none held (unprivileged)"));
        } else if (auto st = set_process_caps(keep); !st) {
            return unexpected(st.error());
        } else {
            reports.push_back(
                applied("caps", "kept " + cap_names(keep) + " of " + cap_names(held)));
        }
        return reports;
    }

    errno = 0;
    passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) return fail("user '" + user + "' not found (--user / sandbox.user)");
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (uid == 0) return fail("refusing to run plugins as root: user '" + user + "' has uid 0");

    // Bounding set first, while CAP_SETPCAP is still held: nothing can be regained later.
    int dropped = 0;
    for (int c = 0; c <= CAP_LAST_CAP; ++c) {
        if (std::find(keep_caps.begin(), keep_caps.end(), c) != keep_caps.end()) continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0) ++dropped;
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        return fail(std::string("PR_SET_KEEPCAPS: ") + std::strerror(errno));
    if (setgroups(0, nullptr) != 0) return fail(std::string("setgroups: ") + std::strerror(errno));
    if (setresgid(gid, gid, gid) != 0)
        return fail(std::string("setresgid: ") + std::strerror(errno));
    if (setresuid(uid, uid, uid) != 0)
        return fail(std::string("setresuid: ") + std::strerror(errno));
    if (auto st = set_process_caps(keep_caps); !st) return unexpected(st.error());
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    // Regaining root must be impossible now.
    if (setresuid(0, 0, 0) == 0) return fail("could regain uid 0 after dropping privileges");

    reports.push_back(applied("user", "uid=" + std::to_string(uid) + "(" + user + ") gid=" +
                                          std::to_string(gid) + ", supplementary groups cleared"));
    reports.push_back(applied("caps", "permitted+effective: " + cap_names(keep_caps) +
                                          "; bounding set reduced to the same (" +
                                          std::to_string(dropped) +
                                          " dropped); inheritable and ambient empty"));
    return reports;
}

}  // namespace daemoneye::launcher::sandbox
