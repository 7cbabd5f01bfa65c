// Marathon serves /metrics as Dropwizard (codahale) JSON, which its clients
// parse (python3-marathon's get_metrics()); Prometheus scrapers want the text
// format. corral keeps one registry and renders it as text; this turns that
// text into Marathon's JSON shape for the JSON clients.
#pragma once

#include <string>
#include <string_view>

#include "base/json.h"
#include "base/result.h"

namespace corral::api {

// {"version":"4.0.0","gauges":{name:{"value":v}},"counters":{name:{"count":n}},
//  "histograms":{name:{"count","mean","min","max","p50",...,"p999","stddev"}},
//  "meters":{},"timers":{}}. A labelled sample is named name{labels}.
// Histogram percentiles are the upper bound of the bucket holding them;
// stddev takes each observation at its bucket's upper bound.
// An unreadable sample line is an error naming it.
Result<Json> codahaleMetrics(std::string_view prometheusText);

// Whether a /metrics request asks for the Prometheus text format: an
// Accept of text/plain or OpenMetrics, or ?format=prometheus.
enum class MetricsFormat { kPrometheusText, kMarathonJson };
MetricsFormat metricsFormatFor(std::string_view accept, std::string_view formatParam);

}  // namespace corral::api
