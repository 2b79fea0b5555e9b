#include "output.hpp"

#include "daemoneye/json_escape.hpp"

namespace daemoneye::cli {

std::string json_string(std::string_view text) {
    return json_quote(text);
}

}  // namespace daemoneye::cli
