// /metrics for Marathon's clients: the Prometheus text turned into the
// Dropwizard JSON shape, and which requests get which format.
#include "core_cluster/api/metrics_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "base/metrics.h"

namespace corral::api {
namespace {

TEST(MetricsJsonTest, CountersGaugesAndHistogramsInDropwizardShape) {
  metrics::Registry r;
  r.counter("reqs_total", "h", "method=\"GET\"").inc(3);
  r.gauge("open_streams", "h").set(2);
  auto& h = r.histogram("latency_seconds", "h", {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(0.7);
  h.observe(5);
  auto j = codahaleMetrics(r.render());
  ASSERT_TRUE(j.ok()) << j.error().message;
  for (const char* k : {"version", "gauges", "counters", "histograms", "meters", "timers"}) {
    EXPECT_TRUE(j->contains(k)) << k;
  }
  EXPECT_EQ((*j)["counters"]["reqs_total{method=\"GET\"}"]["count"], 3);
  EXPECT_EQ((*j)["gauges"]["open_streams"]["value"], 2.0);
  const Json& lat = (*j)["histograms"]["latency_seconds"];
  EXPECT_EQ(lat["count"], 4);
  EXPECT_NEAR(lat["mean"].get<double>(), (0.05 + 0.5 + 0.7 + 5) / 4, 1e-9);
  EXPECT_EQ(lat["p50"], 1.0) << "the bucket bound holding the median";
  EXPECT_EQ(lat["min"], 0.1);
  EXPECT_EQ(lat["max"], 1.0) << "past the last bound: the last finite bound";
  EXPECT_FALSE((*j)["gauges"].contains("latency_seconds_bucket")) << "buckets are not gauges";
  // Observations taken at 0.1, 1, 1, 1 (the last past the last bound) around the true mean.
  double mean = lat["mean"].get<double>();
  double expected = std::sqrt(((0.1 - mean) * (0.1 - mean) + 3 * (1 - mean) * (1 - mean)) / 4);
  EXPECT_NEAR(lat["stddev"].get<double>(), expected, 1e-9);
}

TEST(MetricsJsonTest, EmptyRegistryAndUnreadableLines) {
  auto empty = codahaleMetrics("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)["counters"].empty());
  for (const char* bad : {"novalue\n", "x{a=\"1\" 1\n", "x abc\n", "x 1.5z\n"}) {
    auto j = codahaleMetrics(bad);
    EXPECT_FALSE(j.ok()) << bad;
  }
}

TEST(MetricsJsonTest, ScrapersGetTextJsonClientsGetJson) {
  using F = MetricsFormat;
  EXPECT_EQ(metricsFormatFor("application/json", ""), F::kMarathonJson);
  EXPECT_EQ(metricsFormatFor("", ""), F::kMarathonJson);
  EXPECT_EQ(metricsFormatFor("*/*", ""), F::kMarathonJson);
  EXPECT_EQ(metricsFormatFor("text/plain;version=0.0.4", ""), F::kPrometheusText);
  EXPECT_EQ(metricsFormatFor("application/openmetrics-text;version=1.0.0,text/plain;q=0.5", ""),
            F::kPrometheusText);
  EXPECT_EQ(metricsFormatFor("application/json", "prometheus"), F::kPrometheusText);
  EXPECT_EQ(metricsFormatFor("text/plain", "json"), F::kMarathonJson);
}

}  // namespace
}  // namespace corral::api
