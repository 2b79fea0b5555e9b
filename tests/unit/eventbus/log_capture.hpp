// Captures spdlog's default logger for a test's lifetime: every line with its time and level.
// The previous default logger is restored when the capture goes away.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace daemoneye::eventbus::test {

class LogCapture {
  public:
    struct Line {
        std::chrono::steady_clock::time_point at;
        spdlog::level::level_enum level;
        std::string text;
    };

    explicit LogCapture(spdlog::level::level_enum level = spdlog::level::debug)
        : previous_(spdlog::default_logger()), sink_(std::make_shared<Sink>()) {
        auto logger = std::make_shared<spdlog::logger>("test-capture", sink_);
        logger->set_level(level);
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    const std::vector<Line>& lines() const { return sink_->lines; }

  private:
    struct Sink : spdlog::sinks::base_sink<std::mutex> {
        std::vector<Line> lines;
        void sink_it_(const spdlog::details::log_msg& msg) override {
            lines.push_back({std::chrono::steady_clock::now(), msg.level,
                             std::string(msg.payload.data(), msg.payload.size())});
        }
        void flush_() override {}
    };
    std::shared_ptr<spdlog::logger> previous_;
    std::shared_ptr<Sink> sink_;
};

}  // namespace daemoneye::eventbus::test
