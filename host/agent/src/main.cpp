// daemoneye-agent: loads the config, sets up logging, runs the agent on one io_context until
// SIGTERM/SIGINT, then stops every collector and removes its sockets.
//
// Exit codes: 0 clean stop / valid config, 1 invalid config, 2 usage error, 3 start failure.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <iostream>

#include "agent.hpp"
#include "daemoneye/agent/config.hpp"
#include "logging.hpp"

namespace asio = boost::asio;
using namespace daemoneye::agent;

int main(int argc, char** argv) {
    CLI::App app{"DaemonEye agent: embedded EventBus broker, collector supervisor, CLI endpoint"};
    std::string config_path;
    std::string check_path;
    app.add_option("-c,--config", config_path, "YAML config (default: built-in defaults)");
    app.add_option("--check-config", check_path, "validate FILE, print errors with lines, exit");
    bool version = false;
    app.add_flag("--version", version, "print the version");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (version) {
        std::puts("daemoneye-agent 0.1.0");
        return 0;
    }
    const auto env = ConfigEnvironment::current();
    if (!check_path.empty()) {
        auto r = load_config(check_path, env);
        if (!r) {
            std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
            return 1;
        }
        std::printf("%s: OK\n", check_path.c_str());
        return 0;
    }
    Config config;
    if (config_path.empty()) {
        config = default_config(env);
    } else {
        auto r = load_config(config_path, env);
        if (!r) {
            std::fprintf(stderr, "%s\ndaemoneye-agent: invalid configuration; not starting\n",
                         r.error().to_string().c_str());
            return 1;
        }
        config = std::move(*r);
    }
    if (auto s = setup_logging(config.logging); !s) {
        std::fprintf(stderr, "daemoneye-agent: %s\n", s.error().message.c_str());
        return 3;
    }
    ::signal(SIGPIPE, SIG_IGN);

    asio::io_context io;
    Agent agent(io, config);
    int exit_code = 0;
    asio::signal_set signals(io, SIGTERM, SIGINT);
    bool stopping = false;

    asio::co_spawn(io, agent.start(), [&](std::exception_ptr ep, daemoneye::Status s) {
        if (ep || !s) {
            const std::string why = ep ? "internal error" : s.error().message;
            spdlog::critical("agent failed to start: {}", why);
            std::fprintf(stderr, "daemoneye-agent: cannot start: %s\n", why.c_str());
            exit_code = 3;
            stopping = true;
            asio::co_spawn(io, agent.shutdown(), [&](std::exception_ptr) {
                signals.cancel();
                io.stop();
            });
            return;
        }
        spdlog::info("daemoneye-agent running (pid {})\n{}", ::getpid(), agent.summary());
    });

    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (stopping) {
                spdlog::warn("{} received again; still stopping collectors", strsignal(sig));
                wait_signal();
                return;
            }
            stopping = true;
            spdlog::info("{} received; stopping", strsignal(sig));
            asio::co_spawn(io, agent.shutdown(), [&](std::exception_ptr) {
                signals.cancel();
                io.stop();
            });
            wait_signal();
        });
    };
    wait_signal();
    io.run();
    return exit_code;
}
