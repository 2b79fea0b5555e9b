// Diffs consecutive scans into opened/closed connections and started/stopped listeners.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "socket_entry.hpp"
#include "socket_owner_resolver.hpp"

namespace daemoneye::netmond {

struct ObservedSocket {
    SocketEntry entry;
    std::shared_ptr<const ProcessRef> owner;  // nullptr: unknown
};

struct SocketChanges {
    std::vector<ObservedSocket> opened, closed, listen_started, listen_stopped;
    bool empty() const {
        return opened.empty() && closed.empty() && listen_started.empty() && listen_stopped.empty();
    }
};

class SocketTracker {
  public:
    // The first call only remembers (the caller publishes a snapshot); later calls return what
    // changed. Closed/stopped entries carry the owner seen when they were last alive.
    SocketChanges update(const std::vector<ObservedSocket>& now);

    bool primed() const { return primed_; }
    size_t connection_count() const { return connections_.size(); }
    size_t listener_count() const { return listeners_.size(); }

  private:
    // A connection is its 5-tuple; a listener is (transport, family, address, port), so
    // SO_REUSEPORT siblings count as one port that listens.
    std::unordered_map<std::string, ObservedSocket> connections_, listeners_;
    bool primed_ = false;
};

std::string connection_key(const SocketEntry& s);
std::string listener_key(const SocketEntry& s);

}  // namespace daemoneye::netmond
