// A typed, owning view of a flattened de_config.
//
// The agent flattens an instance's YAML config: nested maps join with '.', sequence items get
// their index ("paths.0", "paths.1"), an empty sequence is the single entry "paths" = "[]".
// Config copies the entries (so it outlives the ABI call) and offers typed getters whose errors
// name the key and the offending value. Getters throw ConfigError, which the SDK boundary turns
// into DE_ERR_INVALID_ARGUMENT with that message.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemoneye/plugin_api.h"
#include "daemoneye/sdk/error.hpp"

namespace daemoneye::sdk {

class Config {
  public:
    using Entries = std::map<std::string, std::string, std::less<>>;

    Config() = default;

    // Copies a host-owned de_config. Entries with a NULL key are ignored; a NULL value reads as "".
    explicit Config(const de_config* config) {
        if (config == nullptr || config->items == nullptr) return;
        for (std::size_t i = 0; i < config->count; ++i) {
            const de_kv& kv = config->items[i];
            if (kv.key == nullptr) continue;
            entries_.insert_or_assign(kv.key, kv.value != nullptr ? kv.value : "");
        }
    }

    explicit Config(Entries entries) : entries_(std::move(entries)) {}

    Config(std::initializer_list<std::pair<const std::string, std::string>> entries)
        : entries_(entries) {}

    // ---------------------------------------------------------------- raw access

    bool has(std::string_view key) const { return entries_.find(key) != entries_.end(); }

    std::optional<std::string_view> find(std::string_view key) const {
        auto it = entries_.find(key);
        if (it == entries_.end()) return std::nullopt;
        return std::string_view(it->second);
    }

    const Entries& entries() const { return entries_; }
    bool empty() const { return entries_.empty(); }
    std::size_t size() const { return entries_.size(); }

    // ---------------------------------------------------------------- strings

    std::string get_string(std::string_view key) const { return std::string(required(key)); }

    std::string get_string(std::string_view key, std::string_view fallback) const {
        return std::string(find(key).value_or(fallback));
    }

    // ---------------------------------------------------------------- integers

    // Decimal (or 0x-prefixed hex) integer that fits T; "1_000" and "1e3" are rejected.
    template <std::integral T = std::int64_t>
    requires(!std::same_as<T, bool>) T get_int(std::string_view key)
    const { return parse_int<T>(key, required(key)); }

    template <std::integral T = std::int64_t>
    requires(!std::same_as<T, bool>) T get_int(std::string_view key, T fallback)
    const {
        auto value = find(key);
        return value ? parse_int<T>(key, *value) : fallback;
    }

    // As get_int, and also checks min <= value <= max.
    template <std::integral T = std::int64_t>
    requires(!std::same_as<T, bool>) T get_int_in(std::string_view key, T fallback, T min, T max)
    const {
        T value = get_int<T>(key, fallback);
        if (value < min || value > max) {
            throw ConfigError(describe(key) + ": " + std::to_string(value) + " is out of range [" +
                              std::to_string(min) + ", " + std::to_string(max) + "]");
        }
        return value;
    }

    // ---------------------------------------------------------------- booleans

    // true/false, yes/no, on/off, 1/0 (case-insensitive), as YAML writes them.
    bool get_bool(std::string_view key) const { return parse_bool(key, required(key)); }

    bool get_bool(std::string_view key, bool fallback) const {
        auto value = find(key);
        return value ? parse_bool(key, *value) : fallback;
    }

    // ---------------------------------------------------------------- lists

    // The scalar items of a sequence: "key.0", "key.1", ... in index order. An absent key or
    // "[]" is an empty list; a plain scalar "key" = "x" is the one-item list {"x"}. Errors: a gap
    // in the indices, or items that are maps ("key.0.name"; use list_size + subtree for those).
    std::vector<std::string> get_list(std::string_view key) const {
        std::vector<std::string> items;
        if (auto scalar = find(key)) {
            if (*scalar == "[]" || scalar->empty()) return items;
            items.emplace_back(*scalar);
            return items;
        }
        std::size_t count = list_size(key);
        for (std::size_t i = 0; i < count; ++i) {
            std::string item_key = std::string(key) + "." + std::to_string(i);
            auto value = find(item_key);
            if (!value) {
                throw ConfigError(describe(item_key) +
                                  " is a map, not a scalar (read it with subtree(\"" + item_key +
                                  "\"))");
            }
            items.emplace_back(*value);
        }
        return items;
    }

