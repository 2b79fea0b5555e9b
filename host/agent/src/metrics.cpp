#include "metrics.hpp"

#include <cmath>
#include <cstdio>
#include <set>

namespace daemoneye::agent {

void LatencyHistogram::observe(std::chrono::nanoseconds d) {
    const double s = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < kBounds.size() && s > kBounds[i]) ++i;
    ++counts_[i];
    sum_ += s;
    ++count_;
}

void LatencyHistogram::export_to(std::map<std::string, double>& out, const std::string& name,
                                 const std::string& labels) const {
    std::uint64_t cumulative = 0;
    const std::string sep = labels.empty() ? "" : ",";
    for (std::size_t i = 0; i <= kBounds.size(); ++i) {
        cumulative += counts_[i];
        char le[32];
        if (i < kBounds.size())
            std::snprintf(le, sizeof le, "%g", kBounds[i]);
        else
            std::snprintf(le, sizeof le, "+Inf");
        out[name + "_bucket{" + labels + sep + "le=\"" + le + "\"}"] =
            static_cast<double>(cumulative);
    }
    const std::string l = labels.empty() ? "" : "{" + labels + "}";
    out[name + "_sum" + l] = sum_;
    out[name + "_count" + l] = static_cast<double>(count_);
}

std::string render_prometheus(const std::map<std::string, double>& values) {
    std::string out;
    std::set<std::string> typed;
    for (const auto& [key, value] : values) {
        const std::string name = key.substr(0, key.find('{'));
        std::string family = name;
        std::string type = "gauge";
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            const std::string s = suffix;
            // Histograms are the *_latency_seconds families (LatencyHistogram::export_to).
            if (name.size() > s.size() && name.ends_with(s) &&
                name.substr(0, name.size() - s.size()).ends_with("_latency_seconds")) {
                family = name.substr(0, name.size() - s.size());
                type = "histogram";
            }
        }
        if (type != "histogram" && name.ends_with("_total")) type = "counter";
        if (typed.insert(family).second) out += "# TYPE daemoneye_" + family + " " + type + "\n";
        char num[64];
        if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15)
            std::snprintf(num, sizeof num, "%.0f", value);
        else
            std::snprintf(num, sizeof num, "%.9g", value);
        out += "daemoneye_" + key + " " + num + "\n";
    }
    return out;
}

}  // namespace daemoneye::agent
