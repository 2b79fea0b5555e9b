// Tests plugin-api/include/daemoneye/sdk/config.hpp.
#include "daemoneye/sdk/config.hpp"

#include <gtest/gtest.h>

namespace {

using daemoneye::sdk::Config;
using daemoneye::sdk::ConfigError;

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.status(), DE_ERR_INVALID_ARGUMENT);
        return e.what();
    }
    return "(no error)";
}

TEST(Config, CopiesAHostConfig) {
    std::string key = "scan_interval_ms", value = "250";
    de_kv items[] = {{key.c_str(), value.c_str()}, {nullptr, "ignored"}, {"empty", nullptr}};
    de_config raw{sizeof(de_config), 3, items};
    Config config(&raw);
    key = "overwritten";
    value = "0";
    EXPECT_EQ(config.get_int("scan_interval_ms"), 250);
    EXPECT_EQ(config.get_string("empty"), "");
    EXPECT_EQ(config.size(), 2u);
    EXPECT_TRUE(Config(static_cast<const de_config*>(nullptr)).empty());
}

TEST(Config, StringsWithAndWithoutDefaults) {
    Config config{{"mode", "netlink"}};
    EXPECT_EQ(config.get_string("mode"), "netlink");
    EXPECT_EQ(config.get_string("missing", "proc"), "proc");
    EXPECT_EQ(error_of([&] { (void)config.get_string("missing"); }),
              "config key 'missing' is required but missing");
}

TEST(Config, IntegersAreRangeCheckedAndErrorsNameKeyAndValue) {
    Config config{{"a", "42"},      {"neg", "-7"},  {"hex", "0x10"},
                  {"bad", "12abc"}, {"big", "300"}, {"huge", "99999999999999999999999"},
                  {"empty", ""}};
    EXPECT_EQ(config.get_int("a"), 42);
    EXPECT_EQ(config.get_int<int>("neg"), -7);
    EXPECT_EQ(config.get_int<unsigned>("hex"), 16u);
    EXPECT_EQ(config.get_int<int>("missing", 5), 5);
    EXPECT_EQ(error_of([&] { (void)config.get_int("bad"); }),
              "config key 'bad': expected an integer, got '12abc'");
    EXPECT_EQ(error_of([&] { (void)config.get_int<std::uint8_t>("big"); }),
              "config key 'big': expected an integer in [0, 255], got '300'");
    EXPECT_EQ(error_of([&] { (void)config.get_int<unsigned>("neg"); }),
              "config key 'neg': expected an integer in [0, 4294967295], got '-7'");
    EXPECT_NE(error_of([&] { (void)config.get_int("huge"); }).find("expected an integer in"),
              std::string::npos);
    EXPECT_EQ(error_of([&] { (void)config.get_int("empty"); }),
              "config key 'empty': expected an integer, got ''");
    EXPECT_EQ(config.get_int<std::int8_t>("neg"), -7);
    EXPECT_EQ((Config{{"m", "-128"}}.get_int<std::int8_t>("m")), -128);
    EXPECT_EQ(error_of([&] { (void)config.get_int_in<int>("a", 0, 1, 10); }),
              "config key 'a': 42 is out of range [1, 10]");
}

TEST(Config, Booleans) {
    Config config{{"t", "True"}, {"y", "yes"}, {"off", "off"}, {"z", "0"}, {"bad", "maybe"}};
    EXPECT_TRUE(config.get_bool("t"));
    EXPECT_TRUE(config.get_bool("y"));
    EXPECT_FALSE(config.get_bool("off"));
    EXPECT_FALSE(config.get_bool("z"));
    EXPECT_TRUE(config.get_bool("missing", true));
    EXPECT_EQ(error_of([&] { (void)config.get_bool("bad"); }),
              "config key 'bad': expected a boolean (true/false), got 'maybe'");
}

TEST(Config, ListsFromFlattenedSequences) {
    Config config{{"paths.1", "/usr/bin"}, {"paths.0", "/etc"},  {"paths.10", "/x"},
                  {"one", "/tmp"},         {"none", "[]"},       {"gap.0", "a"},
                  {"gap.2", "c"},          {"maps.0.name", "n"}, {"hash.max_bytes", "1"}};
    // paths.10 without 2..9 is a gap.
    EXPECT_EQ(error_of([&] { (void)config.get_list("paths"); }),
              "config key 'paths': item 2 is missing");
    Config ok{{"paths.1", "/usr/bin"}, {"paths.0", "/etc"}};
    EXPECT_EQ(ok.get_list("paths"), (std::vector<std::string>{"/etc", "/usr/bin"}));
    EXPECT_EQ(config.get_list("one"), (std::vector<std::string>{"/tmp"}));
    EXPECT_TRUE(config.get_list("none").empty());
    EXPECT_TRUE(config.get_list("absent").empty());
    EXPECT_EQ(error_of([&] { (void)config.get_list("gap"); }),
              "config key 'gap': item 1 is missing");
    EXPECT_EQ(error_of([&] { (void)config.get_list("maps"); }),
              "config key 'maps.0' is a map, not a scalar (read it with subtree(\"maps.0\"))");
    EXPECT_EQ(config.list_size("maps"), 1u);
    EXPECT_EQ(config.subtree("maps.0").get_string("name"), "n");
    EXPECT_EQ(error_of([&] { (void)config.get_list("hash"); }),
              "config key 'hash' is a map, not a sequence (found key 'hash.max_bytes')");
}

TEST(Config, RejectUnknownNamesTheKey) {
    Config config{{"paths.0", "/etc"}, {"scan_interval_ms", "5"}, {"scan_intervall", "1"}};
    EXPECT_EQ(error_of([&] {
                  config.reject_unknown({"paths", "scan_interval_ms"});
              }),
              "unknown config key 'scan_intervall' (known: paths, scan_interval_ms)");
    EXPECT_NO_THROW((Config{{"paths.0", "/"}}.reject_unknown({"paths"})));
    // "pathsX" is not below "paths".
    EXPECT_THROW((Config{{"pathsX", "/"}}.reject_unknown({"paths"})), ConfigError);
}

}  // namespace
