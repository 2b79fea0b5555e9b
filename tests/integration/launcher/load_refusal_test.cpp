// Plugins the launcher must refuse before running any of their code beyond the entry symbol,
// each with its own exit code and a message that says why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "daemoneye/plugin_api.h"
#include "launcher_harness.hpp"

namespace daemoneye::launcher::test {
namespace {

using ::testing::HasSubstr;

constexpr int kUsage = 2;
constexpr int kAbiMismatch = 3;
constexpr int kLoadFailure = 4;
constexpr int kPermissionRefused = 5;

// A file in the test plugin directory (Landlock lets the launcher read that folder).
std::string scratch_plugin(const std::string& name) {
    return std::string(DAEMONEYE_TEST_PLUGIN_DIR) + "/" + name;
}

TEST(LoadRefusal, WrongAbiMajorIsRefusedNamingBothVersionsAndTheRule) {
    auto r = run_launcher({"--describe", plugin_path("abi_major")});
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, kAbiMismatch) << r.err;
    EXPECT_THAT(r.err, HasSubstr("plugin ABI 2.0"));
    EXPECT_THAT(r.err, HasSubstr("host ABI " + std::to_string(DE_PLUGIN_ABI_MAJOR) + "." +
                                 std::to_string(DE_PLUGIN_ABI_MINOR)));
    EXPECT_THAT(r.err,
                HasSubstr("rule: plugin major == host major and plugin minor <= host minor"));
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(LoadRefusal, NewerAbiMinorIsRefused) {
    auto r = run_launcher({"--describe", plugin_path("abi_minor")});
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, kAbiMismatch) << r.err;
    const std::string host =
        std::to_string(DE_PLUGIN_ABI_MAJOR) + "." + std::to_string(DE_PLUGIN_ABI_MINOR);
    const std::string plugin =
        std::to_string(DE_PLUGIN_ABI_MAJOR) + "." + std::to_string(DE_PLUGIN_ABI_MINOR + 1);
    EXPECT_THAT(r.err,
                HasSubstr("plugin ABI " + plugin + " is not compatible with host ABI " + host));
}

TEST(LoadRefusal, AbiMismatchIsRefusedInRunModeBeforeTheHandshake) {
    Launcher l({"--plugin", plugin_path("abi_major"), "--instance", "abi-0"});
    auto r = l.wait();
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, kAbiMismatch) << r.err;
    EXPECT_TRUE(l.seen().empty()) << "no Hello may be sent for a refused plugin";
}

TEST(LoadRefusal, MissingEntrySymbol) {
    auto r = run_launcher({"--describe", plugin_path("no_entry")});
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, kLoadFailure);
    EXPECT_THAT(r.err, HasSubstr("entry symbol 'daemoneye_plugin_entry' is not exported"));
}

TEST(LoadRefusal, TruncatedSharedObject) {
    auto path = scratch_plugin("truncated.so");
    std::filesystem::copy_file(plugin_path("good"), path,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(path, std::filesystem::file_size(path) / 3);
    std::filesystem::permissions(path, std::filesystem::perms::owner_all |
                                           std::filesystem::perms::group_read |
                                           std::filesystem::perms::others_read);
    auto r = run_launcher({"--describe", path});
    std::filesystem::remove(path);
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, kLoadFailure) << r.err;
    EXPECT_THAT(r.err, HasSubstr("truncated: segment"));
}

TEST(LoadRefusal, NonElfFile) {
    auto path = scratch_plugin("not_elf.so");
    {
        std::ofstream f(path);
        f << "#!/bin/sh\necho this is not a plugin\n";
    }
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_all | std::filesystem::perms::others_read);
    auto r = run_launcher({"--describe", path});
    std::filesystem::remove(path);
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, kLoadFailure);
    EXPECT_THAT(r.err, HasSubstr("not an ELF shared object"));
}

TEST(LoadRefusal, MissingFile) {
    auto r = run_launcher({"--describe", scratch_plugin("does_not_exist.so")});
    ASSERT_TRUE(r.exited);
    EXPECT_EQ(r.code, kLoadFailure);
    EXPECT_THAT(r.err, HasSubstr("No such file or directory"));
}

TEST(LoadRefusal, InvalidDescriptorNamesTheField) {
    auto r = run_launcher({"--describe", plugin_path("bad_descriptor")});
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, kLoadFailure);
    EXPECT_THAT(r.err, HasSubstr("name 'Bad Name!'"));
}

TEST(LoadRefusal, UngrantedPermissionIsRefused) {
    Launcher l(
        {"--plugin", plugin_path("needs_net"), "--instance", "net-0", "--permission", "proc.read"});
    auto r = l.wait();
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.code, kPermissionRefused);
    EXPECT_THAT(
        r.err,
        HasSubstr("declares permission(s) net.read which were not granted (granted: proc.read)"));
}

TEST(LoadRefusal, UsageErrors) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--plugin", plugin_path("good")},                     // no --instance
             {"--plugin", plugin_path("good"), "--instance", "x"},  // no broker
             {"--describe", plugin_path("good"), "--permission",
              "root.everything"},  // unknown permission
             {"--describe", plugin_path("good"), "--permission",
              "fs.watch"},  // grant without a path
             {"--describe", plugin_path("good"), "--on-violation", "ignore"},
             {"--plugin", plugin_path("good"), "--instance", "bad.instance", "--broker",
              "/nonexistent"},
             {"--no-such-flag"}}) {
        auto r = run_launcher(args);
        ASSERT_TRUE(r.exited);
        EXPECT_EQ(r.code, kUsage) << args.back() << ": " << r.err;
        EXPECT_FALSE(r.err.empty());
    }
}

TEST(LoadRefusal, HelpExitsZero) {
    auto r = run_launcher({"--help"});
    ASSERT_TRUE(r.exited);
    EXPECT_EQ(r.code, 0);
    EXPECT_THAT(r.out, HasSubstr("--no-sandbox"));
    EXPECT_THAT(r.out, HasSubstr("Exit codes"));
}

TEST(Describe, PrintsManifestAndSandboxLayersAsJson) {
    auto r = run_launcher({"--describe", plugin_path("good")});
    ASSERT_TRUE(r.exited) << r.err;
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("\"name\":\"good\""));
    EXPECT_THAT(r.out, HasSubstr("\"abi\":\"" + std::to_string(DE_PLUGIN_ABI_MAJOR) + "." +
                                 std::to_string(DE_PLUGIN_ABI_MINOR) + "\""));
    EXPECT_THAT(r.out, HasSubstr("\"publishes\":[\"events.test.#\"]"));
    EXPECT_THAT(r.out, HasSubstr("\"capabilities\":[\"echo\",\"emit\"]"));
    EXPECT_THAT(r.out, HasSubstr("{\"name\":\"seccomp\",\"applied\":true"));
    EXPECT_THAT(r.out, HasSubstr("{\"name\":\"no_new_privs\",\"applied\":true"));
    EXPECT_THAT(r.out, HasSubstr("\"violations\":[]"));
}

TEST(Describe, NoSandboxSaysSoLoudly) {
    auto r = run_launcher({"--describe", plugin_path("good"), "--no-sandbox"});
    ASSERT_TRUE(r.exited);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("--no-sandbox: the plugin runs UNCONFINED"));
    EXPECT_THAT(r.out, HasSubstr("{\"name\":\"seccomp\",\"applied\":false,\"detail\":\"--no-"
                                 "sandbox (debugging only)\"}"));
}

}  // namespace
}  // namespace daemoneye::launcher::test
