// Glue between sdk::Config and config parsers written against a plain flattened map (the style
// sdk::Outcome supports): `to_map` copies the entries into a std::map<std::string, std::string>,
// and `parse_config` runs such a parser and turns its Failure into the ConfigError the SDK maps to
// DE_ERR_INVALID_ARGUMENT at the ABI boundary, message unchanged.
//
//     MyConfig cfg = sdk::parse_config(config, &MyConfig::parse);  // Outcome<MyConfig>(map)
#pragma once

#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <utility>

#include "daemoneye/sdk/config.hpp"
#include "daemoneye/sdk/error.hpp"
#include "daemoneye/sdk/outcome.hpp"

namespace daemoneye::sdk {

using ConfigMap = std::map<std::string, std::string>;

// Every entry of `config`, keys as flattened by the host ("paths.0", "scan_interval_ms").
inline ConfigMap to_map(const Config& config) {
    return ConfigMap(config.entries().begin(), config.entries().end());
}

// Calls `parse(to_map(config))`, which must return an Outcome<T>; returns the T, or throws
// ConfigError carrying the parser's message.
template <class Parser>
requires std::is_invocable_v<Parser, const ConfigMap&>
auto parse_config(const Config& config, Parser&& parse) {
    auto parsed = std::invoke(std::forward<Parser>(parse), to_map(config));
    if (!parsed) throw ConfigError(parsed.error());
    return std::move(parsed.value());
}

}  // namespace daemoneye::sdk
