// Constants of the bus session protocol shared by the broker and its clients.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace daemoneye::eventbus {

// Hello.protocol_version / Welcome.protocol_version. A broker refuses any other version with an
// ERROR_CODE_VERSION error naming both.
inline constexpr std::uint32_t kProtocolVersion = 1;

// Topic of a session's RPC replies: control.rpc.reply.<session>. Replies are routed by the broker
// straight to the requesting session; no other session may subscribe to a reply topic that names
// another session, and nobody may publish to control.rpc.reply.#.
inline constexpr std::string_view kReplyTopicPrefix = "control.rpc.reply.";
std::string reply_topic(std::uint64_t session_id);

// Where the broker posts its own warnings (daemoneye.bus.v1.Diagnostic: a subscriber dropping
// messages, rate-limited per session). Denials are answered to the session, counted and logged.
inline constexpr std::string_view kDiagnosticsTopic = "control.health.diagnostics";
inline constexpr std::string_view kHeartbeatTopic = "control.health.heartbeat";

// The RPC target served by the agent's process manager for a collector, and by one instance's
// launcher bridge.
std::string collector_target(std::string_view collector);
std::string collector_instance_target(std::string_view collector, std::string_view instance);

}  // namespace daemoneye::eventbus
