#include "daemoneye/launcher/loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>

namespace daemoneye::launcher {
namespace {

// The descriptor as ABI 1.0 defined it: every field up to and including `health`.
constexpr std::size_t kDescriptorSize_1_0 =
    offsetof(de_plugin_descriptor, health) + sizeof(de_plugin_descriptor::health);
constexpr std::size_t kDescriptorVersionEnd =
    offsetof(de_plugin_descriptor, abi_minor) + sizeof(de_plugin_descriptor::abi_minor);

Unexpected<Failure> load_failure(const std::string& path, const std::string& why) {
    return unexpected(Failure{ExitCode::LoadFailure, "cannot load plugin " + path + ": " + why});
}

// Checks the file before handing it to the dynamic loader, for a message that says what it is.
Status check_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail("not a regular file");
    }
    unsigned char magic[4] = {};
    ssize_t n = ::read(fd, magic, sizeof magic);
    ::close(fd);
    if (n != 4 || std::memcmp(magic,
                              "\x7f"
                              "ELF",
                              4) != 0) {
        return fail("not an ELF shared object (" + std::to_string(st.st_size) +
                    " bytes, bad magic)");
    }
    return {};
}

}  // namespace

Result<PluginLibrary, Failure> PluginLibrary::open(const std::string& path) {
    if (auto st = check_file(path); !st) return load_failure(path, st.error().message);

    PluginLibrary out;
    try {
        out.library_ = std::make_shared<boost::dll::shared_library>(
            path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        return load_failure(path, std::string("dynamic loader refused it: ") + e.what());
    }
    if (!out.library_->has(DE_PLUGIN_ENTRY_SYMBOL)) {
        return load_failure(path, "entry symbol '" DE_PLUGIN_ENTRY_SYMBOL
                                  "' is not exported (build with the SDK macro or export it "
                                  "extern \"C\" with default visibility)");
    }
    auto entry = out.library_->get<const de_plugin_descriptor*()>(DE_PLUGIN_ENTRY_SYMBOL);
    const de_plugin_descriptor* d = nullptr;
    try {
        d = entry();
    } catch (...) {
        return load_failure(path, "entry symbol threw an exception (none may cross the ABI)");
    }
    if (d == nullptr) return load_failure(path, "entry symbol returned NULL");
    if (d->struct_size < kDescriptorVersionEnd) {
        return load_failure(path, "descriptor struct_size " + std::to_string(d->struct_size) +
                                      " is too small to hold even the ABI version");
    }
    if (auto st = check_abi(d->abi_major, d->abi_minor); !st) {
        return unexpected(
            Failure{ExitCode::AbiMismatch, "refusing plugin " + path + ": " + st.error().message});
    }
    if (d->struct_size < kDescriptorSize_1_0) {
        return load_failure(path, "descriptor struct_size " + std::to_string(d->struct_size) +
                                      " is smaller than ABI 1.0's " +
                                      std::to_string(kDescriptorSize_1_0));
    }
    auto manifest = read_manifest(*d);
    if (!manifest) {
        auto f = manifest.error();
        f.message = "cannot load plugin " + path + ": " + f.message;
        return unexpected(std::move(f));
    }
    out.descriptor_ = d;
    out.manifest_ = std::move(*manifest);
    return out;
}

}  // namespace daemoneye::launcher
