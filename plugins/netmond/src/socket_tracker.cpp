#include "socket_tracker.hpp"

namespace daemoneye::netmond {
namespace {

void append_bytes(std::string& k, const void* p, size_t n) {
    k.append(static_cast<const char*>(p), n);
}

}  // namespace

std::string listener_key(const SocketEntry& s) {
    std::string k;
    k.reserve(20);
    k.push_back(static_cast<char>(s.transport));
    k.push_back(static_cast<char>(s.family));
    append_bytes(k, s.local_addr.data(), s.local_addr.size());
    append_bytes(k, &s.local_port, sizeof s.local_port);
    return k;
}

std::string connection_key(const SocketEntry& s) {
    std::string k = listener_key(s);
    append_bytes(k, s.remote_addr.data(), s.remote_addr.size());
    append_bytes(k, &s.remote_port, sizeof s.remote_port);
    return k;
}

SocketChanges SocketTracker::update(const std::vector<ObservedSocket>& now) {
    std::unordered_map<std::string, ObservedSocket> conns, listens;
    conns.reserve(now.size());
    for (const auto& o : now) {
        if (is_connection(o.entry))
            conns.try_emplace(connection_key(o.entry), o);
        else if (is_listener(o.entry))
            listens.try_emplace(listener_key(o.entry), o);
    }
    SocketChanges changes;
    if (primed_) {
        for (const auto& [k, o] : conns)
            if (!connections_.contains(k)) changes.opened.push_back(o);
        for (const auto& [k, o] : connections_)
            if (!conns.contains(k)) changes.closed.push_back(o);
        for (const auto& [k, o] : listens)
            if (!listeners_.contains(k)) changes.listen_started.push_back(o);
        for (const auto& [k, o] : listeners_)
            if (!listens.contains(k)) changes.listen_stopped.push_back(o);
    }
    // Keep the owner we knew if the new scan could not resolve it (the owner exited, fd passed).
    for (auto& [k, o] : conns) {
        if (o.owner) continue;
        if (auto it = connections_.find(k); it != connections_.end()) o.owner = it->second.owner;
    }
    connections_ = std::move(conns);
    listeners_ = std::move(listens);
    primed_ = true;
    return changes;
}

}  // namespace daemoneye::netmond
