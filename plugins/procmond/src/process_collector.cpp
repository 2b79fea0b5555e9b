#include "process_collector.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "event_encoding.hpp"

namespace procmond {
namespace {

std::uint64_t thread_cpu_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1000ULL;
}

std::vector<const Process*> sorted_by_pid(const ProcessTable& table) {
    std::vector<const Process*> out;
    out.reserve(table.size());
    for (const auto& [pid, p] : table) out.push_back(&p);
    std::sort(out.begin(), out.end(),
              [](const Process* a, const Process* b) { return a->pid < b->pid; });
    return out;
}

}  // namespace

ProcessCollector::ProcessCollector(Config config, EventSink& sink, std::string proc_root,
                                   PrivilegedProcReader* privileged)
    : sink_(sink),
      proc_root_(std::move(proc_root)),
      privileged_(privileged),
      config_(config),
      diff_(config.anomaly_rules) {}

ProcessCollector::~ProcessCollector() {
    stop();
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

Config ProcessCollector::current_config() const {
    std::lock_guard lock(config_mu_);
    return config_;
}

void ProcessCollector::update_config(const Config& config) {
    {
        std::lock_guard lock(config_mu_);
        config_ = config;
    }
    if (wake_fd_ >= 0) {
        const std::uint64_t one = 1;
        (void)::write(wake_fd_, &one, sizeof one);
    }
}

ScanOptions ProcessCollector::scan_options(const Config& cfg, bool full) const {
    ScanOptions o;
    o.hash_executables = cfg.hash_executables;
    o.max_hash_bytes = cfg.max_hash_bytes;
    o.full_read = full;
    o.refresh_every = cfg.refresh_every_scans;
    return o;
}

Result<Done> ProcessCollector::ensure_scanner() {
    if (scanner_) return Done{};
    auto s = ProcScanner::open(hasher_, users_, proc_root_, privileged_);
    if (!s) return failure(s.reason());
    scanner_ = std::move(*s);
    return Done{};
}

Result<Done> ProcessCollector::start() {
    if (running_) return failure("procmond is already running");
    if (auto ok = ensure_scanner(); !ok) return failure(ok.reason());
    if (wake_fd_ < 0) {
        wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd_ < 0) return failure(std::string("eventfd: ") + std::strerror(errno));
    }
    stopping_ = false;
    running_ = true;
    thread_ = std::thread([this] { worker(); });
    return Done{};
}

void ProcessCollector::stop() {
    if (!running_) return;
    stopping_ = true;
    const std::uint64_t one = 1;
    (void)::write(wake_fd_, &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    running_ = false;
    connector_.reset();
    connector_tried_ = false;
}

void ProcessCollector::try_open_connector(const Config& cfg) {
    if (!cfg.netlink) {
        if (connector_) connector_.reset();
        std::lock_guard lock(status_mu_);
        mode_ = "scan";
        mode_reason_ = "netlink disabled by config";
        connector_tried_ = false;
        return;
    }
    if (connector_ || connector_tried_) return;
    connector_tried_ = true;
    auto c = ProcConnector::open();
    std::lock_guard lock(status_mu_);
    if (c) {
        connector_ = std::move(*c);
        mode_ = "netlink";
        mode_reason_ = "process connector subscribed; scans reconcile";
        sink_.log(EventSink::Level::kInfo, "procmond: netlink process connector active");
    } else {
        mode_ = "scan";
        mode_reason_ = c.reason();
        sink_.log(EventSink::Level::kInfo,
                  "procmond: falling back to /proc scans only: " + c.reason());
    }
}

void ProcessCollector::worker() {
    std::vector<ConnectorEvent> events;
    while (!stopping_) {
        const Config cfg = current_config();
        diff_.set_anomaly_rules(cfg.anomaly_rules);
        try_open_connector(cfg);
        scan_cycle(cfg);

        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.scan_interval_ms);
        while (!stopping_) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd fds[2] = {{wake_fd_, POLLIN, 0},
                             {connector_ ? connector_->fd() : -1, POLLIN, 0}};
            const int n = ::poll(fds, connector_ ? 2 : 1, static_cast<int>(left.count()) + 1);
            if (n < 0 && errno != EINTR) break;
            if (fds[0].revents & POLLIN) {
                std::uint64_t v = 0;
                (void)::read(wake_fd_, &v, sizeof v);
                break;  // stop or new config: re-evaluate now
            }
            if (connector_ && (fds[1].revents & POLLIN)) {
                events.clear();
                const bool complete = connector_->drain(events);
                handle_connector_events(events, cfg);
                if (!complete) {
                    sink_.log(EventSink::Level::kWarn,
                              "procmond: netlink overrun (events lost); rescanning now");
                    break;
                }
            }
        }
    }
}

