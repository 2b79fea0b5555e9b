// `daemoneye-cli ipc test`: connects, sends pings of varied sizes (up to near the frame limit),
// checks every echo byte for byte, and reports connect time and round-trip latency.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <random>

#include "agent_client.hpp"
#include "commands.hpp"

namespace daemoneye::cli {

namespace ipcv1 = daemoneye::ipc::v1;
using Clock = std::chrono::steady_clock;

namespace {

int run_ipc_test(int count, const GlobalOptions& options) {
    auto endpoint = resolve_endpoint(options);
    if (!endpoint) return report_failure("ipc test", endpoint.error().message, kExitInvalid);
    const auto timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout_seconds * 1000));
    const auto t0 = Clock::now();
    auto client = AgentClient::connect(*endpoint, timeout);
    if (!client) return report_failure("ipc test", client.error().message, kExitUnavailable);
    const double connect_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();

    static const std::size_t kSizes[] = {0, 1, 64, 1024, 16 * 1024, 256 * 1024, 900 * 1024};
    std::mt19937 rng(12345);
    std::vector<double> lat_us;
    std::size_t bytes = 0;
    int mismatches = 0;
    for (int i = 0; i < count; ++i) {
        std::string echo(kSizes[static_cast<std::size_t>(i) % std::size(kSizes)], '\0');
        for (auto& c : echo) c = static_cast<char>(rng());
        ipcv1::Request req;
        req.mutable_ping()->set_echo(echo);
        const auto s = Clock::now();
        auto resp = client->call(req, timeout);
        if (!resp)
            return report_failure(
                "ipc test", "round trip " + std::to_string(i + 1) + ": " + resp.error().message,
                kExitUnavailable);
        lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
        if (resp->pong().echo() != echo) ++mismatches;
        bytes += echo.size();
    }
    std::sort(lat_us.begin(), lat_us.end());
    auto pct = [&](double p) {
        return lat_us.empty()
                   ? 0.0
                   : lat_us[static_cast<std::size_t>(p * static_cast<double>(lat_us.size() - 1))];
    };
    if (options.json) {
        std::printf(
            "{\"endpoint\":%s,\"connect_us\":%.0f,\"round_trips\":%d,\"bytes_echoed\":%zu,"
            "\"mismatches\":%d,\"latency_us\":{\"min\":%.0f,\"p50\":%.0f,\"p99\":%.0f,\"max\":%.0f}"
            "}\n",
            json_string(*endpoint).c_str(), connect_us, count, bytes, mismatches, pct(0), pct(0.5),
            pct(0.99), pct(1));
    } else {
        std::printf("endpoint:     %s\n", endpoint->c_str());
        std::printf("connect:      %.0f us\n", connect_us);
        std::printf("round trips:  %d (%zu bytes echoed, sizes 0 B .. 900 KiB)\n", count, bytes);
        std::printf("integrity:    %s\n",
                    mismatches ? (std::to_string(mismatches) + " echo(es) differ").c_str()
                               : "every echo identical (CRC-checked frames)");
        std::printf("latency:      min %.0f us, p50 %.0f us, p99 %.0f us, max %.0f us\n", pct(0),
                    pct(0.5), pct(0.99), pct(1));
    }
    return mismatches ? kExitFailed : kExitOk;
}

}  // namespace

void register_ipc(CLI::App& app, Context& ctx) {
    auto* ipc = app.add_subcommand("ipc", "IPC diagnostics");
    ipc->require_subcommand(1);
    auto* test = ipc->add_subcommand(
        "test", "Connect, round trips of varied sizes, latency, frame integrity");
    auto count = std::make_shared<int>(21);
    test->add_option("-n,--count", *count, "Round trips")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    test->callback([count, &ctx] { ctx.exit_code = run_ipc_test(*count, ctx.options); });
}

}  // namespace daemoneye::cli
