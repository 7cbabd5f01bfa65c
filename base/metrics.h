// A Prometheus metrics registry: counters, gauges and simple histograms,
// rendered in the text exposition format for /metrics.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace corral::metrics {

class Counter {
 public:
  void inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  std::string render(const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// Labels are given pre-rendered without braces, e.g. `method="GET",code="200"`.
class Registry {
 public:
  Counter& counter(const std::string& name, const std::string& help,
                   const std::string& labels = "");
  Gauge& gauge(const std::string& name, const std::string& help, const std::string& labels = "");
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                       const std::string& labels = "");
  // A gauge computed when scraped. An owner that goes away first must call
  // removeOwner(owner) so that no scrape runs a function into a dead object.
  void gaugeFn(const std::string& name, const std::string& help, std::function<double()> fn,
               const std::string& labels = "", const void* owner = nullptr);
  void removeOwner(const void* owner);
  // Extra text appended verbatim (for subsystems that render their own families).
  void textFn(std::function<std::string()> fn);
  std::string render() const;

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    std::map<std::string, std::pair<const void*, std::function<double()>>> fns;
  };
  Family& family(const std::string& name, const std::string& help, const char* type);
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<std::function<std::string()>> textFns_;
};

// The process-wide registry that /metrics renders.
Registry& global();

// Escapes a label value for the text format.
std::string escapeLabel(const std::string& v);

}  // namespace corral::metrics
