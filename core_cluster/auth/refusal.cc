#include "core_cluster/auth/refusal.h"

#include <chrono>
#include <mutex>

#include "base/log.h"
#include "base/log_rate_limit.h"
#include "base/metrics.h"

namespace corral::auth {

namespace {

// The per-endpoint counters that came before the unified one, kept for the
// dashboards and tests that read them: "unauthenticated" or "forbidden".
metrics::Counter& legacyCounter(RefusalEndpoint endpoint, RefusalReason reason) {
  std::string label = std::string("reason=\"") +
                      (statusFor(reason) == 401 ? "unauthenticated" : "forbidden") + "\"";
  switch (endpoint) {
    case RefusalEndpoint::kApi:
      return metrics::global().counter(
          "corral_api_auth_refusals_total",
          "v2 API requests refused: no or wrong credentials "
          "(unauthenticated), or a viewer asking for a change (forbidden).",
          label);
    case RefusalEndpoint::kMasterInternal:
      return metrics::global().counter(
          "corral_master_agent_auth_refusals_total",
          "Calls to the master's /internal/* refused: no or wrong agent credential "
          "(unauthenticated), or a principal speaking for another's agent (forbidden).",
          label);
    case RefusalEndpoint::kAgent:
      break;
  }
  return metrics::global().counter(
      "corral_agent_auth_failures_total",
      "Calls to an agent's endpoints refused: no master token or credential, or a wrong one.");
}

metrics::Counter& counter(RefusalEndpoint endpoint, RefusalReason reason) {
  return metrics::global().counter(
      "corral_auth_refusals_total",
      "Requests refused with 401 or 403, by the endpoints that refused and the reason.",
      "endpoint=\"" + std::string(toString(endpoint)) + "\",reason=\"" +
          std::string(toString(reason)) + "\"");
}

struct Limiter {
  std::mutex mu;
  LogRateLimiter limiter;
};

Limiter& limiter() {
  static Limiter l;
  return l;
}

uint64_t steadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

std::string_view toString(RefusalEndpoint endpoint) {
  switch (endpoint) {
    case RefusalEndpoint::kApi:
      return "api";
    case RefusalEndpoint::kMasterInternal:
      return "master_internal";
    case RefusalEndpoint::kAgent:
      return "agent";
  }
  return "unknown";
}

std::string_view toString(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::kNoCredentials:
      return "no_credentials";
    case RefusalReason::kWrongCredentials:
      return "wrong_credentials";
    case RefusalReason::kViewerWrite:
      return "viewer_write";
    case RefusalReason::kNoToken:
      return "no_token";
    case RefusalReason::kWrongToken:
      return "wrong_token";
    case RefusalReason::kNotRegistered:
      return "not_registered";
    case RefusalReason::kWrongPrincipal:
      return "wrong_principal";
  }
  return "unknown";
}

int statusFor(RefusalReason reason) {
  return reason == RefusalReason::kViewerWrite || reason == RefusalReason::kWrongPrincipal ? 403
                                                                                           : 401;
}

void noteRefusal(RefusalEndpoint endpoint, RefusalReason reason, const http::Request& req,
                 std::string_view detail) {
  counter(endpoint, reason).inc();
  legacyCounter(endpoint, reason).inc();
  LogRateLimiter::Verdict v;
  {
    Limiter& l = limiter();
    std::lock_guard lock(l.mu);
    v = l.limiter.admit(req.remoteAddress, steadyMs());
  }
  if (!v.emit) return;
  std::string suppressed = v.suppressed == 0 ? std::string()
                                             : " (" + std::to_string(v.suppressed) +
                                                   " earlier refusal lines from it suppressed)";
  log::warn("{}: refused {} {} from {}: {}{}", toString(endpoint), req.method, req.path,
            req.remoteAddress, detail, suppressed);
}

uint64_t refusalCount(RefusalEndpoint endpoint, RefusalReason reason) {
  return static_cast<uint64_t>(counter(endpoint, reason).value());
}

}  // namespace corral::auth
