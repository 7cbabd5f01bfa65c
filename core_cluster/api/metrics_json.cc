#include "core_cluster/api/metrics_json.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <map>
#include <vector>

namespace corral::api {

namespace {

struct Sample {
  std::string name;
  std::string labels;  // without braces
  double value = 0;
};

Result<Sample> parseSample(std::string_view line) {
  Sample s;
  size_t brace = line.find('{');
  size_t space = line.rfind(' ');
  if (space == std::string_view::npos || space == 0) {
    return makeError(ErrorKind::kInvalid, "metrics line without a value: " + std::string(line));
  }
  if (brace != std::string_view::npos && brace < space) {
    size_t close = line.rfind('}', space);
    if (close == std::string_view::npos || close < brace) {
      return makeError(ErrorKind::kInvalid,
                       "metrics line with unclosed labels: " + std::string(line));
    }
    s.name = line.substr(0, brace);
    s.labels = line.substr(brace + 1, close - brace - 1);
  } else {
    s.name = line.substr(0, space);
  }
  std::string v(line.substr(space + 1));
  if (v == "+Inf") {
    s.value = INFINITY;
  } else {
    char* end = nullptr;
    s.value = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') {
      return makeError(ErrorKind::kInvalid, "metrics line with a bad value: " + std::string(line));
    }
  }
  return s;
}

std::string keyOf(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : name + "{" + labels + "}";
}

bool endsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Splits le="x" off a bucket's labels: the rest names the series.
std::pair<std::string, double> splitLe(const std::string& labels) {
  size_t at = labels.find("le=\"");
  if (at == std::string::npos) return {labels, INFINITY};
  size_t end = labels.find('"', at + 4);
  std::string le = labels.substr(at + 4, end - at - 4);
  std::string rest = labels.substr(0, at);
  if (end + 1 < labels.size()) rest += labels.substr(end + 2);
  if (!rest.empty() && rest.back() == ',') rest.pop_back();
  return {rest, le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr)};
}

struct HistogramSeries {
  std::vector<std::pair<double, double>> buckets;  // upper bound, cumulative count
  double sum = 0;
  double count = 0;
};

double quantile(const HistogramSeries& h, double q) {
  if (h.count <= 0) return 0;
  double target = q * h.count;
  double lastFinite = 0;
  for (const auto& [bound, cumulative] : h.buckets) {
    if (std::isfinite(bound)) lastFinite = bound;
    if (cumulative >= target) return std::isfinite(bound) ? bound : lastFinite;
  }
  return lastFinite;
}

// Buckets keep no single values: each observation is taken to sit at its
// bucket's upper bound (the last finite bound past the last one).
double stddev(const HistogramSeries& h, double mean) {
  if (h.count <= 1) return 0;
  double previous = 0, lastFinite = 0, squares = 0;
  for (const auto& [bound, cumulative] : h.buckets) {
    if (std::isfinite(bound)) lastFinite = bound;
    double n = cumulative - previous;
    previous = cumulative;
    double d = lastFinite - mean;
    squares += n * d * d;
  }
  return std::sqrt(squares / h.count);
}

Json histogramJson(const HistogramSeries& h) {
  Json j;
  j["count"] = static_cast<int64_t>(h.count);
  double mean = h.count > 0 ? h.sum / h.count : 0;
  j["mean"] = mean;
  j["min"] = h.count > 0 ? quantile(h, 0) : 0;
  j["max"] = quantile(h, 1);
  j["p50"] = quantile(h, 0.5);
  j["p75"] = quantile(h, 0.75);
  j["p95"] = quantile(h, 0.95);
  j["p98"] = quantile(h, 0.98);
  j["p99"] = quantile(h, 0.99);
  j["p999"] = quantile(h, 0.999);
  j["stddev"] = stddev(h, mean);
  return j;
}

}  // namespace

Result<Json> codahaleMetrics(std::string_view text) {
  std::map<std::string, std::string> types;  // family -> counter/gauge/histogram
  Json gauges = Json::object(), counters = Json::object();
  std::map<std::string, HistogramSeries> histograms;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.empty()) continue;
    if (line[0] == '#') {
      constexpr std::string_view kType = "# TYPE ";
      if (line.substr(0, kType.size()) == kType) {
        std::string_view rest = line.substr(kType.size());
        size_t sp = rest.find(' ');
        if (sp != std::string_view::npos)
          types[std::string(rest.substr(0, sp))] = rest.substr(sp + 1);
      }
      continue;
    }
    auto s = parseSample(line);
    if (!s.ok()) return s.error();
    // Histogram series are name_bucket / name_sum / name_count of a histogram family.
    bool handled = false;
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (!endsWith(s->name, suffix)) continue;
      std::string family = s->name.substr(0, s->name.size() - suffix.size());
      auto t = types.find(family);
      if (t == types.end() || t->second != "histogram") continue;
      if (suffix == "_bucket") {
        auto [labels, le] = splitLe(s->labels);
        histograms[keyOf(family, labels)].buckets.emplace_back(le, s->value);
      } else if (suffix == "_sum") {
        histograms[keyOf(family, s->labels)].sum = s->value;
      } else {
        histograms[keyOf(family, s->labels)].count = s->value;
      }
      handled = true;
      break;
    }
    if (handled) continue;
    auto t = types.find(s->name);
    if (t != types.end() && t->second == "counter") {
      counters[keyOf(s->name, s->labels)] = Json{{"count", static_cast<int64_t>(s->value)}};
    } else {
      gauges[keyOf(s->name, s->labels)] = Json{{"value", s->value}};
    }
  }
  Json hist = Json::object();
  for (const auto& [key, h] : histograms) hist[key] = histogramJson(h);
  Json j;
  j["version"] = "4.0.0";
  j["gauges"] = std::move(gauges);
  j["counters"] = std::move(counters);
  j["histograms"] = std::move(hist);
  j["meters"] = Json::object();
  j["timers"] = Json::object();
  return j;
}

MetricsFormat metricsFormatFor(std::string_view accept, std::string_view formatParam) {
  if (formatParam == "prometheus") return MetricsFormat::kPrometheusText;
  if (formatParam == "json") return MetricsFormat::kMarathonJson;
  if (accept.find("text/plain") != std::string_view::npos ||
      accept.find("application/openmetrics-text") != std::string_view::npos) {
    return MetricsFormat::kPrometheusText;
  }
  return MetricsFormat::kMarathonJson;
}

}  // namespace corral::api
