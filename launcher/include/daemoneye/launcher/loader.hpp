// Loads a plugin with Boost.DLL (RTLD_NOW | RTLD_LOCAL) and checks, before calling anything
// but the entry symbol: the file is an ELF shared object, the entry symbol exists, the
// descriptor's struct_size, the ABI compatibility rule, then the descriptor's contents.
// The library stays loaded as long as a PluginLibrary (or a copy of library()) lives.
#pragma once

#include <memory>
#include <string>

#include <boost/dll/shared_library.hpp>

#include "daemoneye/launcher/exit_code.hpp"
#include "daemoneye/launcher/manifest.hpp"
#include "daemoneye/plugin_api.h"
#include "daemoneye/result.hpp"

namespace daemoneye::launcher {

class PluginLibrary {
  public:
    static Result<PluginLibrary, Failure> open(const std::string& path);

    const de_plugin_descriptor& descriptor() const { return *descriptor_; }
    const Manifest& manifest() const { return manifest_; }
    const std::shared_ptr<boost::dll::shared_library>& library() const { return library_; }

  private:
    PluginLibrary() = default;
    std::shared_ptr<boost::dll::shared_library> library_;
    const de_plugin_descriptor* descriptor_ = nullptr;
    Manifest manifest_;
};

}  // namespace daemoneye::launcher
