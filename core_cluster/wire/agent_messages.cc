#include "core_cluster/wire/agent_messages.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "base/json.h"

namespace corral::wire {

namespace {

// Where a field is: "tasks[0].fetch[1].uri" for messages, "/tasks/0/fetch/1/uri" as the path.
struct Where {
  std::string name;
  std::string pointer;

  Where field(std::string_view key) const {
    return Where{name.empty() ? std::string(key) : name + "." + std::string(key),
                 pointer + "/" + std::string(key)};
  }
  Where index(size_t i) const {
    return Where{name + "[" + std::to_string(i) + "]", pointer + "/" + std::to_string(i)};
  }
  Error error(const std::string& what) const {
    return makeError(ErrorKind::kInvalid, (name.empty() ? "message" : name) + ": " + what,
                     pointer.empty() ? "/" : pointer);
  }
};

// Reads the fields of one JSON object, checking each one's type and range.
// Absent and null fields keep the value they had (their default).
class Fields {
 public:
  Fields(const Json& object, Where where) : object_(object), where_(std::move(where)) {}

  static Result<Fields> of(const Json& value, const Where& where) {
    if (!value.is_object()) return where.error("expected an object");
    return Fields(value, where);
  }

  const Json* find(std::string_view key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  Where at(std::string_view key) const { return where_.field(key); }

  Status string(std::string_view key, std::string* out, bool required = false) const {
    const Json* v = find(key);
    if (!v) return required ? Status(at(key).error("is required")) : Status::Ok();
    if (!v->is_string()) return at(key).error("expected a string");
    *out = v->get<std::string>();
    return Status::Ok();
  }

  // A string that must be there and not be empty.
  Status name(std::string_view key, std::string* out) const {
    if (Status st = string(key, out, true); !st.ok()) return st;
    if (out->empty()) return at(key).error("must not be empty");
    return Status::Ok();
  }

  Status number(std::string_view key, double* out, double min, double max) const {
    const Json* v = find(key);
    if (!v) return Status::Ok();
    if (!v->is_number()) return at(key).error("expected a number");
    double d = v->get<double>();
    if (!std::isfinite(d) || d < min || d > max) {
      return at(key).error("must be between " + fmtNumber(min) + " and " + fmtNumber(max));
    }
    *out = d;
    return Status::Ok();
  }

  Status number(std::string_view key, std::optional<double>* out, double min, double max) const {
    double d = 0;
    if (!find(key)) return Status::Ok();
    if (Status st = number(key, &d, min, max); !st.ok()) return st;
    *out = d;
    return Status::Ok();
  }

  Status integer(std::string_view key, int* out, int64_t min, int64_t max) const {
    const Json* v = find(key);
    if (!v) return Status::Ok();
    auto i = integerValue(*v, min, max);
    if (!i) return at(key).error(rangeMessage(min, max));
    *out = static_cast<int>(*i);
    return Status::Ok();
  }

  Status boolean(std::string_view key, bool* out) const {
    const Json* v = find(key);
    if (!v) return Status::Ok();
    if (!v->is_boolean()) return at(key).error("expected true or false");
    *out = v->get<bool>();
    return Status::Ok();
  }

  Status boolean(std::string_view key, std::optional<bool>* out) const {
    bool b = false;
    if (!find(key)) return Status::Ok();
    if (Status st = boolean(key, &b); !st.ok()) return st;
    *out = b;
    return Status::Ok();
  }

  Status taskState(std::string_view key, conf::TaskState* out) const {
    std::string name;
    if (Status st = string(key, &name, true); !st.ok()) return st;
    auto state = conf::taskStateFromString(name);
    if (!state) return at(key).error("unknown task state '" + name + "'");
    *out = *state;
    return Status::Ok();
  }

  // Each element of the array `key`, handed to fn with its place.
  template <typename Fn>
  Status each(std::string_view key, Fn fn, bool required = false) const {
    const Json* v = find(key);
    if (!v) return required ? Status(at(key).error("is required")) : Status::Ok();
    if (!v->is_array()) return at(key).error("expected an array");
    Where w = at(key);
    for (size_t i = 0; i < v->size(); ++i) {
      if (Status st = fn((*v)[i], w.index(i)); !st.ok()) return st;
    }
    return Status::Ok();
  }

  Status strings(std::string_view key, std::vector<std::string>* out) const {
    return each(key, [out](const Json& v, const Where& w) -> Status {
      if (!v.is_string()) return w.error("expected a string");
      out->push_back(v.get<std::string>());
      return Status::Ok();
    });
  }

  static std::optional<int64_t> integerValue(const Json& v, int64_t min, int64_t max) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
      int64_t i = static_cast<int64_t>(u);
      if (i < min || i > max) return std::nullopt;
      return i;
    }
    if (!v.is_number_integer()) return std::nullopt;
    int64_t i = v.get<int64_t>();
    if (i < min || i > max) return std::nullopt;
    return i;
  }
  static std::string rangeMessage(int64_t min, int64_t max) {
    return "expected an integer between " + std::to_string(min) + " and " + std::to_string(max);
  }

