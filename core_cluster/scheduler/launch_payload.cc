#include "core_cluster/scheduler/launch_payload.h"

#include <nlohmann/json.hpp>

namespace corral::scheduler {

namespace {

Json healthCheckPayload(const conf::HealthCheck& hc) {
  Json c;
  using P = conf::HealthCheckProtocol;
  switch (hc.protocol) {
    case P::kHttp:
    case P::kMesosHttp:
      c["protocol"] = "HTTP";
      break;
    case P::kHttps:
    case P::kMesosHttps:
      c["protocol"] = "HTTPS";
      break;
    case P::kTcp:
    case P::kMesosTcp:
      c["protocol"] = "TCP";
      break;
    case P::kCommand:
      c["protocol"] = "COMMAND";
      break;
  }
  c["path"] = hc.path.value_or("/");
  c["portIndex"] = hc.portIndex.value_or(0);
  if (hc.port) c["port"] = *hc.port;
  if (hc.command) c["command"] = *hc.command;
  c["gracePeriodSeconds"] = hc.gracePeriodSeconds;
  c["intervalSeconds"] = hc.intervalSeconds;
  c["timeoutSeconds"] = hc.timeoutSeconds;
  c["maxConsecutiveFailures"] = hc.maxConsecutiveFailures;
  c["delaySeconds"] = hc.delaySeconds;
  c["ignoreHttp1xx"] = hc.ignoreHttp1xx;
  return c;
}

}  // namespace

Json launchPayload(const conf::AppDefinition& d) {
  Json j;
  if (d.cmd) j["cmd"] = *d.cmd;
  if (d.args) j["args"] = *d.args;
  j["env"] = d.env;
  Json names = Json::array();
  for (const auto& pd : d.portDefinitions) names.push_back(pd.name.value_or(""));
  j["portNames"] = names;
  Json fetch = Json::array();
  for (const auto& f : d.fetch) {
    Json e;
    e["uri"] = f.uri;
    e["extract"] = f.extract;
    e["executable"] = f.executable;
    if (f.destPath) e["destPath"] = *f.destPath;
    fetch.push_back(e);
  }
  j["fetch"] = fetch;
  Json checks = Json::array();
  for (const auto& hc : d.healthChecks) checks.push_back(healthCheckPayload(hc));
  j["healthChecks"] = checks;
  if (d.taskKillGracePeriodSeconds) j["killGracePeriodSeconds"] = *d.taskKillGracePeriodSeconds;
  if (d.user && !d.user->empty()) j["user"] = *d.user;
  return j;
}

}  // namespace corral::scheduler