bool ProcessCollector::poll_connector_now() {
    const Config cfg = current_config();
    if (!ensure_scanner()) return false;
    try_open_connector(cfg);
    if (!connector_) return false;
    std::vector<ConnectorEvent> events;
    const bool complete = connector_->drain(events);
    handle_connector_events(events, cfg);
    if (!complete) scan_cycle(cfg);
    return true;
}

Result<Done> ProcessCollector::scan_now() {
    if (auto ok = ensure_scanner(); !ok) return failure(ok.reason());
    const Config cfg = current_config();
    diff_.set_anomaly_rules(cfg.anomaly_rules);
    scan_cycle(cfg);
    return Done{};
}

void ProcessCollector::account(const ScanStats& stats) {
    vanished_ += stats.vanished;
    denied_ += stats.denied;
    hash_errors_ += stats.hash_errors;
    errors_ += stats.parse_errors;
    if (!stats.last_error.empty()) {
        std::lock_guard lock(status_mu_);
        last_error_ = stats.last_error;
    }
}

void ProcessCollector::scan_cycle(const Config& cfg) {
    const std::uint64_t cpu0 = thread_cpu_us();
    ScanStats stats;
    ProcessTable current = scanner_->scan(scan_options(cfg, !baseline_done_),
                                          baseline_done_ ? &table_ : nullptr, stats);
    if (stats.listed == 0) {
        ++errors_;
        std::lock_guard lock(status_mu_);
        last_error_ = stats.last_error.empty() ? "scan listed no processes" : stats.last_error;
        return;  // keep the previous table rather than reporting every process as exited
    }
    // Processes the connector already reported as exited may linger as zombies until reaped.
    for (auto it = exited_.begin(); it != exited_.end();) {
        auto cur = current.find(it->first);
        if (cur != current.end() && cur->second.start_time_unix_nanos == it->second) {
            current.erase(cur);
            ++it;
        } else {
            it = exited_.erase(it);
        }
    }
    account(stats);
    last_denied_ = stats.denied;
    if (!baseline_done_) {
        table_ = std::move(current);
        baseline_done_ = true;
        publish_snapshot(cfg);
        publish(diff_.baseline(table_));
    } else {
        auto changes = diff_.diff(table_, current);
        table_ = std::move(current);
        publish(changes);
    }
    processes_ = table_.size();
    ++scans_;
    last_cpu_us_ = thread_cpu_us() - cpu0;
}

void ProcessCollector::handle_connector_events(const std::vector<ConnectorEvent>& events,
                                               const Config& cfg) {
    if (!baseline_done_) return;  // the first scan covers everything up to now
    nl_events_ += events.size();
    std::vector<ProcessChange> changes;
    for (const ConnectorEvent& ev : events) {
        auto known = table_.find(ev.pid);
        const Process* prev = known == table_.end() ? nullptr : &known->second;
        if (ev.kind == ConnectorEvent::Kind::kExit) {
            if (!prev) continue;
            exited_[ev.pid] = prev->start_time_unix_nanos;
            diff_.diff_one(prev, nullptr, table_, changes);
            table_.erase(known);
            continue;
        }
        ScanStats stats;
        auto cur = scanner_->read_process(ev.pid, scan_options(cfg, true), stats);
        account(stats);
        Process p;
        if (cur) {
            p = std::move(*cur);
        } else if (ev.kind == ConnectorEvent::Kind::kFork && !prev) {
            // Gone before we could look: still worth a record, with what the kernel told us.
            p.pid = ev.pid;
            p.ppid = ev.ppid;
            p.state = 'X';
        } else {
            continue;
        }
        if (prev && !same_process(*prev, p)) {
            diff_.diff_one(prev, nullptr, table_, changes);
            prev = nullptr;
        }
        Process before;
        if (prev) before = *prev;
        table_[ev.pid] = std::move(p);
        diff_.diff_one(prev ? &before : nullptr, &table_[ev.pid], table_, changes,
                       ev.kind == ConnectorEvent::Kind::kExec);
    }
    processes_ = table_.size();
    publish(changes);
}

bool ProcessCollector::emit(const char* topic, const char* type_name,
                            const google::protobuf::MessageLite& msg) {
    std::string bytes;
    if (!msg.SerializeToString(&bytes)) {
        ++errors_;
        return false;
    }
    // No retry: a full host buffer means the bus is behind; waiting here would only delay the
    // next scan. The loss is counted (and the host counts it too).
    switch (sink_.emit(topic, type_name, bytes)) {
        case EventSink::Status::kOk:
            ++emitted_;
            return true;
        case EventSink::Status::kBackpressure:
            ++dropped_;
            return false;
        case EventSink::Status::kClosed:
            closed_ = true;
            ++dropped_;
            return false;
        case EventSink::Status::kRejected:
            ++errors_;
            ++dropped_;
            return false;
    }
    return false;
}

