// sdk_plugin_smoke: loads a built plugin .so with dlopen and drives it through the SDK's test
// host, the way the launcher would (minus sandbox and bus). Used by the SDK integration tests on
// the in-tree C example and on the out-of-tree hello example built against the installed SDK.
//
//   sdk_plugin_smoke PLUGIN.so [--name N] [--config k=v]... [--events N] [--task KIND]
//                              [--update-config k=v]...
// Exit 0 when every step behaved; otherwise 1 with one line per problem on stderr.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "daemoneye/sdk/testing.hpp"

namespace {

namespace testing = daemoneye::sdk::testing;

int usage() {
    std::cerr << "usage: sdk_plugin_smoke PLUGIN.so [--name N] [--config k=v]... [--events N]"
                 " [--task KIND] [--update-config k=v]...\n";
    return 2;
}

bool split(const std::string& kv, testing::KeyValues& out) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) return false;
    out.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    std::string path = argv[1];
    std::string name, task;
    std::size_t events = 0;
    testing::KeyValues config, update;
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        if (i + 1 >= argc) return usage();
        std::string value = argv[++i];
        if (arg == "--name") {
            name = value;
        } else if (arg == "--config") {
            if (!split(value, config)) return usage();
        } else if (arg == "--update-config") {
            if (!split(value, update)) return usage();
        } else if (arg == "--events") {
            events = std::stoul(value);
        } else if (arg == "--task") {
            task = value;
        } else {
            return usage();
        }
    }

    int problems = 0;
    auto check = [&](bool ok, const std::string& what) {
        if (!ok) {
            std::cerr << "FAIL: " << what << "\n";
            ++problems;
        }
        return ok;
    };

    testing::PluginLibrary library(path);
    if (!check(library.ok(), library.error())) return 1;
    const de_plugin_descriptor* d = library.descriptor();
    std::cout << "loaded " << d->name << " " << d->version << " (ABI " << d->abi_major << "."
              << d->abi_minor << "): " << d->description << "\n";
    if (!name.empty())
        check(name == d->name, "name is '" + std::string(d->name) + "', want " + name);
    {
        testing::TestHost host(d, std::string(d->name) + "-0");
        auto created = host.create(config);
        if (!check(created.ok(), "create: " + created.describe())) return 1;
        auto started = host.start();
        check(started.ok(), "start: " + started.describe());
        if (events > 0) {
            check(host.wait_for_events(events, std::chrono::seconds(60)),
                  "fewer than " + std::to_string(events) + " events within 60 s (got " +
                      std::to_string(host.event_count()) + ")");
        }
        if (!task.empty()) {
            auto result = host.run_task(task);
            check(result.ok(), "task " + task + ": " + result.describe());
            check(!result.records.empty(), "task " + task + " returned no records");
            std::cout << "task " << task << ": " << result.records.size() << " record(s) of "
                      << (result.records.empty() ? "-" : result.records[0].type_name) << "\n";
        }
        if (!update.empty()) {
            auto updated = host.update_config(update);
            check(updated.ok(), "on_config: " + updated.describe());
        }
        auto health = host.health();
        check(health.status == DE_OK && health.state == DE_HEALTH_HEALTHY,
              "health: " + std::string(de_status_name(health.status)) + " " + health.detail);
        auto stopped = host.stop();
        check(stopped.ok(), "stop: " + stopped.describe());
        for (const auto& e : host.events()) {
            bool declared = false;
            for (const auto& p : testing::list_of(d->publishes)) {
                declared = declared || daemoneye::sdk::topic::matches(p, e.topic);
            }
            check(declared, "event on undeclared topic " + e.topic);
        }
        for (const auto& v : host.violations()) check(false, "contract: " + v);
        auto all = host.events();
        std::cout << all.size() << " event(s)";
        if (!all.empty()) std::cout << ", first on " << all[0].topic << " as " << all[0].type_name;
        std::cout << "\nhealth: " << health.detail << "\n";
    }  // destroy before the library is unloaded
    if (problems == 0) std::cout << "OK\n";
    return problems == 0 ? 0 : 1;
}
