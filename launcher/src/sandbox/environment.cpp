#include <cstdlib>
#include <string>

#include "daemoneye/launcher/sandbox/layers.hpp"

extern char** environ;

namespace daemoneye::launcher::sandbox {

LayerReport scrub_environment() {
    std::size_t count = 0;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) ++count;
    if (clearenv() != 0) return not_applied("env", "clearenv() failed");
    return applied("env", "cleared " + std::to_string(count) + " variables; plugin sees none");
}

}  // namespace daemoneye::launcher::sandbox
