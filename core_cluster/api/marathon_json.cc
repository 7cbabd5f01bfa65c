#include "core_cluster/api/marathon_json.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace corral::api {

namespace {

void appendString(std::string& out, std::string_view s) {
  // Ids, hosts, states and versions are validated plain text; escape anyway
  // when something unusual shows up.
  bool plain = true;
  for (unsigned char c : s) plain &= c >= 0x20 && c != '"' && c != '\\' && c < 0x7f;
  if (plain) {
    out += '"';
    out += s;
    out += '"';
  } else {
    out += dumpJson(Json(std::string(s)));
  }
}

void appendTime(std::string& out, int64_t ms) {
  if (ms) {
    out += '"';
    out += isoTime(ms);
    out += '"';
  } else {
    out += "null";
  }
}

void appendInts(std::string& out, const std::vector<int>& v) {
  out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  out += ']';
}

}  // namespace

void appendTaskJson(std::string& out, const master::TaskRecord& t, bool appHasHealthChecks) {
  out += "{\"id\":";
  appendString(out, t.id);
  out += ",\"appId\":";
  appendString(out, t.appId);
  out += ",\"host\":";
  appendString(out, t.host);
  out += ",\"slaveId\":";
  appendString(out, t.agentId);
  out += ",\"state\":";
  appendString(out, conf::toString(t.state));
  out += ",\"ports\":";
  appendInts(out, t.ports);
  out += ",\"servicePorts\":";
  appendInts(out, t.servicePorts);
  out += ",\"stagedAt\":";
  appendTime(out, t.stagedAtMs);
  out += ",\"startedAt\":";
  appendTime(out, t.startedAtMs);
  out += ",\"version\":";
  appendString(out, t.version);
  out += ",\"ipAddresses\":[{\"ipAddress\":";
  appendString(out, t.host);
  out += ",\"protocol\":\"IPv4\"}],\"localVolumes\":[],\"healthCheckResults\":[";
  if (appHasHealthChecks && t.healthy.has_value()) {
    out += "{\"alive\":";
    out += *t.healthy ? "true" : "false";
    out += ",\"consecutiveFailures\":" + std::to_string(t.consecutiveFailures);
    out += ",\"firstSuccess\":";
    appendTime(out, t.firstSuccessMs);
    out += ",\"lastFailure\":";
    appendTime(out, t.lastFailureMs);
    out += ",\"lastSuccess\":";
    appendTime(out, t.lastSuccessMs);
    out += ",\"lastFailureCause\":";
    if (t.lastFailureCause.empty()) {
      out += "null";
    } else {
      appendString(out, t.lastFailureCause);
    }
    out += ",\"taskId\":";
    appendString(out, t.id);
    out += ",\"instanceId\":";
    appendString(out, t.id);
    out += '}';
  }
  out += "]}";
}

std::string tasksJsonText(const scheduler::ServiceScheduler& s,
                          const std::vector<const master::TaskRecord*>& tasks) {
  std::string out = "{\"tasks\":[";
  out.reserve(tasks.size() * 400 + 16);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (i) out += ',';
    const auto* app = s.app(tasks[i]->appId);
    appendTaskJson(out, *tasks[i], app && !app->def.healthChecks.empty());
  }
  out += "]}";
  return out;
}

std::string appJsonText(const scheduler::ServiceScheduler& s, const scheduler::AppState& app,
                        bool embedTasks, bool embedCounts, bool embedDeployments,
                        bool embedLastTaskFailure) {
  std::string out = dumpJson(s.appJson(app, embedCounts, embedDeployments, embedLastTaskFailure));
  if (!embedTasks) return out;
  auto tasks = s.tasksOf(app.def.id);
  out.pop_back();  // the closing '}'
  out.reserve(out.size() + tasks.size() * 400 + 16);
  out += ",\"tasks\":[";
  bool checks = !app.def.healthChecks.empty();
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (i) out += ',';
    appendTaskJson(out, *tasks[i], checks);
  }
  out += "]}";
  return out;
}

}  // namespace corral::api
