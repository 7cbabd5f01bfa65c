#include "base/metrics.h"

#include <gtest/gtest.h>

namespace corral::metrics {

TEST(Metrics, RendersPrometheusText) {
  Registry r;
  r.counter("corral_requests_total", "Requests.", "code=\"200\"").inc(3);
  r.gauge("corral_apps", "Apps.").set(2);
  r.gaugeFn("corral_up", "Up.", [] { return 1.0; });
  r.histogram("corral_latency_seconds", "Latency.", {0.1, 1}).observe(0.5);
  std::string text = r.render();
  EXPECT_NE(text.find("# TYPE corral_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("corral_requests_total{code=\"200\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("corral_apps 2"), std::string::npos);
  EXPECT_NE(text.find("corral_up 1"), std::string::npos);
  EXPECT_NE(text.find("corral_latency_seconds_bucket{le=\"1\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("corral_latency_seconds_count 1"), std::string::npos);
}

TEST(Metrics, EscapesLabels) { EXPECT_EQ(escapeLabel("a\"b\\"), "a\\\"b\\\\"); }

}  // namespace corral::metrics
