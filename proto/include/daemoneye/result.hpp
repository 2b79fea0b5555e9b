// Result<T, E>: the project's one convention for expected failures (bad input, I/O, a peer going
// away, a plugin misbehaving). Impossible states assert instead. Exceptions never cross a layer.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace daemoneye {

// A plain error with a message a person can act on; layers with richer errors use their own E.
struct Error {
    std::string message;
};

template <class E>
struct Unexpected {
    E error;
};

template <class E>
Unexpected<std::decay_t<E>> unexpected(E&& e) {
    return {std::forward<E>(e)};
}

inline Unexpected<Error> fail(std::string message) { return {Error{std::move(message)}}; }

template <class T, class E = Error>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
    template <class G>
    Result(Unexpected<G> u) : v_(std::in_place_index<1>, E(std::move(u.error))) {}  // NOLINT

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { assert(ok()); return std::get<0>(v_); }
    const T& value() const& { assert(ok()); return std::get<0>(v_); }
    T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const E& error() const { assert(!ok()); return std::get<1>(v_); }
    E& error() { assert(!ok()); return std::get<1>(v_); }

private:
    std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
public:
    Result() = default;
    template <class G>
    Result(Unexpected<G> u) : err_(E(std::move(u.error))) {}  // NOLINT

    bool ok() const { return !err_.has_value(); }
    explicit operator bool() const { return ok(); }
    const E& error() const { assert(!ok()); return *err_; }
    E& error() { assert(!ok()); return *err_; }

private:
    std::optional<E> err_;  // success constructs no E (hot paths return Result<void> a lot)
};

using Status = Result<void>;

}  // namespace daemoneye
