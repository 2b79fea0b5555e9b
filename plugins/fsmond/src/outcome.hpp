// A value or an error message a person can act on. Plugins build only against plugin-api/, so
// this is fsmond's own small copy of the project's Result convention.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace daemoneye::fsmond {

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

}  // namespace daemoneye::fsmond
