// `daemoneye-cli events tail [PATTERN...] [--count N]`: live events, one per line. With --json
// each line is the event in protobuf's JSON mapping, its payload decoded when the type is known.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <CLI/CLI.hpp>

#include <ctime>
#include <iostream>

#include "agent_client.hpp"
#include "commands.hpp"
#include "daemoneye/bus/v1/bus.pb.h"
#include "daemoneye/events/v1/events.pb.h"

namespace daemoneye::cli {

namespace ipcv1 = daemoneye::ipc::v1;

namespace {

// The payload as JSON when its type is compiled in (events, bus health payloads), else "".
std::string payload_json(const ipcv1::Event& e) {
    const auto* desc =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(e.payload_type());
    if (!desc) return "";
    google::protobuf::DynamicMessageFactory factory;
    std::unique_ptr<google::protobuf::Message> m(factory.GetPrototype(desc)->New());
    if (!m->ParseFromString(e.payload())) return "";
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    if (!google::protobuf::util::MessageToJsonString(*m, &out, o).ok()) return "";
    return out;
}

std::string time_text(std::uint64_t ns) {
    std::time_t t = static_cast<std::time_t>(ns / 1000000000ull);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03llu", buf,
                  static_cast<unsigned long long>((ns / 1000000) % 1000));
    return out;
}

}  // namespace

void register_events(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("events", "Live events from the bus");
    cmd->require_subcommand(1);
    auto patterns = std::make_shared<std::vector<std::string>>();
    auto count = std::make_shared<std::uint64_t>(0);
    auto* tail = cmd->add_subcommand(
        "tail", "Print events matching PATTERN... (default '#') as they arrive");
    tail->add_option("PATTERN", *patterns, "Topic patterns, e.g. 'events.process.#'");
    tail->add_option("-n,--count", *count, "Stop after N events (default: until interrupted)");
    tail->callback([patterns, count, &ctx] {
        // Make sure the event types are linked in for decoding.
        daemoneye::events::v1::ProcessEvent::descriptor();
        daemoneye::bus::v1::CollectorHeartbeat::descriptor();
        daemoneye::ipc::v1::HealthReport::descriptor();
        ipcv1::Request req;
        auto* t = req.mutable_events_tail();
        for (const auto& p : *patterns) t->add_patterns(p);
        t->set_count(*count);
        ctx.exit_code = run_request(
            ctx.options, req,
            [&](const ipcv1::Response& r) {
                if (!r.has_event()) {
                    if (r.final() && !r.message().empty() && !ctx.options.json)
                        std::cerr << r.message() << "\n";
                    return;
                }
                const auto& e = r.event();
                const std::string decoded = payload_json(e);
                if (ctx.options.json) {
                    std::string j = to_json(e);
                    if (!decoded.empty())
                        j = j.substr(0, j.size() - 1) + ",\"decoded\":" + decoded + "}";
                    std::cout << j << "\n";
                } else {
                    std::cout << time_text(e.timestamp().unix_nanos()) << " " << e.topic()
                              << " seq=" << e.correlation().sequence_number()
                              << " from=" << (e.publisher().empty() ? "?" : e.publisher()) << " "
                              << e.payload_type() << " "
                              << (decoded.empty() ? std::to_string(e.payload().size()) + " bytes"
                                                  : decoded)
                              << "\n";
                }
                std::cout.flush();
            },
            std::chrono::milliseconds(-1));
    });
}

}  // namespace daemoneye::cli
