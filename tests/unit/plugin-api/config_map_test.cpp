// Tests plugin-api/include/daemoneye/sdk/config_map.hpp.
#include "daemoneye/sdk/config_map.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

namespace sdk = daemoneye::sdk;

struct Parsed {
    std::uint64_t interval = 0;
    std::size_t keys = 0;
    static sdk::Outcome<Parsed> parse(const sdk::ConfigMap& map) {
        Parsed p;
        p.keys = map.size();
        auto it = map.find("scan_interval_ms");
        if (it == map.end()) return sdk::Failure{"config key 'scan_interval_ms': missing"};
        auto v = sdk::parse_uint(it->first, it->second, 1, 1000);
        if (!v) return sdk::Failure{v.error()};
        p.interval = v.value();
        return p;
    }
};

TEST(ConfigMap, CopiesEveryEntryWithItsFlattenedKey) {
    const sdk::Config config{{"paths.0", "/etc"}, {"paths.1", "/usr"}, {"empty", ""}};
    const sdk::ConfigMap map = sdk::to_map(config);
    EXPECT_EQ(map, (sdk::ConfigMap{{"empty", ""}, {"paths.0", "/etc"}, {"paths.1", "/usr"}}));
    EXPECT_TRUE(sdk::to_map(sdk::Config{}).empty());
}

TEST(ConfigMap, CopiesAHostOwnedConfig) {
    de_kv items[] = {{"a", "1"}, {"b", nullptr}};
    de_config raw{sizeof(de_config), 2, items};
    EXPECT_EQ(sdk::to_map(sdk::Config(&raw)), (sdk::ConfigMap{{"a", "1"}, {"b", ""}}));
}

TEST(ConfigMap, ParseConfigReturnsTheParsedValue) {
    const sdk::Config config{{"scan_interval_ms", "250"}, {"other", "x"}};
    const Parsed p = sdk::parse_config(config, &Parsed::parse);
    EXPECT_EQ(p.interval, 250u);
    EXPECT_EQ(p.keys, 2u);
}

TEST(ConfigMap, ParseConfigAcceptsALambda) {
    const sdk::Config config{{"k", "v"}};
    const std::string v = sdk::parse_config(
        config, [](const sdk::ConfigMap& m) { return sdk::Outcome<std::string>(m.at("k")); });
    EXPECT_EQ(v, "v");
}

TEST(ConfigMap, ParseConfigThrowsConfigErrorWithTheParsersMessage) {
    const sdk::Config config{{"scan_interval_ms", "5000"}};
    try {
        (void)sdk::parse_config(config, &Parsed::parse);
        FAIL() << "no error";
    } catch (const sdk::ConfigError& e) {
        EXPECT_EQ(e.status(), DE_ERR_INVALID_ARGUMENT);
        EXPECT_STREQ(e.what(),
                     "config key 'scan_interval_ms': expected an integer in [1, 1000], got '5000'");
    }
}

}  // namespace
