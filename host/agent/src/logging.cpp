#include "logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

namespace daemoneye::agent {
namespace {

thread_local std::string t_correlation_id;

void append_time(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    using namespace std::chrono;
    const auto since = msg.time.time_since_epoch();
    const auto secs = duration_cast<seconds>(since);
    const auto micros = duration_cast<microseconds>(since - secs).count();
    std::time_t t = secs.count();
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    dest.append(buf, buf + n);
    fmt::format_to(std::back_inserter(dest), ".{:06}Z", micros);
}

class TextFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        append_time(msg, dest);
        const auto level = spdlog::level::to_string_view(msg.level);
        fmt::format_to(std::back_inserter(dest), " {:<5} ",
                       fmt::string_view(level.data(), level.size()));
        if (!t_correlation_id.empty()) {
            fmt::format_to(std::back_inserter(dest), "[corr={}] ", t_correlation_id);
        }
        dest.append(msg.payload.begin(), msg.payload.end());
        dest.push_back('\n');
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<TextFormatter>();
    }
};

class JsonFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        dest.append(std::string_view("{\"ts\":\""));
        append_time(msg, dest);
        const auto level = spdlog::level::to_string_view(msg.level);
        fmt::format_to(std::back_inserter(dest), "\",\"level\":\"{}\",\"pid\":{}",
                       fmt::string_view(level.data(), level.size()), ::getpid());
        if (!t_correlation_id.empty()) {
            fmt::format_to(std::back_inserter(dest), ",\"correlation_id\":\"{}\"",
                           json_escape(t_correlation_id));
        }
        const std::string text =
            json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
        fmt::format_to(std::back_inserter(dest), ",\"msg\":\"{}\"}}\n", text);
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>();
    }
};

}  // namespace

CorrelationScope::CorrelationScope(std::string id) : previous_(std::move(t_correlation_id)) {
    t_correlation_id = std::move(id);
}
CorrelationScope::~CorrelationScope() {
    t_correlation_id = std::move(previous_);
}

const std::string& current_correlation_id() {
    return t_correlation_id;
}

Status setup_logging(const LoggingConfig& config) {
    spdlog::sink_ptr sink;
    try {
        if (config.file.empty()) {
            sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        } else {
            sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(config.file);
        }
    } catch (const spdlog::spdlog_ex& e) {
        return fail("cannot open log file " + config.file + ": " + e.what());
    }
    if (config.format == LogFormat::Json) {
        sink->set_formatter(std::make_unique<JsonFormatter>());
    } else {
        sink->set_formatter(std::make_unique<TextFormatter>());
    }
    auto logger = std::make_shared<spdlog::logger>("daemoneye-agent", sink);
    logger->set_level(spdlog::level::from_str(config.level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    return {};
}

}  // namespace daemoneye::agent