    // Number of items of the sequence `key` (0 when absent). Throws when indices have a gap.
    std::size_t list_size(std::string_view key) const {
        std::vector<std::size_t> indices;
        std::string prefix = std::string(key) + ".";
        for (auto it = entries_.lower_bound(prefix);
             it != entries_.end() && std::string_view(it->first).starts_with(prefix); ++it) {
            std::string_view rest = std::string_view(it->first).substr(prefix.size());
            std::string_view level = rest.substr(0, rest.find('.'));
            std::size_t index = 0;
            auto [end, ec] = std::from_chars(level.data(), level.data() + level.size(), index);
            if (ec != std::errc() || end != level.data() + level.size()) {
                throw ConfigError(describe(key) + " is a map, not a sequence (found key '" +
                                  it->first + "')");
            }
            indices.push_back(index);
        }
        std::sort(indices.begin(), indices.end());
        indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
        for (std::size_t i = 0; i < indices.size(); ++i) {
            if (indices[i] != i) {
                throw ConfigError(describe(key) + ": item " + std::to_string(i) + " is missing");
            }
        }
        return indices.size();
    }

    // The entries below `prefix`, with "prefix." stripped: subtree("hash") of
    // {"hash.max_bytes": "1024"} is {"max_bytes": "1024"}.
    Config subtree(std::string_view prefix) const {
        Entries out;
        std::string dotted = std::string(prefix) + ".";
        for (auto it = entries_.lower_bound(dotted);
             it != entries_.end() && std::string_view(it->first).starts_with(dotted); ++it) {
            out.emplace(it->first.substr(dotted.size()), it->second);
        }
        return Config(std::move(out));
    }

    // ---------------------------------------------------------------- validation

    // Throws ConfigError naming the first key that is neither one of `known` nor below one of
    // them ("paths" allows "paths.0"). Call it in the constructor so typos fail loudly.
    void reject_unknown(std::initializer_list<std::string_view> known) const {
        for (const auto& [key, value] : entries_) {
            bool ok = std::any_of(known.begin(), known.end(), [&](std::string_view k) {
                return key == k || (key.size() > k.size() && std::string_view(key).starts_with(k) &&
                                    key[k.size()] == '.');
            });
            if (!ok) {
                std::string list;
                for (std::string_view k : known)
                    list += (list.empty() ? "" : ", ") + std::string(k);
                throw ConfigError("unknown config key '" + key + "' (known: " + list + ")");
            }
        }
    }

  private:
    static std::string describe(std::string_view key) {
        return "config key '" + std::string(key) + "'";
    }

    std::string_view required(std::string_view key) const {
        auto value = find(key);
        if (!value) throw ConfigError(describe(key) + " is required but missing");
        return *value;
    }

    template <class T>
    static T parse_int(std::string_view key, std::string_view text) {
        std::string_view digits = text;
        bool negative = false;
        if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
            negative = digits.front() == '-';
            digits.remove_prefix(1);
        }
        int base = 10;
        if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
            base = 16;
            digits.remove_prefix(2);
        }
        unsigned long long magnitude = 0;
        auto [end, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
        auto bad = [&](std::string_view why) {
            return ConfigError(describe(key) + ": expected " + std::string(why) + ", got '" +
                               std::string(text) + "'");
        };
        if (digits.empty() || ec == std::errc::invalid_argument ||
            end != digits.data() + digits.size()) {
            throw bad("an integer");
        }
        std::string range = "an integer in [" + std::to_string(std::numeric_limits<T>::min()) +
                            ", " + std::to_string(std::numeric_limits<T>::max()) + "]";
        if (ec == std::errc::result_out_of_range) throw bad(range);
        if (negative) {
            if constexpr (std::is_unsigned_v<T>) {
                if (magnitude != 0) throw bad(range);
                return 0;
            } else {
                using U = std::make_unsigned_t<T>;
                auto limit = static_cast<unsigned long long>(
                    static_cast<U>(std::numeric_limits<T>::max()) + 1U);
                if (magnitude > limit) throw bad(range);
                return static_cast<T>(0 - static_cast<U>(magnitude));
            }
        }
        if (magnitude > static_cast<unsigned long long>(std::numeric_limits<T>::max())) {
            throw bad(range);
        }
        return static_cast<T>(magnitude);
    }

    static bool parse_bool(std::string_view key, std::string_view text) {
        std::string lower(text);
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") return true;
        if (lower == "false" || lower == "no" || lower == "off" || lower == "0") return false;
        throw ConfigError(describe(key) + ": expected a boolean (true/false), got '" +
                          std::string(text) + "'");
    }

    Entries entries_;
};

}  // namespace daemoneye::sdk
