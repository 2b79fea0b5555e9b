#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "daemoneye/launcher/sandbox/layers.hpp"

namespace daemoneye::launcher::sandbox {

Result<LayerReport> set_no_new_privs() {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        return fail(std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno));
    }
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return fail("no_new_privs did not stick");
    return applied("no_new_privs", "set: no setuid/file-capability gains");
}

}  // namespace daemoneye::launcher::sandbox
