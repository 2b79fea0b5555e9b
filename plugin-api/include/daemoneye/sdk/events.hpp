// Default topics of the daemoneye.events.v1 payloads, so `emitter.emit(event)` picks the topic.
//
// Needs the plugin's own generated copy of proto/daemoneye/events/v1/events.proto (shipped with
// the SDK; `daemoneye_add_plugin(... EVENTS)` generates it). The topic of an event follows its
// kind; pass a topic explicitly to `Emitter::emit(topic, message)` to publish elsewhere.
//
//   ProcessEvent  SNAPSHOT/STARTED/EXITED/EXEC -> events.process.lifecycle
//                 METADATA_CHANGED             -> events.process.metadata
//                 PARENT_CHANGED               -> events.process.tree
//                 INTEGRITY                    -> events.process.integrity
//                 ANOMALY                      -> events.process.anomaly
//   ProcessBatch                               -> events.process.batch
//   NetworkEvent  LISTEN_STARTED/STOPPED       -> events.network.listeners
//                 other kinds                  -> events.network.connections
//   SocketBatch                                -> events.network.snapshot
//   FileEvent     CREATED/MODIFIED/DELETED/    -> events.filesystem.created/modified/deleted/
//                 MOVED/ATTRIB/OVERFLOW           moved/attrib/overflow
//   FileBatch                                  -> events.filesystem.batch
//   Alert                                      -> events.detection.alert
#pragma once

#include "daemoneye/events/v1/events.pb.h"

namespace daemoneye::events::v1 {

// Found by argument-dependent lookup from daemoneye::sdk::Emitter::emit(message).
inline const char* topic_for(const ProcessEvent& event) {
    switch (event.kind()) {
        case PROCESS_EVENT_KIND_METADATA_CHANGED:
            return "events.process.metadata";
        case PROCESS_EVENT_KIND_PARENT_CHANGED:
            return "events.process.tree";
        case PROCESS_EVENT_KIND_INTEGRITY:
            return "events.process.integrity";
        case PROCESS_EVENT_KIND_ANOMALY:
            return "events.process.anomaly";
        default:
            return "events.process.lifecycle";
    }
}
inline const char* topic_for(const ProcessBatch&) {
    return "events.process.batch";
}

inline const char* topic_for(const NetworkEvent& event) {
    switch (event.kind()) {
        case NETWORK_EVENT_KIND_LISTEN_STARTED:
        case NETWORK_EVENT_KIND_LISTEN_STOPPED:
            return "events.network.listeners";
        default:
            return "events.network.connections";
    }
}
inline const char* topic_for(const SocketBatch&) {
    return "events.network.snapshot";
}

inline const char* topic_for(const FileEvent& event) {
    switch (event.kind()) {
        case FILE_EVENT_KIND_CREATED:
            return "events.filesystem.created";
        case FILE_EVENT_KIND_MODIFIED:
            return "events.filesystem.modified";
        case FILE_EVENT_KIND_DELETED:
            return "events.filesystem.deleted";
        case FILE_EVENT_KIND_MOVED:
            return "events.filesystem.moved";
        case FILE_EVENT_KIND_ATTRIB:
            return "events.filesystem.attrib";
        case FILE_EVENT_KIND_OVERFLOW:
            return "events.filesystem.overflow";
        default:
            return "events.filesystem.unknown";
    }
}
inline const char* topic_for(const FileBatch&) {
    return "events.filesystem.batch";
}

inline const char* topic_for(const Alert&) {
    return "events.detection.alert";
}

}  // namespace daemoneye::events::v1
