#include "netmond_collector.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>

namespace daemoneye::netmond {
namespace {

uint64_t thread_cpu_us() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

constexpr size_t kSnapshotBatch = 256;  // sockets per SocketBatch message on the first scan

}  // namespace

Outcome<SocketFilter> SocketFilter::parse(const std::map<std::string, std::string>& params) {
    SocketFilter f;
    for (const auto& [key, value] : params) {
        if (key == "state") {
            const uint8_t s = state_from_name(value);
            if (s == 0)
                return Failure{"task parameter 'state': unknown socket state '" + value + "'"};
            f.state = s;
        } else if (key == "port") {
            auto v = parse_uint(key, value, 0, 65535);
            if (!v) return Failure{"task parameter 'port': expected 0..65535, got '" + value + "'"};
            f.port = static_cast<uint16_t>(v.value());
        } else if (key == "pid") {
            auto v = parse_uint(key, value, 1, UINT32_MAX);
            if (!v)
                return Failure{"task parameter 'pid': expected a process id, got '" + value + "'"};
            f.pid = static_cast<uint32_t>(v.value());
        } else if (key == "transport") {
            if (value == "tcp")
                f.transport = Transport::Tcp;
            else if (value == "udp")
                f.transport = Transport::Udp;
            else
                return Failure{"task parameter 'transport': expected tcp or udp, got '" + value +
                               "'"};
        } else {
            return Failure{"task parameter '" + key +
                           "': unknown (use state, port, pid, transport)"};
        }
    }
    return f;
}

bool SocketFilter::matches(const ObservedSocket& s) const {
    if (state && s.entry.state != *state) return false;
    if (port && s.entry.local_port != *port && s.entry.remote_port != *port) return false;
    if (pid && (!s.owner || s.owner->pid != *pid)) return false;
    if (transport && s.entry.transport != *transport) return false;
    return true;
}

events::v1::SocketInfo to_proto(const ObservedSocket& s) {
    events::v1::SocketInfo p;
    p.set_transport(s.entry.transport == Transport::Tcp ? events::v1::TRANSPORT_TCP
                                                        : events::v1::TRANSPORT_UDP);
    p.set_family(s.entry.family);
    p.set_local_address(format_address(s.entry.family, s.entry.local_addr));
    p.set_local_port(s.entry.local_port);
    p.set_remote_address(format_address(s.entry.family, s.entry.remote_addr));
    p.set_remote_port(s.entry.remote_port);
    p.set_state(std::string(state_name(s.entry.transport, s.entry.state)));
    p.set_uid(s.entry.uid);
    p.set_inode(s.entry.inode);
    if (s.owner) {
        p.set_pid(s.owner->pid);
        p.set_process_name(s.owner->name);
        p.set_exe(s.owner->exe);
    }
    return p;
}

NetmondCollector::NetmondCollector(CollectorIo io, NetmondConfig config)
    : io_(std::move(io)),
      config_(config),
      reader_(std::make_unique<SocketTableReader>(config.source)),
      resolver_("/proc", io_.socket_owners) {}

NetmondCollector::~NetmondCollector() {
    stop();
}

void NetmondCollector::start() {
    std::lock_guard lock(run_mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void NetmondCollector::stop() {
    {
        std::lock_guard lock(run_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void NetmondCollector::run() {
    std::unique_lock lock(run_mutex_);
    while (!stopping_) {
        lock.unlock();
        scan_once();
        lock.lock();
        std::chrono::milliseconds interval;
        {
            std::lock_guard cfg(scan_mutex_);
            interval = config_.scan_interval;
        }
        wake_.wait_for(lock, interval, [this] { return stopping_; });
    }
}

void NetmondCollector::reconfigure(const NetmondConfig& config) {
    std::lock_guard lock(scan_mutex_);
    if (config.source != config_.source)
        reader_ = std::make_unique<SocketTableReader>(config.source);
    config_ = config;
    wake_.notify_all();
}

std::vector<ObservedSocket> NetmondCollector::read_current() {
    const auto report = reader_->read(config_.include_udp, rows_);
    errors_ += report.malformed + report.tables_failed;
    last_tables_failed_ = report.tables_failed;
    if (!report.first_error.empty() && report.first_error != last_error_) {
        last_error_ = report.first_error;
        if (io_.log) io_.log(report.tables_failed ? DE_LOG_WARN : DE_LOG_DEBUG, last_error_);
    }
    if (config_.resolve_owners) {
        std::vector<uint64_t> inodes;
        inodes.reserve(rows_.size());
        for (const auto& r : rows_) inodes.push_back(r.inode);
        resolver_.refresh(inodes);
    }
    std::vector<ObservedSocket> out;
    out.reserve(rows_.size());
    for (const auto& r : rows_)
        out.push_back(
            {r, r.inode != 0 && config_.resolve_owners ? resolver_.owner(r.inode) : nullptr});
    return out;
}

void NetmondCollector::emit(const char* topic, const char* type, const std::string& bytes) {
    if (closed_) return;
    switch (io_.emit(topic, type, bytes)) {
        case DE_OK:
            ++emitted_;
            break;
        case DE_ERR_BACKPRESSURE:
            ++dropped_;
            break;
        case DE_ERR_CLOSED:
            closed_ = true;
            break;
        default:
            ++errors_;
            break;
    }
}

void NetmondCollector::emit_event(const char* topic, events::v1::NetworkEventKind kind,
                                  const ObservedSocket& s) {
    events::v1::NetworkEvent ev;
    ev.set_kind(kind);
    *ev.mutable_socket() = to_proto(s);
    ev.set_observed_unix_nanos(io_.now_unix_nanos ? io_.now_unix_nanos() : 0);
    emit(topic, kNetworkEventType, ev.SerializeAsString());
}

void NetmondCollector::scan_once() {
    std::lock_guard lock(scan_mutex_);
    const auto wall0 = std::chrono::steady_clock::now();
    const uint64_t cpu0 = thread_cpu_us();
    const auto now = read_current();
    const bool first = !tracker_.primed();
    const auto changes = tracker_.update(now);
    last_sockets_ = now.size();
    ++scans_;
    last_scan_cpu_us_ = thread_cpu_us() - cpu0;
    last_scan_wall_us_ =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::steady_clock::now() - wall0)
                                  .count());

    if (first) {
        // One snapshot in batches instead of an "opened" flood.
        events::v1::SocketBatch batch;
        for (const auto& s : now) {
            if (!is_connection(s.entry) && !is_listener(s.entry)) continue;
            *batch.add_sockets() = to_proto(s);
            if (static_cast<size_t>(batch.sockets_size()) == kSnapshotBatch) {
                emit(kSnapshotTopic, kSocketBatchType, batch.SerializeAsString());
                batch.clear_sockets();
            }
        }
        if (batch.sockets_size() > 0)
            emit(kSnapshotTopic, kSocketBatchType, batch.SerializeAsString());
        return;
    }
    using K = events::v1::NetworkEventKind;
    for (const auto& s : changes.listen_started)
        emit_event(kListenersTopic, K::NETWORK_EVENT_KIND_LISTEN_STARTED, s);
    for (const auto& s : changes.listen_stopped)
        emit_event(kListenersTopic, K::NETWORK_EVENT_KIND_LISTEN_STOPPED, s);
    for (const auto& s : changes.opened)
        emit_event(kConnectionsTopic, K::NETWORK_EVENT_KIND_OPENED, s);
    for (const auto& s : changes.closed)
        emit_event(kConnectionsTopic, K::NETWORK_EVENT_KIND_CLOSED, s);
}

std::vector<ObservedSocket> NetmondCollector::list_connections(const SocketFilter& filter) {
    std::lock_guard lock(scan_mutex_);
    std::vector<ObservedSocket> out;
    for (auto& s : read_current()) {
        // With an explicit state, any socket in it (TIME_WAIT included); otherwise live
        // connections.
        const bool wanted = filter.state.has_value() || is_connection(s.entry);
        if (wanted && filter.matches(s)) out.push_back(std::move(s));
    }
    return out;
}

std::vector<ObservedSocket> NetmondCollector::list_listeners(const SocketFilter& filter) {
    std::lock_guard lock(scan_mutex_);
    std::vector<ObservedSocket> out;
    for (auto& s : read_current())
        if (is_listener(s.entry) && filter.matches(s)) out.push_back(std::move(s));
    return out;
}

CollectorHealth NetmondCollector::health() const {
    std::lock_guard lock(scan_mutex_);
    CollectorHealth h;
    const auto& ws = resolver_.stats();
    const bool partial = last_tables_failed_ > 0 || ws.pids_unreadable > 0 ||
                         ws.host_failures > 0 || !config_.resolve_owners;
    h.state = last_tables_failed_ > 0 ? DE_HEALTH_DEGRADED : DE_HEALTH_HEALTHY;
    h.errors = errors_;
    h.detail = "mode=" + reader_->mode_name() + "\nview=" + (partial ? "partial" : "full") +
               "\neuid=" + std::to_string(::geteuid()) + "\nscans=" + std::to_string(scans_) +
               "\nsockets=" + std::to_string(last_sockets_) +
               "\nconnections=" + std::to_string(tracker_.connection_count()) +
               "\nlisteners=" + std::to_string(tracker_.listener_count()) +
               "\nemitted=" + std::to_string(emitted_) + "\ndropped=" + std::to_string(dropped_) +
               "\nerrors=" + std::to_string(errors_) +
               "\nunreadable_pids=" + std::to_string(ws.pids_unreadable) +
               "\nowner_walks=" + std::to_string(ws.walks) +
               "\nowner_source=" + (resolver_.uses_host() ? "host" : "proc") +
               "\nowner_host_failures=" + std::to_string(ws.host_failures) +
               "\nlast_scan_us=" + std::to_string(last_scan_wall_us_) +
               "\nlast_scan_cpu_us=" + std::to_string(last_scan_cpu_us_);
    if (!last_error_.empty()) h.detail += "\nlast_error=" + last_error_;
    return h;
}

}  // namespace daemoneye::netmond
