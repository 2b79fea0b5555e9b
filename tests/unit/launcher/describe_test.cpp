#include "daemoneye/launcher/describe.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace daemoneye::launcher {
namespace {

TEST(Describe, EscapesJson) {
    EXPECT_EQ(json_escape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
}

TEST(Describe, Layout) {
    Manifest m;
    m.name = "x";
    m.version = "1";
    m.description = "say \"hi\"";
    m.abi_major = 1;
    m.capabilities = {"a", "b"};
    SandboxReport report = {applied("env", "cleared"), not_applied("landlock", "disabled")};
    auto json = describe_json(m, report);
    EXPECT_EQ(
        json,
        "{\"name\":\"x\",\"version\":\"1\",\"abi\":\"1.0\",\"abi_major\":1,\"abi_minor\":0,"
        "\"description\":\"say \\\"hi\\\"\",\"capabilities\":[\"a\",\"b\"],\"permissions\":[],"
        "\"publishes\":[],\"sandbox\":[{\"name\":\"env\",\"applied\":true,\"detail\":\"cleared\"},"
        "{\"name\":\"landlock\",\"applied\":false,\"detail\":\"disabled\"}],\"violations\":[]}");
}

}  // namespace
}  // namespace daemoneye::launcher
