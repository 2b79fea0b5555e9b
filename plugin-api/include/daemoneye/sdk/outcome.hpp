// Outcome<T>: a value or an error message a person can act on, for plugin code that prefers
// returned errors to the exceptions sdk::Config throws (the SDK turns those into a de_status at
// the ABI boundary either way). Plus non-throwing parsers for flattened config values.
#pragma once

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace daemoneye::sdk {

struct Failure {
    std::string message;
};

template <class T>
class [[nodiscard]] Outcome {
  public:
    Outcome(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
    Outcome(Failure f) : v_(std::in_place_index<1>, std::move(f)) {}    // NOLINT
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() {
        assert(ok());
        return std::get<0>(v_);
    }
    const T& value() const {
        assert(ok());
        return std::get<0>(v_);
    }
    const std::string& error() const {
        assert(!ok());
        return std::get<1>(v_).message;
    }

  private:
    std::variant<T, Failure> v_;
};

// "true/yes/on/1" or "false/no/off/0", any case; the error names the key and the value.
inline Outcome<bool> parse_bool(const std::string& key, const std::string& value) {
    std::string v = value;
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
    if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "false" || v == "no" || v == "off" || v == "0") return false;
    return Failure{"config key '" + key + "': expected true or false, got '" + value + "'"};
}

// A decimal integer in [min, max]; the error names the key, the range and the value.
inline Outcome<std::uint64_t> parse_uint(const std::string& key, const std::string& value,
                                         std::uint64_t min, std::uint64_t max) {
    std::uint64_t v = 0;
    bool ok = !value.empty() && value.size() <= 19;
    for (char c : value) {
        if (c < '0' || c > '9') {
            ok = false;
            break;
        }
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (!ok || v < min || v > max) {
        return Failure{"config key '" + key + "': expected an integer in [" + std::to_string(min) +
                       ", " + std::to_string(max) + "], got '" + value + "'"};
    }
    return v;
}

}  // namespace daemoneye::sdk
