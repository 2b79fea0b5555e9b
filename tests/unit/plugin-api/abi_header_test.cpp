// Fails when plugin_api.h's declarations change without a DE_PLUGIN_ABI_MAJOR/MINOR bump.
// (Envoy keeps a hash of its ABI header the same way.) Comment-only edits do not count.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "abi_hash.hpp"
#include "daemoneye/plugin_api.h"

namespace {

using daemoneye::abi_test::fnv1a64;
using daemoneye::abi_test::normalize_c_source;

struct RecordedAbi {
    int major;
    int minor;
    std::uint64_t declarations_hash;
};

// One line per released ABI version, oldest first. Never edit a line; append one per bump.
constexpr RecordedAbi kHistory[] = {
    {1, 0, 0x0caf585a8600b68dULL},
    {1, 1, 0x9a7572ea8ee2e536ULL},  // de_host_api::socket_owners appended (net.read privsep)
    {1, 2, 0xe79b1147936d878bULL},  // process_links, open_process_exe appended (proc.read privsep)
};

std::string read_header() {
    std::ifstream in(DAEMONEYE_PLUGIN_API_HEADER, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string hex(std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%016llxULL", static_cast<unsigned long long>(v));
    return buf;
}

TEST(AbiHeader, DeclarationsMatchTheRecordedHashOfThisVersion) {
    std::string header = read_header();
    ASSERT_FALSE(header.empty()) << "cannot read " << DAEMONEYE_PLUGIN_API_HEADER;
    const std::uint64_t actual = fnv1a64(normalize_c_source(header));
    const int major = DE_PLUGIN_ABI_MAJOR;
    const int minor = DE_PLUGIN_ABI_MINOR;
    const std::string entry =
        "{" + std::to_string(major) + ", " + std::to_string(minor) + ", " + hex(actual) + "}";

    const RecordedAbi& latest = kHistory[std::size(kHistory) - 1];
    const RecordedAbi* recorded = nullptr;
    for (const auto& r : kHistory) {
        if (r.major == major && r.minor == minor) recorded = &r;
    }
    if (recorded == nullptr) {
        ASSERT_TRUE(major > latest.major || (major == latest.major && minor > latest.minor))
            << "ABI version " << major << "." << minor << " is older than the recorded "
            << latest.major << "." << latest.minor << ": versions only go up";
        if (major > latest.major) {
            EXPECT_EQ(minor, 0) << "a major bump resets DE_PLUGIN_ABI_MINOR to 0";
        } else {
            EXPECT_EQ(minor, latest.minor + 1) << "bump the minor by one";
        }
        FAIL() << "plugin_api.h is now ABI " << major << "." << minor
               << " but has no recorded hash. If the change follows the rules at the top of the "
                  "header (append only for a minor bump), append this line to kHistory in "
               << "tests/unit/plugin-api/abi_header_test.cpp"
               << ":\n    " << entry << ",";
    }
    EXPECT_EQ(recorded, &latest) << "ABI " << major << "." << minor
                                 << " is not the newest recorded version";
    EXPECT_EQ(recorded->declarations_hash, actual)
        << "plugin_api.h declarations changed but DE_PLUGIN_ABI_MAJOR/MINOR still say " << major
        << "." << minor << ".\n"
        << "  - Appended a field/function pointer/enum value/macro (old plugins keep working)? "
           "bump DE_PLUGIN_ABI_MINOR.\n"
        << "  - Removed, reordered, retyped or re-purposed anything? bump DE_PLUGIN_ABI_MAJOR and "
           "set the minor to 0.\n"
        << "Then append the new version's line to kHistory in "
        << "tests/unit/plugin-api/abi_header_test.cpp"
        << " (never edit old lines). Until released, the line for " << major << "." << minor
        << " would read:\n    " << entry << ",";
}

TEST(AbiHeader, CommentAndWhitespaceEditsDoNotChangeTheHash) {
    EXPECT_EQ(fnv1a64(normalize_c_source("int a; /* doc */\nint b;")),
              fnv1a64(normalize_c_source("int a;\n\n/* better\n   docs */ int   b;")));
    EXPECT_EQ(normalize_c_source("x // c\n y"), "x y");
    EXPECT_NE(fnv1a64(normalize_c_source("int a; int b;")),
              fnv1a64(normalize_c_source("int b; int a;")));
    // Inside string literals nothing is stripped.
    EXPECT_EQ(normalize_c_source("#define S \"a  // b\""), "#define S \"a  // b\"");
}

TEST(AbiHeader, VersionMacrosAgreeWithTheStructs) {
    // ABI 1.0 layout facts a host relies on when reading struct_size.
    EXPECT_EQ(offsetof(de_plugin_descriptor, struct_size), 0u);
    EXPECT_EQ(offsetof(de_host_api, struct_size), 0u);
    EXPECT_EQ(offsetof(de_error, struct_size), 0u);
    EXPECT_EQ(offsetof(de_health, struct_size), 0u);
    EXPECT_EQ(offsetof(de_task, struct_size), 0u);
    EXPECT_EQ(offsetof(de_task_sink, struct_size), 0u);
    EXPECT_EQ(offsetof(de_config, struct_size), 0u);
    EXPECT_STREQ(DE_PLUGIN_ENTRY_SYMBOL, "daemoneye_plugin_entry");
    EXPECT_STREQ(de_status_name(DE_ERR_BACKPRESSURE), "DE_ERR_BACKPRESSURE");
    EXPECT_STREQ(de_status_name(static_cast<de_status>(99)), "DE_ERR_UNKNOWN");
}

TEST(AbiHeader, Abi11OnlyAppendsToTheHostApi) {
    // 1.1 appended socket_owners after instance_id: every 1.0 field keeps its offset, and a 1.0
    // host's table (ending at instance_id) does not cover the new field.
    constexpr std::size_t k10HostApiSize = offsetof(de_host_api, instance_id) + sizeof(void*);
    EXPECT_EQ(offsetof(de_host_api, socket_owners), k10HostApiSize);
    EXPECT_EQ(sizeof(de_host_api), k10HostApiSize + 3 * sizeof(void*));

    de_host_api api{};
    api.struct_size = static_cast<std::uint32_t>(k10HostApiSize);
    api.socket_owners = reinterpret_cast<decltype(api.socket_owners)>(1);  // garbage past the end
    EXPECT_FALSE(DE_HOST_API_HAS(&api, socket_owners)) << "a 1.0 table must not offer it";
    api.struct_size = sizeof api;
    EXPECT_TRUE(DE_HOST_API_HAS(&api, socket_owners));
    api.socket_owners = nullptr;
    EXPECT_FALSE(DE_HOST_API_HAS(&api, socket_owners)) << "NULL: not offered";
    const de_host_api* none = nullptr;
    EXPECT_FALSE(DE_HOST_API_HAS(none, socket_owners));
}

TEST(AbiHeader, Abi12OnlyAppendsToTheHostApi) {
    // 1.2 appended process_links and open_process_exe after socket_owners: a 1.1 host's table
    // (ending at socket_owners) covers neither, and a 1.1 plugin's reads are unaffected.
    constexpr std::size_t k11HostApiSize = offsetof(de_host_api, socket_owners) + sizeof(void*);
    EXPECT_EQ(offsetof(de_host_api, process_links), k11HostApiSize);
    EXPECT_EQ(offsetof(de_host_api, open_process_exe), k11HostApiSize + sizeof(void*));
    EXPECT_EQ(sizeof(de_host_api), k11HostApiSize + 2 * sizeof(void*));
    de_host_api api{};
    api.struct_size = static_cast<std::uint32_t>(k11HostApiSize);
    api.process_links = reinterpret_cast<decltype(api.process_links)>(1);  // past the end
    api.open_process_exe = reinterpret_cast<decltype(api.open_process_exe)>(1);
    EXPECT_FALSE(DE_HOST_API_HAS(&api, process_links)) << "a 1.1 table must not offer it";
    EXPECT_FALSE(DE_HOST_API_HAS(&api, open_process_exe));
    api.struct_size = sizeof api;
    EXPECT_TRUE(DE_HOST_API_HAS(&api, process_links));
    EXPECT_TRUE(DE_HOST_API_HAS(&api, open_process_exe));
    api.open_process_exe = nullptr;
    EXPECT_FALSE(DE_HOST_API_HAS(&api, open_process_exe)) << "NULL: not offered";
    // de_process_links grows at the end like every struct: struct_size first.
    EXPECT_EQ(offsetof(de_process_links, struct_size), 0u);
}

}  // namespace