 private:
  static std::string fmtNumber(double d) {
    if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
    return std::to_string(d);
  }

  const Json& object_;
  Where where_;
};

// Seconds anywhere in the protocol: non-negative and below a year.
constexpr double kMaxSeconds = 365.0 * 24 * 3600;

Result<Json> parseBody(std::string_view body) {
  auto j = parseJson(body);
  if (!j.ok()) return makeError(ErrorKind::kInvalid, "body is not JSON: " + j.error().message);
  return j;
}

Result<agent::HealthCheckSpec> healthCheckFrom(const Json& value, const Where& where) {
  auto f = Fields::of(value, where);
  if (!f.ok()) return f.error();
  agent::HealthCheckSpec h;
  std::string protocol = "HTTP";
  if (Status st = f->string("protocol", &protocol); !st.ok()) return st.error();
  using P = agent::HealthCheckSpec::Protocol;
  if (protocol == "HTTP") {
    h.protocol = P::kHttp;
  } else if (protocol == "HTTPS") {
    h.protocol = P::kHttps;
  } else if (protocol == "TCP") {
    h.protocol = P::kTcp;
  } else if (protocol == "COMMAND") {
    h.protocol = P::kCommand;
  } else {
    return f->at("protocol").error("expected HTTP, HTTPS, TCP or COMMAND, got '" + protocol + "'");
  }
  int port = -1;
  for (Status st : {f->string("path", &h.path), f->integer("portIndex", &h.portIndex, 0, 65535),
                    f->integer("port", &port, 1, 65535), f->string("command", &h.command),
                    f->number("gracePeriodSeconds", &h.gracePeriodSeconds, 0, kMaxSeconds),
                    f->number("intervalSeconds", &h.intervalSeconds, 0, kMaxSeconds),
                    f->number("timeoutSeconds", &h.timeoutSeconds, 0, kMaxSeconds),
                    f->integer("maxConsecutiveFailures", &h.maxConsecutiveFailures, 0, 1000000),
                    f->number("delaySeconds", &h.delaySeconds, 0, kMaxSeconds),
                    f->boolean("ignoreHttp1xx", &h.ignoreHttp1xx)}) {
    if (!st.ok()) return st.error();
  }
  if (port > 0) h.port = port;
  return h;
}

Result<agent::FetchUri> fetchUriFrom(const Json& value, const Where& where) {
  auto f = Fields::of(value, where);
  if (!f.ok()) return f.error();
  agent::FetchUri u;
  for (Status st : {f->name("uri", &u.uri), f->boolean("extract", &u.extract),
                    f->boolean("executable", &u.executable), f->string("destPath", &u.destPath)}) {
    if (!st.ok()) return st.error();
  }
  return u;
}

Result<agent::TaskLaunch> taskLaunchFrom(const Json& value, const Where& where) {
  auto f = Fields::of(value, where);
  if (!f.ok()) return f.error();
  agent::TaskLaunch l;
  for (Status st :
       {f->name("taskId", &l.taskId), f->string("appId", &l.appId),
        f->string("appVersion", &l.appVersion), f->string("cmd", &l.cmd),
        f->strings("args", &l.args), f->strings("portNames", &l.portNames),
        f->string("hostIp", &l.hostIp), f->string("user", &l.user),
        f->number("killGracePeriodSeconds", &l.killGracePeriodSeconds, 0, kMaxSeconds)}) {
    if (!st.ok()) return st.error();
  }
  if (const Json* env = f->find("env")) {
    if (!env->is_object()) return f->at("env").error("expected an object of strings");
    for (auto it = env->begin(); it != env->end(); ++it) {
      if (!it.value().is_string()) return f->at("env").field(it.key()).error("expected a string");
      l.env[it.key()] = it.value().get<std::string>();
    }
  }
  Status st = f->each("ports", [&l](const Json& v, const Where& w) -> Status {
    auto port = Fields::integerValue(v, 1, 65535);
    if (!port) return w.error(Fields::rangeMessage(1, 65535));
    l.ports.push_back(static_cast<uint16_t>(*port));
    return Status::Ok();
  });
  if (!st.ok()) return st.error();
  st = f->each("fetch", [&l](const Json& v, const Where& w) -> Status {
    auto u = fetchUriFrom(v, w);
    if (!u.ok()) return u.error();
    l.fetch.push_back(std::move(*u));
    return Status::Ok();
  });
  if (!st.ok()) return st.error();
  st = f->each("healthChecks", [&l](const Json& v, const Where& w) -> Status {
    auto h = healthCheckFrom(v, w);
    if (!h.ok()) return h.error();
    l.healthChecks.push_back(std::move(*h));
    return Status::Ok();
  });
  if (!st.ok()) return st.error();
  return l;
}

Result<StatusUpdate> statusUpdateFrom(const Json& value, const Where& where) {
  auto f = Fields::of(value, where);
  if (!f.ok()) return f.error();
  StatusUpdate u;
  std::string reason;
  for (Status st : {f->string("taskId", &u.taskId, true), f->taskState("state", &u.state),
                    f->string("uuid", &u.uuid), f->string("message", &u.message),
                    f->boolean("healthy", &u.healthy), f->string("reason", &reason),
                    f->string("timestamp", &u.timestamp), f->string("agentId", &u.agentId)}) {
    if (!st.ok()) return st.error();
  }
  // Reasons Mesos adds later are kept as kUnknown, not refused.
  u.reason = conf::parseTaskReason(reason);
  return u;
}

Result<ReportedTask> reportedTaskFrom(const Json& value, const Where& where) {
  auto f = Fields::of(value, where);
  if (!f.ok()) return f.error();
  ReportedTask t;
  for (Status st : {f->string("taskId", &t.taskId, true), f->taskState("state", &t.state),
                    f->boolean("healthy", &t.healthy), f->string("message", &t.message)}) {
    if (!st.ok()) return st.error();
  }
  return t;
}

Status updatesFrom(const Fields& f, std::vector<StatusUpdate>* out) {
  return f.each("updates", [out](const Json& v, const Where& w) -> Status {
    auto u = statusUpdateFrom(v, w);
    if (!u.ok()) return u.error();
    out->push_back(std::move(*u));
    return Status::Ok();
  });
}

Json healthCheckJson(const agent::HealthCheckSpec& h) {
  Json c;
  c["protocol"] = std::string(agent::toString(h.protocol));
  c["path"] = h.path;
  c["portIndex"] = h.portIndex;
  if (h.port) c["port"] = *h.port;
  if (!h.command.empty()) c["command"] = h.command;
  c["gracePeriodSeconds"] = h.gracePeriodSeconds;
  c["intervalSeconds"] = h.intervalSeconds;
  c["timeoutSeconds"] = h.timeoutSeconds;
  c["maxConsecutiveFailures"] = h.maxConsecutiveFailures;
  c["delaySeconds"] = h.delaySeconds;
  c["ignoreHttp1xx"] = h.ignoreHttp1xx;
  return c;
}

Json taskLaunchJson(const agent::TaskLaunch& l) {
  Json j;
  j["taskId"] = l.taskId;
  j["appId"] = l.appId;
  j["appVersion"] = l.appVersion;
  if (!l.cmd.empty()) j["cmd"] = l.cmd;
  if (!l.args.empty()) j["args"] = l.args;
  j["env"] = l.env;
  j["ports"] = l.ports;
  j["portNames"] = l.portNames;
  j["hostIp"] = l.hostIp;
  if (!l.user.empty()) j["user"] = l.user;
  if (l.killGracePeriodSeconds) j["killGracePeriodSeconds"] = *l.killGracePeriodSeconds;
  Json fetch = Json::array();
  for (const auto& u : l.fetch) {
    fetch.push_back(Json{{"uri", u.uri},
                         {"extract", u.extract},
                         {"executable", u.executable},
                         {"destPath", u.destPath}});
  }
  j["fetch"] = std::move(fetch);
  Json checks = Json::array();
  for (const auto& h : l.healthChecks) checks.push_back(healthCheckJson(h));
  j["healthChecks"] = std::move(checks);
  return j;
}

Json statusUpdateJson(const StatusUpdate& u) {
  Json j;
  if (!u.uuid.empty()) j["uuid"] = u.uuid;
  j["taskId"] = u.taskId;
  j["state"] = std::string(conf::toString(u.state));
  j["message"] = u.message;
  if (u.healthy) j["healthy"] = *u.healthy;
  if (u.reason != conf::TaskReason::kNone) j["reason"] = std::string(conf::toString(u.reason));
  if (!u.timestamp.empty()) j["timestamp"] = u.timestamp;
  if (!u.agentId.empty()) j["agentId"] = u.agentId;
  return j;
}

Json statusUpdatesJson(const std::vector<StatusUpdate>& list) {
  Json a = Json::array();
  for (const auto& u : list) a.push_back(statusUpdateJson(u));
  return a;
}

}  // namespace