void ProcessCollector::publish(const std::vector<ProcessChange>& changes) {
    if (changes.empty()) return;
    const std::uint64_t now = sink_.now_unix_nanos();
    for (const auto& c : changes) {
        if (stopping_ && closed_) return;
        emit(topic_of(c.kind), kProcessEventType, to_event(c, now));
    }
}

void ProcessCollector::publish_snapshot(const Config& cfg) {
    for (const auto& batch : to_batches(sorted_by_pid(table_), cfg.batch_size, "")) {
        emit(kTopicBatch, kProcessBatchType, batch);
    }
}

Result<std::vector<Process>> ProcessCollector::enumerate(const ProcessFilter& filter) {
    std::lock_guard lock(task_mu_);
    if (!task_scanner_) {
        auto s = ProcScanner::open(hasher_, users_, proc_root_, privileged_);
        if (!s) return failure(s.reason());
        task_scanner_ = std::move(*s);
    }
    const Config cfg = current_config();
    ScanStats stats;
    ProcessTable table = task_scanner_->scan(scan_options(cfg, true), nullptr, stats);
    account(stats);
    if (stats.listed == 0) return failure("cannot list processes: " + stats.last_error);
    std::vector<Process> out;
    for (const Process* p : sorted_by_pid(table)) {
        if (matches(filter, *p)) out.push_back(*p);
    }
    return out;
}

Result<Process> ProcessCollector::hash_executable(std::int32_t pid) {
    std::lock_guard lock(task_mu_);
    if (!task_scanner_) {
        auto s = ProcScanner::open(hasher_, users_, proc_root_, privileged_);
        if (!s) return failure(s.reason());
        task_scanner_ = std::move(*s);
    }
    ScanOptions o = scan_options(current_config(), true);
    o.hash_executables = true;  // asked for explicitly
    ScanStats stats;
    auto p = task_scanner_->read_process(pid, o, stats);
    if (!p) return p;
    if (p->kernel_thread) return failure("pid " + std::to_string(pid) + " is a kernel thread");
    if (p->exe_sha256.empty()) {
        return failure("pid " + std::to_string(pid) + ": executable not hashed: " +
                       (p->hash_error.empty() ? std::string("exe unreadable (permission denied?)")
                                              : p->hash_error));
    }
    return p;
}

Result<std::vector<Process>> ProcessCollector::process_tree(std::int32_t pid) {
    auto all = enumerate(ProcessFilter{});
    if (!all) return failure(all.reason());
    ProcessTable table;
    for (auto& p : *all) table.emplace(p.pid, std::move(p));
    auto tree = procmond::process_tree(table, pid);
    if (!tree) return failure(tree.reason());
    std::vector<Process> out;
    for (const Process* p : *tree) out.push_back(*p);
    return out;
}

ProcessCollector::Counters ProcessCollector::counters() const {
    Counters c;
    c.scans = scans_;
    c.events_emitted = emitted_;
    c.events_dropped = dropped_;
    c.errors = errors_;
    c.skipped_vanished = vanished_;
    c.skipped_denied = denied_;
    c.hash_errors = hash_errors_;
    c.netlink_events = nl_events_;
    c.processes = processes_;
    c.last_scan_cpu_us = last_cpu_us_;
    c.kthread_renames = diff_.kthread_renames();
    return c;
}

std::string ProcessCollector::mode() const {
    std::lock_guard lock(status_mu_);
    return mode_;
}

CollectorHealth ProcessCollector::health() const {
    CollectorHealth h;
    const Counters c = counters();
    h.errors = c.errors;
    std::lock_guard lock(status_mu_);
    if (closed_) h.state = CollectorHealth::State::kDegraded;
    if (running_ && c.scans == 0 && !last_error_.empty()) {
        h.state = CollectorHealth::State::kUnhealthy;
    }
    const auto hs = hasher_.stats();
    auto add = [&](const char* key, std::string value) {
        h.detail.emplace_back(key, std::move(value));
    };
    add("mode", mode_);
    add("mode_reason", mode_reason_);
    add("view", last_denied_ > 0 ? "partial" : "full");
    add("processes", std::to_string(c.processes));
    add("scans", std::to_string(c.scans));
    add("last_scan_cpu_us", std::to_string(c.last_scan_cpu_us));
    add("events_emitted", std::to_string(c.events_emitted));
    add("events_dropped", std::to_string(c.events_dropped));
    add("errors", std::to_string(c.errors));
    add("skipped_vanished", std::to_string(c.skipped_vanished));
    add("unreadable_denied", std::to_string(c.skipped_denied));
    add("hash_errors", std::to_string(c.hash_errors));
    add("hashes_computed", std::to_string(hs.computed));
    add("hash_cache_hits", std::to_string(hs.cache_hits));
    add("netlink_events", std::to_string(c.netlink_events));
    add("kthread_renames_ignored", std::to_string(c.kthread_renames));
    if (!last_error_.empty()) add("last_error", last_error_.substr(0, 200));
    return h;
}

}  // namespace procmond
