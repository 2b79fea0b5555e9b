#include "change_coalescer.hpp"

#include <algorithm>

namespace daemoneye::fsmond {
namespace {

bool debounced(Kind k) {
    return k == events::v1::FILE_EVENT_KIND_CREATED || k == events::v1::FILE_EVENT_KIND_MODIFIED ||
           k == events::v1::FILE_EVENT_KIND_ATTRIB;
}

// What a burst is, when it mixes kinds: created wins (the file is new), then modified.
Kind merge(Kind pending, Kind incoming) {
    if (pending == events::v1::FILE_EVENT_KIND_CREATED) return pending;
    if (incoming == events::v1::FILE_EVENT_KIND_CREATED) return incoming;
    if (pending == events::v1::FILE_EVENT_KIND_MODIFIED) return pending;
    return incoming;
}

}  // namespace

ChangeCoalescer::ChangeCoalescer(std::chrono::milliseconds window, unsigned max_delay_factor)
    : window_(window), max_delay_factor_(std::max(1u, max_delay_factor)) {}

Clock::time_point ChangeCoalescer::due(const Pending& p) const {
    return std::min(p.last + window_, p.first + window_ * max_delay_factor_);
}

void ChangeCoalescer::flush_path(const std::string& path, std::vector<ReadyChange>& ready) {
    const auto it = pending_.find(path);
    if (it == pending_.end()) return;
    ready.push_back({std::move(it->second.change), it->second.count});
    pending_.erase(it);
}

void ChangeCoalescer::add(Change c, Clock::time_point now, std::vector<ReadyChange>& ready) {
    if (c.kind == events::v1::FILE_EVENT_KIND_OVERFLOW) {
        flush_all(ready);
        ready.push_back({std::move(c), 1});
        return;
    }
    if (!debounced(c.kind) || window_.count() == 0) {
        flush_path(c.path, ready);
        if (!c.old_path.empty()) flush_path(c.old_path, ready);
        ready.push_back({std::move(c), 1});
        return;
    }
    auto [it, inserted] = pending_.try_emplace(c.path);
    Pending& p = it->second;
    if (inserted) {
        p.change = std::move(c);
        p.first = now;
        p.order = next_order_++;
        deadlines_.emplace(now + window_, it->first);
    } else {
        p.change.kind = merge(p.change.kind, c.kind);
        p.change.is_dir = p.change.is_dir || c.is_dir;
        if (p.change.detail.empty()) p.change.detail = std::move(c.detail);
    }
    ++p.count;
    p.last = now;
}

void ChangeCoalescer::flush_due(Clock::time_point now, std::vector<ReadyChange>& ready) {
    std::vector<std::pair<uint64_t, std::string>> due_paths;
    while (!deadlines_.empty() && deadlines_.top().first <= now) {
        auto [when, path] = deadlines_.top();
        deadlines_.pop();
        const auto it = pending_.find(path);
        if (it == pending_.end()) continue;  // flushed early by a delete/move/overflow
        const auto real = due(it->second);
        if (real <= now)
            due_paths.emplace_back(it->second.order, std::move(path));
        else
            deadlines_.emplace(real, std::move(path));
    }
    std::sort(due_paths.begin(), due_paths.end());  // first seen, first reported
    for (const auto& [order, path] : due_paths) flush_path(path, ready);
}

void ChangeCoalescer::flush_all(std::vector<ReadyChange>& ready) {
    std::vector<std::pair<uint64_t, std::string>> all;
    for (const auto& [path, p] : pending_) all.emplace_back(p.order, path);
    std::sort(all.begin(), all.end());
    for (const auto& [order, path] : all) flush_path(path, ready);
    deadlines_ = {};
}

std::optional<Clock::time_point> ChangeCoalescer::next_deadline() const {
    // May be earlier than the real next deadline (a stale entry): the caller then wakes up, and
    // flush_due re-queues it. Never later.
    if (deadlines_.empty()) return std::nullopt;
    return deadlines_.top().first;
}

}  // namespace daemoneye::fsmond
