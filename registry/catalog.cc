#include "registry/catalog.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace corral::registry {

namespace {

Error fieldError(const std::string& path, const std::string& what, const Json& value) {
  std::string shown = dumpJson(value);
  if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
  return makeError(ErrorKind::kInvalid, path + ": " + what + ", got " + shown, path);
}

// Optional string field: absent or null leaves *out alone.
Status readString(const Json& obj, const char* key, const std::string& path, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (!it->is_string()) return fieldError(path + "/" + key, "expected a string", *it);
  *out = it->get<std::string>();
  return Status::Ok();
}

Status readInt(const Json& obj, const char* key, const std::string& path, int* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (it->is_number_integer()) {
    *out = it->get<int>();
    return Status::Ok();
  }
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (d == static_cast<double>(static_cast<int>(d))) {
      *out = static_cast<int>(d);
      return Status::Ok();
    }
  }
  return fieldError(path + "/" + key, "expected an integer", *it);
}

Status readIntArray(const Json& obj, const char* key, const std::string& path,
                    std::vector<int>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (!it->is_array()) return fieldError(path + "/" + key, "expected an array of integers", *it);
  out->clear();
  out->reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& v = (*it)[i];
    if (!v.is_number_integer()) {
      return fieldError(path + "/" + key + "(" + std::to_string(i) + ")", "expected an integer", v);
    }
    out->push_back(v.get<int>());
  }
  return Status::Ok();
}

Status readLabels(const Json& obj, const std::string& path, Labels* out) {
  auto it = obj.find("labels");
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (!it->is_object()) return fieldError(path + "/labels", "expected an object", *it);
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return fieldError(path + "/labels/" + k, "expected a string", v);
    (*out)[k] = v.get<std::string>();
  }
  return Status::Ok();
}

Status readIpAddresses(const Json& obj, const std::string& path, std::vector<std::string>* out) {
  auto it = obj.find("ipAddresses");
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (!it->is_array()) return fieldError(path + "/ipAddresses", "expected an array", *it);
  out->clear();
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& a = (*it)[i];
    std::string p = path + "/ipAddresses(" + std::to_string(i) + ")";
    if (!a.is_object()) return fieldError(p, "expected an object", a);
    std::string ip;
    if (Status st = readString(a, "ipAddress", p, &ip); !st.ok()) return st;
    if (!ip.empty()) out->push_back(std::move(ip));
  }
  return Status::Ok();
}

}  // namespace

const Task* App::findTask(std::string_view taskId) const {
  auto it = std::lower_bound(tasks.begin(), tasks.end(), taskId,
                             [](const Task& t, std::string_view id) { return t.id < id; });
  return it != tasks.end() && it->id == taskId ? &*it : nullptr;
}

const App* Snapshot::find(std::string_view appId) const {
  auto it = apps.find(appId);
  return it == apps.end() ? nullptr : it->second.get();
}

std::vector<int> servicePortsOf(const App& app) {
  std::vector<int> out;
  out.reserve(app.portDefinitions.size());
  for (const auto& pd : app.portDefinitions) out.push_back(pd.port);
  return out;
}

Result<Task> parseTask(const Json& json) {
  const std::string path = "/tasks";
  if (!json.is_object()) return fieldError(path, "expected a task object", json);
  Task t;
  if (Status st = readString(json, "id", path, &t.id); !st.ok()) return st.error();
  if (t.id.empty()) return makeError(ErrorKind::kInvalid, path + "/id: missing", path + "/id");
  std::string p = "/tasks[" + t.id + "]";
  if (Status st = readString(json, "appId", p, &t.appId); !st.ok()) return st.error();
  if (Status st = readString(json, "host", p, &t.host); !st.ok()) return st.error();
  if (Status st = readString(json, "slaveId", p, &t.agentId); !st.ok()) return st.error();
  if (t.agentId.empty()) {
    if (Status st = readString(json, "agentId", p, &t.agentId); !st.ok()) return st.error();
  }
  if (Status st = readIntArray(json, "ports", p, &t.ports); !st.ok()) return st.error();
  if (Status st = readIntArray(json, "servicePorts", p, &t.servicePorts); !st.ok()) {
    return st.error();
  }
  std::string state;
  if (Status st = readString(json, "state", p, &state); !st.ok()) return st.error();
  if (state.empty()) {
    // Older Marathons have no state on tasks: startedAt tells running from staging.
    auto started = json.find("startedAt");
    t.state = started != json.end() && !started->is_null() ? conf::TaskState::kRunning
                                                           : conf::TaskState::kStaging;
  } else {
    // Lenient: a state a newer Marathon invents is kUnknown (kept, not running).
    t.state = conf::parseTaskState(state);
  }
  if (Status st = readString(json, "version", p, &t.version); !st.ok()) return st.error();
  if (Status st = readIpAddresses(json, p, &t.ipAddresses); !st.ok()) return st.error();
  if (!t.ipAddresses.empty()) t.ip = t.ipAddresses.front();
  auto hcr = json.find("healthCheckResults");
  if (hcr != json.end() && !hcr->is_null()) {
    if (!hcr->is_array()) return fieldError(p + "/healthCheckResults", "expected an array", *hcr);
    for (size_t i = 0; i < hcr->size(); ++i) {
      const Json& r = (*hcr)[i];
      std::string rp = p + "/healthCheckResults(" + std::to_string(i) + ")";
      if (!r.is_object()) return fieldError(rp, "expected an object", r);
      auto alive = r.find("alive");
      if (alive == r.end() || alive->is_null()) continue;
      if (!alive->is_boolean()) return fieldError(rp + "/alive", "expected a boolean", *alive);
      // Healthy when every check says so (Marathon's rule).
      t.healthy = t.healthy.value_or(true) && alive->get<bool>();
    }
  }
  return t;
}

