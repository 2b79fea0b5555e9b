// What a plugin declares, read out of its descriptor and validated (lengths, characters, topic
// patterns, permissions, required functions) before anything else is called.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/launcher/exit_code.hpp"
#include "daemoneye/launcher/permissions.hpp"
#include "daemoneye/plugin_api.h"
#include "daemoneye/result.hpp"

namespace daemoneye::launcher {

struct Manifest {
    std::string name;
    std::string version;
    std::string description;
    std::uint32_t abi_major = 0;
    std::uint32_t abi_minor = 0;
    std::vector<std::string> capabilities;
    std::vector<std::string> permissions;
    std::vector<std::string> publishes;
    std::vector<Permission> declared_permissions;
};

// The compatibility rule of plugin_api.h. The error names both versions and the rule.
Status check_abi(std::uint32_t plugin_major, std::uint32_t plugin_minor);

// Validates the descriptor (its struct_size and ABI already checked) into a Manifest; a
// LoadFailure names the field and what is wrong with it.
Result<Manifest, Failure> read_manifest(const de_plugin_descriptor& descriptor);

bus::v1::PluginManifest to_proto(const Manifest& manifest);

}  // namespace daemoneye::launcher
