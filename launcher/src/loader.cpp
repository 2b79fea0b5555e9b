#include "daemoneye/launcher/loader.hpp"

#include <dlfcn.h>
#include <elf.h>
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

#if defined(__x86_64__)
constexpr Elf64_Half kMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr Elf64_Half kMachine = EM_AARCH64;
#endif

bool read_at(int fd, void* out, std::size_t size, off_t offset) {
    return ::pread(fd, out, size, offset) == static_cast<ssize_t>(size);
}

// Checks the ELF structure before the dynamic loader maps it: glibc maps segments without
// checking they lie inside the file, and touching a truncated one raises SIGBUS.
Status check_elf(int fd, off_t size) {
    Elf64_Ehdr eh{};
    if (size < static_cast<off_t>(sizeof eh) || !read_at(fd, &eh, sizeof eh, 0) ||
        std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        return fail("not an ELF shared object (" + std::to_string(size) + " bytes, bad magic)");
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) return fail("not a 64-bit ELF object");
    if (eh.e_type != ET_DYN)
        return fail("ELF type " + std::to_string(eh.e_type) + " is not a shared object (ET_DYN)");
    if (eh.e_machine != kMachine)
        return fail("built for ELF machine " + std::to_string(eh.e_machine) + ", not this one");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 256) {
        return fail("malformed program header table");
    }
    auto ph_end =
        static_cast<std::uint64_t>(eh.e_phoff) + std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
    if (ph_end > static_cast<std::uint64_t>(size)) {
        return fail("truncated: program headers end at byte " + std::to_string(ph_end) +
                    " but the file has " + std::to_string(size));
    }
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph{};
        if (!read_at(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * sizeof ph)))
            return fail("unreadable program header");
        std::uint64_t end = ph.p_offset + ph.p_filesz;
        if (ph.p_type != PT_NULL && (end < ph.p_offset || end > static_cast<std::uint64_t>(size))) {
            return fail("truncated: segment " + std::to_string(i) + " ends at byte " +
                        std::to_string(end) + " but the file has " + std::to_string(size));
        }
    }
    if (eh.e_shnum != 0) {
        auto sh_end =
            static_cast<std::uint64_t>(eh.e_shoff) + std::uint64_t{eh.e_shnum} * eh.e_shentsize;
        if (sh_end > static_cast<std::uint64_t>(size)) {
            return fail("truncated: section headers end at byte " + std::to_string(sh_end) +
                        " but the file has " + std::to_string(size));
        }
    }
    return {};
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
    auto status = check_elf(fd, st.st_size);
    ::close(fd);
    return status;
}

}  // namespace

Result<PluginLibrary, Failure> PluginLibrary::open(const std::string& path) {
    if (auto st = check_file(path); !st) return load_failure(path, st.error().message);

    PluginLibrary out;
    try {
        // RTLD_NODELETE: even after the last reference goes, the code stays mapped. A plugin's
        // generated protobuf descriptors live in libprotobuf's global pool, which keeps pointers
        // into the plugin until process exit; unmapping it first crashes the shutdown.
        const auto mode = boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local |
                          static_cast<boost::dll::load_mode::type>(RTLD_NODELETE);
        out.library_ = std::make_shared<boost::dll::shared_library>(path, mode);
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
