// Errors inside a C++ plugin, and the one place they are turned into ABI status codes.
//
// Inside a collector, failures are exceptions: throw daemoneye::sdk::Error(status, message) to
// pick the status the host sees, or any std::exception (reported as DE_ERR_INTERNAL). The SDK's
// trampolines (collector.hpp) catch everything at the C boundary, so no exception ever reaches
// the host; the message lands in the host's de_error.
#pragma once

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "daemoneye/plugin_api.h"

namespace daemoneye::sdk {

// An error with the status the host should see. The message is shown to operators as is, so say
// what failed and where ("config key 'paths.1': not an absolute path").
class Error : public std::runtime_error {
  public:
    Error(de_status status, const std::string& message)
        : std::runtime_error(message), status_(status == DE_OK ? DE_ERR_INTERNAL : status) {}

    de_status status() const noexcept { return status_; }

  private:
    de_status status_;
};

// Bad configuration or task parameters: DE_ERR_INVALID_ARGUMENT.
class ConfigError : public Error {
  public:
    explicit ConfigError(const std::string& message) : Error(DE_ERR_INVALID_ARGUMENT, message) {}
};

namespace detail {

// Writes the concatenated `parts` into a host-owned de_error without allocating, truncating to
// what the struct (as the host compiled it) can hold. Safe with err == nullptr.
inline void write_error(de_error* err, std::initializer_list<std::string_view> parts) noexcept {
    constexpr std::size_t offset = offsetof(de_error, message);
    if (err == nullptr || err->struct_size <= offset) return;
    std::size_t capacity = err->struct_size - offset;
    if (capacity > DE_ERROR_MESSAGE_CAPACITY) capacity = DE_ERROR_MESSAGE_CAPACITY;
    std::size_t used = 0;
    for (std::string_view part : parts) {
        std::size_t n = part.size();
        if (n > capacity - 1 - used) n = capacity - 1 - used;
        std::memcpy(err->message + used, part.data(), n);
        used += n;
    }
    err->message[used] = '\0';
}

// Runs `body` and maps every exception to a status + message. `where` names the entry point
// ("start") for exceptions that are not sdk::Error (an sdk::Error carries a complete message).
template <class Body>
de_status guarded(de_error* err, std::string_view where, Body&& body) noexcept {
    try {
        std::forward<Body>(body)();
        return DE_OK;
    } catch (const Error& e) {
        write_error(err, {e.what()});
        return e.status();
    } catch (const std::bad_alloc&) {
        write_error(err, {where, ": out of memory"});
        return DE_ERR_INTERNAL;
    } catch (const std::exception& e) {
        write_error(err, {where, ": ", e.what()});
        return DE_ERR_INTERNAL;
    } catch (...) {
        write_error(err, {where, ": unknown exception (not derived from std::exception)"});
        return DE_ERR_INTERNAL;
    }
}

}  // namespace detail
}  // namespace daemoneye::sdk
