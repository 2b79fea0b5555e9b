// Plain procmond records -> daemoneye.events.v1 protobuf payloads and their topics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemoneye/events/v1/events.pb.h"
#include "diff_engine.hpp"
#include "process.hpp"

namespace procmond {

inline constexpr const char* kTopicLifecycle = "events.process.lifecycle";
inline constexpr const char* kTopicMetadata = "events.process.metadata";
inline constexpr const char* kTopicTree = "events.process.tree";
inline constexpr const char* kTopicIntegrity = "events.process.integrity";
inline constexpr const char* kTopicAnomaly = "events.process.anomaly";
inline constexpr const char* kTopicBatch = "events.process.batch";
inline constexpr const char* kProcessEventType = "daemoneye.events.v1.ProcessEvent";
inline constexpr const char* kProcessBatchType = "daemoneye.events.v1.ProcessBatch";

void to_proto(const Process& p, daemoneye::events::v1::ProcessInfo* out);

const char* topic_of(ChangeKind kind);

daemoneye::events::v1::ProcessEvent to_event(const ProcessChange& change,
                                             std::uint64_t observed_unix_nanos);

// Splits processes into ProcessBatch messages of at most batch_size each (at least one batch,
// possibly empty, so a consumer always learns the count).
std::vector<daemoneye::events::v1::ProcessBatch> to_batches(const std::vector<const Process*>& ps,
                                                            std::uint32_t batch_size,
                                                            const std::string& task_id);

}  // namespace procmond