Result<agent::TaskLaunch> parseTaskLaunch(std::string_view json) {
  auto j = parseBody(json);
  if (!j.ok()) return j.error();
  return taskLaunchFrom(*j, Where{});
}

Result<LaunchRequest> parseLaunchRequest(std::string_view body) {
  auto j = parseBody(body);
  if (!j.ok()) return j.error();
  auto f = Fields::of(*j, Where{});
  if (!f.ok()) return f.error();
  LaunchRequest m;
  Status st = f->each(
      "tasks",
      [&m](const Json& v, const Where& w) -> Status {
        auto t = taskLaunchFrom(v, w);
        if (!t.ok()) return t.error();
        m.tasks.push_back(std::move(*t));
        return Status::Ok();
      },
      true);
  if (!st.ok()) return st.error();
  return m;
}

Result<KillRequest> parseKillRequest(std::string_view body) {
  auto j = parseBody(body);
  if (!j.ok()) return j.error();
  auto f = Fields::of(*j, Where{});
  if (!f.ok()) return f.error();
  KillRequest m;
  for (Status st : {f->string("taskId", &m.taskId, true),
                    f->number("gracePeriodSeconds", &m.gracePeriodSeconds, 0, kMaxSeconds)}) {
    if (!st.ok()) return st.error();
  }
  return m;
}

