// Counters, gauges and latency histograms, and their Prometheus text rendering (the
// node_exporter textfile collector's format). Values live in a flat map whose keys are already
// Prometheus series names with labels: `ipc_requests_total{kind="ping"}`.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace daemoneye::agent {

class LatencyHistogram {
  public:
    // Upper bounds in seconds (cumulative buckets, plus +Inf).
    static constexpr std::array<double, 10> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                       0.025,  0.05,  0.1,    0.5,   2.5};
    void observe(std::chrono::nanoseconds d);
    // Adds name_bucket{...,le=".."}, name_sum, name_count to `out` (labels: `k="v"` or "").
    void export_to(std::map<std::string, double>& out, const std::string& name,
                   const std::string& labels) const;

  private:
    std::array<std::uint64_t, kBounds.size() + 1> counts_{};
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

// "# TYPE" lines are derived from the name: *_total counter, *_bucket/_sum/_count histogram,
// anything else gauge. Every name gets the daemoneye_ prefix.
std::string render_prometheus(const std::map<std::string, double>& values);

}  // namespace daemoneye::agent
