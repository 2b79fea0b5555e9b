// `--describe PATH`: the manifest as one JSON object, produced after the plugin was loaded inside
// the sandbox (so its static constructors ran confined). Read by the agent's plugin registry and
// `daemoneye-cli plugins inspect`.
#pragma once

#include <string>

#include "daemoneye/json_escape.hpp"
#include "daemoneye/launcher/manifest.hpp"
#include "daemoneye/launcher/sandbox/layer.hpp"

namespace daemoneye::launcher {

using daemoneye::json_escape;

// {"name","version","abi":"1.0","abi_major","abi_minor","description","capabilities",
//  "permissions","publishes","sandbox":[{"name","applied","detail"}],"violations":[{"syscall","count"}]}
std::string describe_json(const Manifest& manifest, const SandboxReport& sandbox);

}  // namespace daemoneye::launcher