Result<RegisterRequest> parseRegisterRequest(std::string_view body) {
  auto j = parseBody(body);
  if (!j.ok()) return j.error();
  auto f = Fields::of(*j, Where{});
  if (!f.ok()) return f.error();
  RegisterRequest m;
  for (Status st : {f->string("agentId", &m.agentId), f->name("hostname", &m.hostname),
                    f->integer("port", &m.port, 1, 65535), f->string("resources", &m.resources),
                    f->string("attributes", &m.attributes), updatesFrom(*f, &m.updates)}) {
    if (!st.ok()) return st.error();
  }
  Status st = f->each("tasks", [&m](const Json& v, const Where& w) -> Status {
    auto t = reportedTaskFrom(v, w);
    if (!t.ok()) return t.error();
    m.tasks.push_back(std::move(*t));
    return Status::Ok();
  });
  if (!st.ok()) return st.error();
  return m;
}

Result<RegisterReply> parseRegisterReply(std::string_view body) {
  auto j = parseBody(body);
  if (!j.ok()) return j.error();
  auto f = Fields::of(*j, Where{});
  if (!f.ok()) return f.error();
  RegisterReply m;
  for (Status st :
       {f->string("agentId", &m.agentId, true), f->string("masterEpoch", &m.masterEpoch),
        f->string("token", &m.token), f->strings("kill", &m.kill)}) {
    if (!st.ok()) return st.error();
  }
  return m;
}

