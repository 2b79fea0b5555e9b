// spdlog setup: human text or JSON lines, to stderr or a file. A correlation id in scope (an RPC
// or IPC request being handled) is added to every line logged while it is set.
#pragma once

#include <string>

#include "daemoneye/agent/config.hpp"
#include "daemoneye/json_escape.hpp"
#include "daemoneye/result.hpp"

namespace daemoneye::agent {

Status setup_logging(const LoggingConfig& config);

// Sets the correlation id of log lines written on this thread until destroyed. Use around
// synchronous code only (never across a co_await: another coroutine would inherit it).
class CorrelationScope {
  public:
    explicit CorrelationScope(std::string correlation_id);
    ~CorrelationScope();
    CorrelationScope(const CorrelationScope&) = delete;
    CorrelationScope& operator=(const CorrelationScope&) = delete;

  private:
    std::string previous_;
};

const std::string& current_correlation_id();

using daemoneye::json_escape;  // for log lines and CLI output

}  // namespace daemoneye::agent
