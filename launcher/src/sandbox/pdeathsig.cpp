#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "daemoneye/launcher/sandbox/layers.hpp"

namespace daemoneye::launcher::sandbox {

Result<LayerReport> arm_parent_death_signal(pid_t expected_parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
        return fail(std::string("prctl(PR_SET_PDEATHSIG): ") + std::strerror(errno));
    }
    // The parent may have died before the signal was armed: then nobody would kill us.
    if (expected_parent > 1 && getppid() != expected_parent) {
        return fail("parent process " + std::to_string(expected_parent) +
                    " exited before the parent-death signal was armed");
    }
    return applied("pdeathsig", "SIGKILL when parent " + std::to_string(getppid()) + " exits");
}

}  // namespace daemoneye::launcher::sandbox