Result<StatusBatch> parseStatusBatch(std::string_view body) {
  auto j = parseBody(body);
  if (!j.ok()) return j.error();
  auto f = Fields::of(*j, Where{});
  if (!f.ok()) return f.error();
  StatusBatch m;
  if (Status st = f->string("agentId", &m.agentId); !st.ok()) return st.error();
  if (!f->find("updates")) {
    auto u = statusUpdateFrom(*j, Where{});
    if (!u.ok()) return u.error();
    m.updates.push_back(std::move(*u));
    return m;
  }
  if (Status st = updatesFrom(*f, &m.updates); !st.ok()) return st.error();
  return m;
}

Result<StatusAck> parseStatusAck(std::string_view body) {
  auto j = parseBody(body);
  if (!j.ok()) return j.error();
  auto f = Fields::of(*j, Where{});
  if (!f.ok()) return f.error();
  StatusAck m;
  if (Status st = f->strings("kill", &m.kill); !st.ok()) return st.error();
  return m;
}

Result<std::vector<StatusUpdate>> parseStatusUpdateList(std::string_view body) {
  auto j = parseBody(body);
  if (!j.ok()) return j.error();
  if (!j->is_array()) return Where{}.error("expected an array of status updates");
  std::vector<StatusUpdate> out;
  for (size_t i = 0; i < j->size(); ++i) {
    auto u = statusUpdateFrom((*j)[i], Where{}.index(i));
    if (!u.ok()) return u.error();
    out.push_back(std::move(*u));
  }
  return out;
}

std::string toJson(const LaunchRequest& m) {
  Json tasks = Json::array();
  for (const auto& t : m.tasks) tasks.push_back(taskLaunchJson(t));
  return dumpJson(Json{{"tasks", std::move(tasks)}});
}

std::string toJson(const KillRequest& m) {
  Json j;
  j["taskId"] = m.taskId;
  if (m.gracePeriodSeconds) j["gracePeriodSeconds"] = *m.gracePeriodSeconds;
  return dumpJson(j);
}

std::string toJson(const RegisterRequest& m) {
  Json j;
  j["agentId"] = m.agentId;
  j["hostname"] = m.hostname;
  j["port"] = m.port;
  j["resources"] = m.resources;
  j["attributes"] = m.attributes;
  Json tasks = Json::array();
  for (const auto& t : m.tasks) {
    Json tj;
    tj["taskId"] = t.taskId;
    tj["state"] = std::string(conf::toString(t.state));
    if (t.healthy) tj["healthy"] = *t.healthy;
    tj["message"] = t.message;
    tasks.push_back(std::move(tj));
  }
  j["tasks"] = std::move(tasks);
  j["updates"] = statusUpdatesJson(m.updates);
  return dumpJson(j);
}

std::string toJson(const RegisterReply& m) {
  Json j;
  j["agentId"] = m.agentId;
  j["masterEpoch"] = m.masterEpoch;
  j["token"] = m.token;
  j["kill"] = m.kill;
  return dumpJson(j);
}

std::string toJson(const StatusBatch& m) {
  Json j;
  j["agentId"] = m.agentId;
  j["updates"] = statusUpdatesJson(m.updates);
  return dumpJson(j);
}

std::string toJson(const StatusAck& m) {
  Json j;
  j["ack"] = true;
  j["kill"] = m.kill;
  return dumpJson(j);
}

std::string toJson(const std::vector<StatusUpdate>& list) {
  return dumpJson(statusUpdatesJson(list));
}

}  // namespace corral::wire
