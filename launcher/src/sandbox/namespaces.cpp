#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "daemoneye/launcher/sandbox/layers.hpp"

namespace daemoneye::launcher::sandbox {

LayerReport enter_namespaces(bool keep_host_network) {
    int flags = CLONE_NEWIPC | CLONE_NEWUTS | (keep_host_network ? 0 : CLONE_NEWNET);
    std::string which = keep_host_network ? "ipc, uts" : "ipc, uts, net";
    std::string net_note =
        keep_host_network
            ? "; host network namespace kept (a permission needs the host's network view)"
            : " (net: loopback only, down)";
    if (unshare(flags) != 0) {
        int err = errno;
        std::string reason = "unshare(" + which + "): " + std::strerror(err);
        if (err == EPERM) {
            reason += geteuid() == 0 ? " (CAP_SYS_ADMIN missing)"
                                     : " (not root; would need a user namespace, which this "
                                       "launcher does not create)";
        }
        return not_applied("namespaces", reason);
    }
    return applied("namespaces", "new " + which + net_note);
}

}  // namespace daemoneye::launcher::sandbox