Result<App> parseApp(const Json& json) {
  if (!json.is_object()) return fieldError("", "expected an app object", json);
  App app;
  if (Status st = readString(json, "id", "", &app.id); !st.ok()) return st.error();
  if (app.id.empty()) return makeError(ErrorKind::kInvalid, "/id: missing", "/id");
  if (app.id.front() != '/') app.id.insert(app.id.begin(), '/');
  const std::string path = "[" + app.id + "]";
  if (Status st = readLabels(json, path, &app.labels); !st.ok()) return st.error();
  if (Status st = readString(json, "version", path, &app.version); !st.ok()) return st.error();
  if (Status st = readInt(json, "instances", path, &app.instances); !st.ok()) return st.error();
  auto pds = json.find("portDefinitions");
  if (pds != json.end() && !pds->is_null()) {
    if (!pds->is_array()) return fieldError(path + "/portDefinitions", "expected an array", *pds);
    for (size_t i = 0; i < pds->size(); ++i) {
      const Json& j = (*pds)[i];
      std::string p = path + "/portDefinitions(" + std::to_string(i) + ")";
      if (!j.is_object()) return fieldError(p, "expected an object", j);
      PortDefinition pd;
      if (Status st = readInt(j, "port", p, &pd.port); !st.ok()) return st.error();
      if (Status st = readString(j, "name", p, &pd.name); !st.ok()) return st.error();
      if (Status st = readString(j, "protocol", p, &pd.protocol); !st.ok()) return st.error();
      if (Status st = readLabels(j, p, &pd.labels); !st.ok()) return st.error();
      app.portDefinitions.push_back(std::move(pd));
    }
  } else {
    // Legacy form: "ports": [10000, 10001].
    std::vector<int> ports;
    if (Status st = readIntArray(json, "ports", path, &ports); !st.ok()) return st.error();
    for (int port : ports) app.portDefinitions.push_back(PortDefinition{port, "", "tcp", {}});
  }
  auto hcs = json.find("healthChecks");
  if (hcs != json.end() && !hcs->is_null()) {
    if (!hcs->is_array()) return fieldError(path + "/healthChecks", "expected an array", *hcs);
    app.hasHealthChecks = !hcs->empty();
    for (size_t i = 0; i < hcs->size(); ++i) {
      const Json& j = (*hcs)[i];
      std::string p = path + "/healthChecks(" + std::to_string(i) + ")";
      if (!j.is_object()) return fieldError(p, "expected an object", j);
      HealthCheck check;
      std::string protocol = "HTTP";  // Marathon's default
      if (Status st = readString(j, "protocol", p, &protocol); !st.ok()) return st.error();
      check.http = protocol == "HTTP" || protocol == "HTTPS" || protocol == "MESOS_HTTP" ||
                   protocol == "MESOS_HTTPS";
      int number = 0;
      if (j.contains("portIndex") && !j["portIndex"].is_null()) {
        if (Status st = readInt(j, "portIndex", p, &number); !st.ok()) return st.error();
        check.portIndex = number;
      }
      if (j.contains("port") && !j["port"].is_null()) {
        if (Status st = readInt(j, "port", p, &number); !st.ok()) return st.error();
        check.port = number;
      }
      // A network check naming neither targets the first port (Marathon's rule).
      if (!check.portIndex && !check.port && protocol != "COMMAND") check.portIndex = 0;
      app.healthChecks.push_back(check);
    }
  }
  auto tasks = json.find("tasks");
  if (tasks != json.end() && !tasks->is_null()) {
    if (!tasks->is_array()) return fieldError(path + "/tasks", "expected an array", *tasks);
    app.tasks.reserve(tasks->size());
    for (const Json& tj : *tasks) {
      auto t = parseTask(tj);
      if (!t.ok()) {
        Error e = t.error();
        e.message = path + e.message;
        return e;
      }
      if (conf::isTerminal(t->state)) continue;
      if (t->appId.empty()) t->appId = app.id;
      app.tasks.push_back(std::move(*t));
    }
    std::sort(app.tasks.begin(), app.tasks.end(),
              [](const Task& a, const Task& b) { return a.id < b.id; });
    app.tasks.erase(std::unique(app.tasks.begin(), app.tasks.end(),
                                [](const Task& a, const Task& b) { return a.id == b.id; }),
                    app.tasks.end());
  }
  return app;
}

}  // namespace corral::registry
