// procmond's Result: an expected value or a reason a person can act on. The plugin is built only
// against plugin-api/, so it carries this small type itself instead of the host's result.hpp; the
// convention is the same (likely failures return a value the caller must look at).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace procmond {

struct Failure {
    std::string reason;
};

inline Failure failure(std::string reason) {
    return Failure{std::move(reason)};
}

template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value)
        : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Failure f)
        : v_(std::in_place_index<1>, std::move(f)) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const std::string& reason() const {
        assert(!ok());
        return std::get<1>(v_).reason;
    }

  private:
    std::variant<T, Failure> v_;
};

}  // namespace procmond
