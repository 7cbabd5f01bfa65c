#include "base/metrics.h"

#include <fmt/format.h>

namespace corral::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::string Histogram::render(const std::string& name, const std::string& labels) const {
  std::string out;
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i].load();
    out +=
        fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, bounds_[i], cumulative);
  }
  cumulative += buckets_[bounds_.size()].load();
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, cumulative);
  std::string lb = labels.empty() ? "" : "{" + labels + "}";
  out +=
      fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, lb, sum_.load(), name, lb, count_.load());
  return out;
}

Registry::Family& Registry::family(const std::string& name, const std::string& help,
                                   const char* type) {
  auto& f = families_[name];
  if (f.type.empty()) {
    f.help = help;
    f.type = type;
  }
  return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help,
                           const std::string& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = family(name, help, "counter").counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help,
                       const std::string& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = family(name, help, "gauge").gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               std::vector<double> bounds, const std::string& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = family(name, help, "histogram").histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

void Registry::gaugeFn(const std::string& name, const std::string& help, std::function<double()> fn,
                       const std::string& labels, const void* owner) {
  std::lock_guard<std::mutex> lock(mu_);
  family(name, help, "gauge").fns[labels] = {owner, std::move(fn)};
}

void Registry::removeOwner(const void* owner) {
  if (owner == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, f] : families_) {
    std::erase_if(f.fns, [owner](const auto& kv) { return kv.second.first == owner; });
  }
}

void Registry::textFn(std::function<std::string()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  textFns_.push_back(std::move(fn));
}

std::string Registry::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto sample = [&](const std::string& name, const std::string& labels, double v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += fmt::format(" {}\n", v);
  };
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const auto& [l, c] : f.counters) sample(name, l, c->value());
    for (const auto& [l, g] : f.gauges) sample(name, l, g->value());
    for (const auto& [l, ofn] : f.fns) sample(name, l, ofn.second());
    for (const auto& [l, h] : f.histograms) out += h->render(name, l);
  }
  for (const auto& fn : textFns_) out += fn();
  return out;
}

Registry& global() {
  static Registry* r = new Registry();
  return *r;
}

std::string escapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace corral::metrics
