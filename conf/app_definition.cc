#include "conf/app_definition.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

namespace corral::conf {

namespace {

constexpr size_t kMaxShownValue = 80;

// ---------------------------------------------------------------- helpers

std::string show(const Json& v) {
  std::string text = dumpJson(v);
  if (text.size() > kMaxShownValue) text = text.substr(0, kMaxShownValue) + "...";
  return text;
}

std::string showNumber(double v) { return fmt::format("{}", v); }

std::string child(std::string_view path, std::string_view key) {
  return std::string(path) + "/" + std::string(key);
}

std::string element(std::string_view path, size_t i) { return fmt::format("{}({})", path, i); }

const char* typeName(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "value";
}

// Collects errors while reading typed fields. Absent and null fields are
// "not there"; a present field of the wrong type is an error.
class Reader {
 public:
  std::vector<Error> errors;

  void fail(std::string path, std::string message) {
    if (path.empty()) path = "/";
    errors.push_back(makeError(ErrorKind::kInvalid, std::move(message), std::move(path)));
  }

  static const Json* get(const Json& obj, std::string_view key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  bool expect(const Json& v, bool ok, std::string_view what, const std::string& path) {
    if (!ok) fail(path, fmt::format("expected {}, got {} {}", what, typeName(v), show(v)));
    return ok;
  }

  std::optional<std::string> stringValue(const Json& v, const std::string& path,
                                         bool nonEmpty = false) {
    if (!expect(v, v.is_string(), "string", path)) return std::nullopt;
    std::string s = v.get<std::string>();
    if (nonEmpty && s.empty()) {
      fail(path, "must not be empty");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> string(const Json& obj, std::string_view key, std::string_view path,
                                    bool nonEmpty = false) {
    const Json* v = get(obj, key);
    if (v == nullptr) return std::nullopt;
    return stringValue(*v, child(path, key), nonEmpty);
  }

  std::optional<int64_t> integerValue(const Json& v, const std::string& path, int64_t min,
                                      int64_t max) {
    int64_t out = 0;
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(max)) {
        fail(path, fmt::format("must be less than or equal to {}, got {}", max, u));
        return std::nullopt;
      }
      out = static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
      out = v.get<int64_t>();
    } else if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::trunc(d) != d) {
        fail(path, fmt::format("expected integer, got {}", show(v)));
        return std::nullopt;
      }
      if (d < static_cast<double>(min)) {
        fail(path, fmt::format("must be greater than or equal to {}, got {}", min, show(v)));
        return std::nullopt;
      }
      if (d > static_cast<double>(max)) {
        fail(path, fmt::format("must be less than or equal to {}, got {}", max, show(v)));
        return std::nullopt;
      }
      out = static_cast<int64_t>(d);
    } else {
      expect(v, false, "integer", path);
      return std::nullopt;
    }
    if (out < min) {
      fail(path, fmt::format("must be greater than or equal to {}, got {}", min, out));
      return std::nullopt;
    }
    if (out > max) {
      fail(path, fmt::format("must be less than or equal to {}, got {}", max, out));
      return std::nullopt;
    }
    return out;
  }

  std::optional<int64_t> integer(const Json& obj, std::string_view key, std::string_view path,
                                 int64_t min = 0, int64_t max = INT_MAX) {
    const Json* v = get(obj, key);
    if (v == nullptr) return std::nullopt;
    return integerValue(*v, child(path, key), min, max);
  }

  // Reads an int field into `out` when present and valid.
  void readInt(const Json& obj, std::string_view key, std::string_view path, int& out,
               int64_t min = 0, int64_t max = INT_MAX) {
    if (auto v = integer(obj, key, path, min, max)) out = static_cast<int>(*v);
  }

  std::optional<double> number(const Json& obj, std::string_view key, std::string_view path,
                               double min, double max = HUGE_VAL) {
    const Json* v = get(obj, key);
    if (v == nullptr) return std::nullopt;
    std::string p = child(path, key);
    if (!expect(*v, v->is_number(), "number", p)) return std::nullopt;
    double d = v->get<double>();
    if (!std::isfinite(d)) {
      fail(p, fmt::format("must be a finite number, got {}", show(*v)));
      return std::nullopt;
    }
    if (d < min) {
      fail(p,
           fmt::format("must be greater than or equal to {}, got {}", showNumber(min), show(*v)));
      return std::nullopt;
    }
    if (d > max) {
      fail(p, fmt::format("must be less than or equal to {}, got {}", showNumber(max), show(*v)));
      return std::nullopt;
    }
    return d;
  }

  void readBool(const Json& obj, std::string_view key, std::string_view path, bool& out) {
    const Json* v = get(obj, key);
    if (v == nullptr) return;
    if (expect(*v, v->is_boolean(), "boolean", child(path, key))) out = v->get<bool>();
  }

  // Array of strings; nullopt when absent or invalid.
  std::optional<std::vector<std::string>> stringArray(const Json& obj, std::string_view key,
                                                      std::string_view path, bool nonEmptyItems,
                                                      bool unique = false) {
    const Json* v = get(obj, key);
    if (v == nullptr) return std::nullopt;
    std::string p = child(path, key);
    if (!expect(*v, v->is_array(), "array", p)) return std::nullopt;
    std::vector<std::string> out;
    bool ok = true;
    for (size_t i = 0; i < v->size(); ++i) {
      auto s = stringValue((*v)[i], element(p, i), nonEmptyItems);
      if (!s) {
        ok = false;
        continue;
      }
      if (unique && std::find(out.begin(), out.end(), *s) != out.end()) {
        fail(element(p, i), fmt::format("duplicate value \"{}\"", *s));
        ok = false;
        continue;
      }
      out.push_back(std::move(*s));
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // Object of string values.
  std::optional<StringMap> stringMap(const Json& obj, std::string_view key, std::string_view path) {
    const Json* v = get(obj, key);
    if (v == nullptr) return std::nullopt;
    std::string p = child(path, key);
    if (!expect(*v, v->is_object(), "object", p)) return std::nullopt;
    StringMap out;
    bool ok = true;
    for (auto it = v->begin(); it != v->end(); ++it) {
      std::string itemPath = child(p, it.key());
      if (!it.value().is_string()) {
        expect(it.value(), false, "string", itemPath);
        ok = false;
        continue;
      }
      out.emplace(it.key(), it.value().get<std::string>());
    }
    if (!ok) return std::nullopt;
    return out;
  }

  const Json* object(const Json& obj, std::string_view key, std::string_view path) {
    const Json* v = get(obj, key);
    if (v == nullptr) return nullptr;
    if (!expect(*v, v->is_object(), "object", child(path, key))) return nullptr;
    return v;
  }

  const Json* array(const Json& obj, std::string_view key, std::string_view path) {
    const Json* v = get(obj, key);
    if (v == nullptr) return nullptr;
    if (!expect(*v, v->is_array(), "array", child(path, key))) return nullptr;
    return v;
  }
};

// ---------------------------------------------------------------- ids

bool validIdSegment(std::string_view segment) {
  // ^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$
  if (segment.empty()) return false;
  size_t start = 0;
  while (start <= segment.size()) {
    size_t dot = segment.find('.', start);
    std::string_view label =
        segment.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool validPortName(std::string_view name) {
  // ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$, at most 63 characters.
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool isExtractable(std::string_view uri) {
  for (std::string_view ext : {".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip"}) {
    if (uri.size() >= ext.size() && uri.substr(uri.size() - ext.size()) == ext) return true;
  }
  return false;
}

struct ProtocolName {
  HealthCheckProtocol protocol;
  std::string_view name;
};

constexpr ProtocolName kProtocols[] = {
    {HealthCheckProtocol::kHttp, "HTTP"},
    {HealthCheckProtocol::kHttps, "HTTPS"},
    {HealthCheckProtocol::kTcp, "TCP"},
    {HealthCheckProtocol::kCommand, "COMMAND"},
    {HealthCheckProtocol::kMesosHttp, "MESOS_HTTP"},
    {HealthCheckProtocol::kMesosHttps, "MESOS_HTTPS"},
    {HealthCheckProtocol::kMesosTcp, "MESOS_TCP"},
};

bool isHttpProtocol(HealthCheckProtocol p) {
  return p == HealthCheckProtocol::kHttp || p == HealthCheckProtocol::kHttps ||
         p == HealthCheckProtocol::kMesosHttp || p == HealthCheckProtocol::kMesosHttps;
}

}  // namespace

std::string_view healthCheckProtocolName(HealthCheckProtocol protocol) {
  for (const ProtocolName& p : kProtocols) {
    if (p.protocol == protocol) return p.name;
  }
  return "?";
}

std::vector<std::string> splitAppId(std::string_view id) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= id.size()) {
    size_t slash = id.find('/', start);
    size_t end = slash == std::string_view::npos ? id.size() : slash;
    if (end > start) out.emplace_back(id.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

std::string parentGroup(std::string_view id) {
  std::vector<std::string> parts = splitAppId(id);
  if (parts.size() <= 1) return "/";
  std::string out;
  for (size_t i = 0; i + 1 < parts.size(); ++i) out += "/" + parts[i];
  return out;
}

Result<std::string> resolveAppId(std::string_view id, std::string_view baseGroup,
                                 std::string_view path) {
  auto invalid = [&](std::string message) {
    return makeError(ErrorKind::kInvalid, std::move(message), std::string(path));
  };
  if (id.empty()) return invalid("must not be empty");
  std::vector<std::string> out;
  std::string_view rest = id;
  if (rest.front() == '/') {
    rest.remove_prefix(1);
  } else {
    out = splitAppId(baseGroup);
  }
  // Split keeping empty segments so "/a//b" and "/a/" are caught.
  std::vector<std::string_view> raw;
  size_t start = 0;
  while (true) {
    size_t slash = rest.find('/', start);
    raw.push_back(rest.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (std::string_view segment : raw) {
    if (segment.empty()) {
      if (rest.empty()) break;  // the id is just "/"
      return invalid(fmt::format("empty path segment in \"{}\"", id));
    }
    if (segment == ".") continue;
    if (segment == "..") {
      if (out.empty())
        return invalid(fmt::format("\"..\" goes above the root group in \"{}\"", id));
      out.pop_back();
      continue;
    }
    if (!validIdSegment(segment)) {
      return invalid(fmt::format(
          "invalid path segment \"{}\" in \"{}\": use lower-case letters, digits, '-' and '.' "
          "(a name may not start or end with '-' or '.')",
          segment, id));
    }
    out.emplace_back(segment);
  }
  if (out.empty()) return invalid(fmt::format("\"{}\" names the root group, not an app", id));
  std::string result;
  for (const std::string& s : out) result += "/" + s;
  return result;
}

// ---------------------------------------------------------------- parsing

namespace {

void parsePortDefinitions(Reader& r, const Json& json, AppDefinition& app, bool& haveAnyPorts) {
  std::optional<std::vector<PortDefinition>> fromPorts;
  std::optional<std::vector<PortDefinition>> fromDefs;
  if (const Json* ports = r.array(json, "ports", "")) {
    std::vector<PortDefinition> defs;
    for (size_t i = 0; i < ports->size(); ++i) {
      if (auto p = r.integerValue((*ports)[i], element("/ports", i), 0, 65535)) {
        PortDefinition d;
        d.port = static_cast<int>(*p);
        defs.push_back(d);
      }
    }
    fromPorts = std::move(defs);
  }
  if (const Json* defsJson = r.array(json, "portDefinitions", "")) {
    std::vector<PortDefinition> defs;
    for (size_t i = 0; i < defsJson->size(); ++i) {
      const Json& item = (*defsJson)[i];
      std::string p = element("/portDefinitions", i);
      if (!r.expect(item, item.is_object(), "object", p)) continue;
      PortDefinition d;
      r.readInt(item, "port", p, d.port, 0, 65535);
      if (auto proto = r.string(item, "protocol", p)) {
        if (*proto == "tcp" || *proto == "udp" || *proto == "udp,tcp" || *proto == "tcp,udp") {
          d.protocol = *proto;
        } else {
          r.fail(child(p, "protocol"),
                 fmt::format("must be one of tcp, udp, udp,tcp; got \"{}\"", *proto));
        }
      }
      if (auto name = r.string(item, "name", p)) {
        if (validPortName(*name)) {
          d.name = *name;
        } else {
          r.fail(child(p, "name"),
                 fmt::format("invalid port name \"{}\": use 1-63 lower-case letters, digits and "
                             "'-', not starting or ending with '-'",
                             *name));
        }
      }
      if (auto labels = r.stringMap(item, "labels", p)) d.labels = std::move(*labels);
      defs.push_back(std::move(d));
    }
    fromDefs = std::move(defs);
  }
  haveAnyPorts = fromPorts.has_value() || fromDefs.has_value();
  if (fromPorts && fromDefs) {
    bool same = fromPorts->size() == fromDefs->size();
    for (size_t i = 0; same && i < fromPorts->size(); ++i) {
      same = (*fromPorts)[i].port == (*fromDefs)[i].port;
    }
    if (!same) {
      r.fail("/ports",
             "cannot be combined with portDefinitions listing other ports; use portDefinitions");
    }
    app.portDefinitions = std::move(*fromDefs);
  } else if (fromDefs) {
    app.portDefinitions = std::move(*fromDefs);
  } else if (fromPorts) {
    app.portDefinitions = std::move(*fromPorts);
  } else {
    PortDefinition d;
    d.name = "default";
    app.portDefinitions.push_back(d);
  }
  // Names and fixed port numbers must be unique.
  std::set<std::string> names;
  std::set<int> numbers;
  for (size_t i = 0; i < app.portDefinitions.size(); ++i) {
    const PortDefinition& d = app.portDefinitions[i];
    std::string p = element(fromDefs || !fromPorts ? "/portDefinitions" : "/ports", i);
    if (d.name && !names.insert(*d.name).second) {
      r.fail(child(p, "name"), fmt::format("duplicate port name \"{}\"", *d.name));
    }
    if (d.port != 0 && !numbers.insert(d.port).second) {
      r.fail(fromDefs || !fromPorts ? child(p, "port") : p,
             fmt::format("duplicate port {}", d.port));
    }
  }
}

void parseHealthChecks(Reader& r, const Json& json, AppDefinition& app) {
  const Json* list = r.array(json, "healthChecks", "");
  if (list == nullptr) return;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    std::string p = element("/healthChecks", i);
    if (!r.expect(item, item.is_object(), "object", p)) continue;
    HealthCheck hc;
    if (auto proto = r.string(item, "protocol", p)) {
      bool known = false;
      for (const ProtocolName& n : kProtocols) {
        if (n.name == *proto) {
          hc.protocol = n.protocol;
          known = true;
        }
      }
      if (!known) {
        r.fail(child(p, "protocol"),
               fmt::format("unknown protocol \"{}\"; expected one of HTTP, HTTPS, TCP, COMMAND, "
                           "MESOS_HTTP, MESOS_HTTPS, MESOS_TCP",
                           *proto));
      }
    }
    bool isCommand = hc.protocol == HealthCheckProtocol::kCommand;
    hc.path = r.string(item, "path", p, /*nonEmpty=*/true);
    if (hc.path && !isHttpProtocol(hc.protocol)) {
      r.fail(child(p, "path"), fmt::format("is only valid with an HTTP protocol, not {}",
                                           healthCheckProtocolName(hc.protocol)));
    }
    if (auto v = r.integer(item, "portIndex", p, 0, 65535)) hc.portIndex = static_cast<int>(*v);
    if (auto v = r.integer(item, "port", p, 0, 65535)) hc.port = static_cast<int>(*v);
    if (const Json* cmd = Reader::get(item, "command")) {
      std::string cp = child(p, "command");
      if (cmd->is_string()) {
        hc.command = cmd->get<std::string>();
      } else if (r.expect(*cmd, cmd->is_object(), "object {\"value\": ...}", cp)) {
        const Json* value = Reader::get(*cmd, "value");
        if (value == nullptr) {
          r.fail(child(cp, "value"), "is required");
        } else {
          hc.command = r.stringValue(*value, child(cp, "value"), true);
        }
      }
    }
    r.readInt(item, "gracePeriodSeconds", p, hc.gracePeriodSeconds);
    r.readInt(item, "intervalSeconds", p, hc.intervalSeconds, 1);
    r.readInt(item, "timeoutSeconds", p, hc.timeoutSeconds, 1);
    r.readInt(item, "maxConsecutiveFailures", p, hc.maxConsecutiveFailures);
    r.readInt(item, "delaySeconds", p, hc.delaySeconds);
    r.readBool(item, "ignoreHttp1xx", p, hc.ignoreHttp1xx);
    if (!isCommand) {
      if (auto ip = r.string(item, "ipProtocol", p)) {
        if (*ip == "IPv4" || *ip == "IPv6") {
          hc.ipProtocol = *ip;
        } else {
          r.fail(child(p, "ipProtocol"), fmt::format("must be IPv4 or IPv6, got \"{}\"", *ip));
        }
      }
    }
    if (isCommand) {
      if (!hc.command) r.fail(child(p, "command"), "is required with protocol COMMAND");
      if (hc.port || hc.portIndex) {
        r.fail(p, "COMMAND health checks take no port or portIndex");
      }
    } else {
      if (hc.command) {
        r.fail(child(p, "command"), fmt::format("is only valid with protocol COMMAND, not {}",
                                                healthCheckProtocolName(hc.protocol)));
      }
      if (hc.port && hc.portIndex) {
        r.fail(p, "give either port or portIndex, not both");
      } else if (!hc.port && !hc.portIndex) {
        if (app.portDefinitions.empty()) {
          r.fail(p, "needs a port: the app has no port definitions, set port");
        } else {
          hc.portIndex = 0;
        }
      } else if (hc.portIndex && *hc.portIndex >= static_cast<int>(app.portDefinitions.size())) {
        r.fail(child(p, "portIndex"),
               fmt::format("{} does not address a port definition (the app has {})", *hc.portIndex,
                           app.portDefinitions.size()));
      }
    }
    app.healthChecks.push_back(std::move(hc));
  }
}

void parseReadinessChecks(Reader& r, const Json& json, AppDefinition& app) {
  const Json* list = r.array(json, "readinessChecks", "");
  if (list == nullptr) return;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    std::string p = element("/readinessChecks", i);
    if (!r.expect(item, item.is_object(), "object", p)) continue;
    ReadinessCheck rc;
    if (auto v = r.string(item, "name", p, true)) rc.name = *v;
    if (auto v = r.string(item, "protocol", p)) {
      if (*v == "HTTP" || *v == "HTTPS") {
        rc.protocol = *v;
      } else {
        r.fail(child(p, "protocol"), fmt::format("must be HTTP or HTTPS, got \"{}\"", *v));
      }
    }
    if (auto v = r.string(item, "path", p, true)) rc.path = *v;
    if (auto v = r.string(item, "portName", p, true)) rc.portName = *v;
    r.readInt(item, "intervalSeconds", p, rc.intervalSeconds, 1);
    r.readInt(item, "timeoutSeconds", p, rc.timeoutSeconds, 1);
    if (const Json* codes = r.array(item, "httpStatusCodesForReady", p)) {
      std::string cp = child(p, "httpStatusCodesForReady");
      std::vector<int> out;
      for (size_t k = 0; k < codes->size(); ++k) {
        if (auto c = r.integerValue((*codes)[k], element(cp, k), 100, 999)) {
          out.push_back(static_cast<int>(*c));
        }
      }
      if (codes->empty()) r.fail(cp, "must not be empty");
      rc.httpStatusCodesForReady = std::move(out);
    }
    r.readBool(item, "preserveLastResponse", p, rc.preserveLastResponse);
    if (rc.timeoutSeconds >= rc.intervalSeconds) {
      r.fail(child(p, "timeoutSeconds"),
             fmt::format("must be less than intervalSeconds ({}), got {}", rc.intervalSeconds,
                         rc.timeoutSeconds));
    }
    bool portKnown = false;
    for (const PortDefinition& d : app.portDefinitions) {
      if (d.name == rc.portName) portKnown = true;
    }
    if (!portKnown) {
      r.fail(child(p, "portName"), fmt::format("no port definition is named \"{}\"", rc.portName));
    }
    app.readinessChecks.push_back(std::move(rc));
  }
}

void parseFetch(Reader& r, const Json& json, AppDefinition& app) {
  std::optional<std::vector<std::string>> uris = r.stringArray(json, "uris", "", true);
  bool haveFetch = false;
  if (const Json* list = r.array(json, "fetch", "")) {
    haveFetch = true;
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& item = (*list)[i];
      std::string p = element("/fetch", i);
      if (!r.expect(item, item.is_object(), "object", p)) continue;
      FetchUri f;
      if (auto uri = r.string(item, "uri", p, true)) {
        f.uri = *uri;
      } else if (Reader::get(item, "uri") == nullptr) {
        r.fail(child(p, "uri"), "is required");
      }
      r.readBool(item, "executable", p, f.executable);
      r.readBool(item, "extract", p, f.extract);
      r.readBool(item, "cache", p, f.cache);
      f.destPath = r.string(item, "destPath", p, true);
      app.fetch.push_back(std::move(f));
    }
  }
  if (!uris) return;
  if (haveFetch) {
    bool same = uris->size() == app.fetch.size();
    for (size_t i = 0; same && i < uris->size(); ++i) same = (*uris)[i] == app.fetch[i].uri;
    if (!same) r.fail("/uris", "cannot be combined with fetch listing other URIs; use fetch");
    return;
  }
  for (const std::string& uri : *uris) {
    FetchUri f;
    f.uri = uri;
    f.extract = isExtractable(uri);
    app.fetch.push_back(std::move(f));
  }
}

void parseContainer(Reader& r, const Json& json, AppDefinition& app) {
  const Json* c = r.object(json, "container", "");
  if (c == nullptr) return;
  bool ok = true;
  auto bad = [&](std::string path, std::string message) {
    r.fail(std::move(path), std::move(message));
    ok = false;
  };
  const Json* type = Reader::get(*c, "type");
  if (type == nullptr) {
    bad("/container/type",
        "is required: only \"MESOS\" containers are supported (Marathon's default is DOCKER)");
  } else if (!type->is_string() || type->get<std::string>() != "MESOS") {
    bad("/container/type",
        fmt::format("only \"MESOS\" containers are supported, got {}", show(*type)));
  }
  for (auto it = c->begin(); it != c->end(); ++it) {
    const std::string& key = it.key();
    std::string p = child("/container", key);
    if (key == "type") continue;
    if (it.value().is_null()) continue;
    if (key == "docker") {
      if (!it.value().is_object()) {
        bad(p, fmt::format("expected object, got {}", show(it.value())));
      } else if (Reader::get(it.value(), "image") != nullptr) {
        bad(child(p, "image"), "container images are not supported; corral runs plain commands");
      }
    } else if (key == "portMappings") {
      if (!it.value().is_array() || !it.value().empty()) {
        bad(p, "port mappings need container networking; corral supports host networking only");
      }
    } else if (key == "volumes") {
      if (!r.expect(it.value(), it.value().is_array(), "array", p)) {
        ok = false;
        continue;
      }
      for (size_t i = 0; i < it.value().size(); ++i) {
        const Json& vol = it.value()[i];
        std::string vp = element(p, i);
        if (!r.expect(vol, vol.is_object(), "object", vp)) {
          ok = false;
          continue;
        }
        for (auto f = vol.begin(); f != vol.end(); ++f) {
          static const std::set<std::string> kVolumeKeys = {"containerPath", "hostPath", "mode",
                                                            "persistent", "external"};
          if (kVolumeKeys.count(f.key()) == 0) {
            bad(child(vp, f.key()), "unsupported volume field");
          }
        }
        if (const Json* mode = Reader::get(vol, "mode")) {
          if (!mode->is_string() || (*mode != "RO" && *mode != "RW")) {
            bad(child(vp, "mode"), fmt::format("must be RO or RW, got {}", show(*mode)));
          }
        }
      }
    } else {
      bad(p, "unsupported container field");
    }
  }
  if (ok) app.container = dumpJson(*c);
}

void parseUnreachable(Reader& r, const Json& json, AppDefinition& app) {
  const Json* u = Reader::get(json, "unreachableStrategy");
  if (u == nullptr) return;
  const std::string p = "/unreachableStrategy";
  if (u->is_string()) {
    if (*u == "disabled") {
      app.unreachableStrategy.disabled = true;
    } else {
      r.fail(p, fmt::format("must be \"disabled\" or an object, got {}", show(*u)));
    }
    return;
  }
  if (!r.expect(*u, u->is_object(), "\"disabled\" or object", p)) return;
  UnreachableStrategy s;
  if (auto v = r.integer(*u, "inactiveAfterSeconds", p, 0, INT64_MAX)) s.inactiveAfterSeconds = *v;
  if (auto v = r.integer(*u, "expungeAfterSeconds", p, 0, INT64_MAX)) s.expungeAfterSeconds = *v;
  if (s.inactiveAfterSeconds > s.expungeAfterSeconds) {
    r.fail(child(p, "inactiveAfterSeconds"),
           fmt::format("must be less than or equal to expungeAfterSeconds ({}), got {}",
                       s.expungeAfterSeconds, s.inactiveAfterSeconds));
  }
  app.unreachableStrategy = s;
}

void parseNetworks(Reader& r, const Json& json) {
  const Json* list = r.array(json, "networks", "");
  if (list == nullptr) return;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& n = (*list)[i];
    std::string p = element("/networks", i);
    if (!r.expect(n, n.is_object(), "object", p)) continue;
    const Json* mode = Reader::get(n, "mode");
    if (mode == nullptr || !mode->is_string() || *mode != "host") {
      r.fail(
          child(p, "mode"),
          fmt::format("only \"host\" networking is supported, got {}",
                      mode == nullptr ? std::string("\"container\" (the default)") : show(*mode)));
    }
  }
}

void parseResidency(Reader& r, const Json& json, AppDefinition& app) {
  const Json* res = r.object(json, "residency", "");
  if (res == nullptr) return;
  const std::string p = "/residency";
  Residency out;
  if (auto v = r.integer(*res, "relaunchEscalationTimeoutSeconds", p, 0, INT64_MAX)) {
    out.relaunchEscalationTimeoutSeconds = *v;
  }
  if (auto v = r.string(*res, "taskLostBehavior", p)) {
    if (*v == "WAIT_FOREVER" || *v == "RELAUNCH_AFTER_TIMEOUT") {
      out.taskLostBehavior = *v;
    } else {
      r.fail(child(p, "taskLostBehavior"),
             fmt::format("must be WAIT_FOREVER or RELAUNCH_AFTER_TIMEOUT, got \"{}\"", *v));
    }
  }
  app.residency = out;
}

void parseEnv(Reader& r, const Json& json, AppDefinition& app) {
  const Json* env = r.object(json, "env", "");
  if (env == nullptr) return;
  for (auto it = env->begin(); it != env->end(); ++it) {
    std::string p = child("/env", it.key());
    if (it.key().empty()) {
      r.fail(p, "environment variable names must not be empty");
    } else if (it.value().is_string()) {
      app.env.emplace(it.key(), it.value().get<std::string>());
    } else if (it.value().is_object() && it.value().contains("secret")) {
      r.fail(p, "secret references are not supported by corral");
    } else {
      r.expect(it.value(), false, "string", p);
    }
  }
}

// Fields of Marathon's app whose only honourable values are corral's own
// behaviour: every task runs under the default role without a TTY, under no
// Mesos check and no resource limit. Those values are accepted (and `role` is
// rendered back); anything else is refused by name rather than dropped.
void parseUnsupportedRuntime(Reader& r, const Json& json) {
  if (const Json* role = Reader::get(json, "role")) {
    if (!role->is_string()) {
      r.expect(*role, false, "string", "/role");
    } else if (*role != "*") {
      r.fail("/role", fmt::format("only the default role \"*\" is supported by corral, got {}",
                                  show(*role)));
    }
  }
  if (const Json* tty = Reader::get(json, "tty")) {
    if (!tty->is_boolean()) {
      r.expect(*tty, false, "boolean", "/tty");
    } else if (tty->get<bool>()) {
      r.fail("/tty", "corral does not allocate a TTY to tasks; only false is supported");
    }
  }
  if (Reader::get(json, "check") != nullptr) {
    r.fail("/check", "Mesos checks are not supported by corral; use healthChecks");
  }
  if (Reader::get(json, "resourceLimits") != nullptr) {
    r.fail("/resourceLimits",
           "resource limits are not supported by corral: tasks are not capped at their cpus/mem");
  }
}

AppDefinition parseInto(Reader& r, const Json& json, std::string_view baseGroup) {
  AppDefinition app;
  if (!json.is_object()) {
    r.fail("/", fmt::format("expected a JSON object, got {} {}", typeName(json), show(json)));
    return app;
  }
  if (auto id = r.string(json, "id", "")) {
    auto resolved = resolveAppId(*id, baseGroup, "/id");
    if (resolved) {
      app.id = *resolved;
    } else {
      r.errors.push_back(resolved.error());
    }
  } else if (Reader::get(json, "id") == nullptr) {
    r.fail("/id", "is required");
  }

  app.cmd = r.string(json, "cmd", "", /*nonEmpty=*/true);
  if (auto args = r.stringArray(json, "args", "", false); args && !args->empty()) app.args = args;
  app.user = r.string(json, "user", "");
  r.readInt(json, "instances", "", app.instances);
  if (auto v = r.number(json, "cpus", "", 0)) app.cpus = *v;
  if (auto v = r.number(json, "mem", "", 0)) app.mem = *v;
  if (auto v = r.number(json, "disk", "", 0)) app.disk = *v;
  r.readInt(json, "gpus", "", app.gpus);
  if (auto v = r.string(json, "executor", "")) app.executor = *v;

  bool explicitPorts = false;
  parsePortDefinitions(r, json, app, explicitPorts);
  r.readBool(json, "requirePorts", "", app.requirePorts);
  parseEnv(r, json, app);
  if (auto v = r.stringMap(json, "labels", "")) app.labels = std::move(*v);
  parseHealthChecks(r, json, app);
  parseReadinessChecks(r, json, app);

  if (const Json* us = r.object(json, "upgradeStrategy", "")) {
    const std::string p = "/upgradeStrategy";
    if (auto v = r.number(*us, "minimumHealthCapacity", p, 0, 1)) {
      app.upgradeStrategy.minimumHealthCapacity = *v;
    }
    if (auto v = r.number(*us, "maximumOverCapacity", p, 0, 1)) {
      app.upgradeStrategy.maximumOverCapacity = *v;
    }
  }

  if (const Json* c = Reader::get(json, "constraints")) {
    app.constraints = parseConstraints(*c, "/constraints", r.errors);
  }
  parseFetch(r, json, app);
  if (auto v = r.stringArray(json, "storeUrls", "", true)) app.storeUrls = std::move(*v);
  r.readInt(json, "backoffSeconds", "", app.backoffSeconds);
  if (auto v = r.number(json, "backoffFactor", "", 1.0)) app.backoffFactor = *v;
  r.readInt(json, "maxLaunchDelaySeconds", "", app.maxLaunchDelaySeconds);
  if (auto v = r.string(json, "killSelection", "")) {
    if (*v == "YOUNGEST_FIRST") {
      app.killSelection = KillSelection::kYoungestFirst;
    } else if (*v == "OLDEST_FIRST") {
      app.killSelection = KillSelection::kOldestFirst;
    } else {
      r.fail("/killSelection",
             fmt::format("must be YOUNGEST_FIRST or OLDEST_FIRST, got \"{}\"", *v));
    }
  }
  if (auto v = r.integer(json, "taskKillGracePeriodSeconds", "")) {
    app.taskKillGracePeriodSeconds = static_cast<int>(*v);
  }
  if (auto deps = r.stringArray(json, "dependencies", "", true)) {
    std::string base = parentGroup(app.id.empty() ? std::string(baseGroup) + "/x" : app.id);
    for (size_t i = 0; i < deps->size(); ++i) {
      auto resolved = resolveAppId((*deps)[i], base, element("/dependencies", i));
      if (!resolved) {
        r.errors.push_back(resolved.error());
      } else if (std::find(app.dependencies.begin(), app.dependencies.end(), *resolved) ==
                 app.dependencies.end()) {
        app.dependencies.push_back(*resolved);
      }
    }
  }
  app.version = r.string(json, "version", "", true);
  app.acceptedResourceRoles = r.stringArray(json, "acceptedResourceRoles", "", true, true);
  parseContainer(r, json, app);
  parseUnreachable(r, json, app);
  parseNetworks(r, json);
  parseResidency(r, json, app);

  if (const Json* secrets = r.object(json, "secrets", ""); secrets && !secrets->empty()) {
    r.fail("/secrets", "secrets are not supported by corral; pass values through env");
  }
  parseUnsupportedRuntime(r, json);
  if (const Json* ip = Reader::get(json, "ipAddress")) {
    r.fail("/ipAddress",
           fmt::format("IP-per-task networking is not supported by corral, got {}", show(*ip)));
  }

  bool hasCmd = app.cmd.has_value() || Reader::get(json, "cmd") != nullptr;
  bool hasArgs = app.args.has_value();
  bool hasContainer = Reader::get(json, "container") != nullptr;
  if (hasCmd && hasArgs) {
    r.fail("/", "AppDefinition must contain one of 'cmd' or 'args', not both");
  } else if (!hasCmd && !hasArgs && !hasContainer) {
    r.fail("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'");
  }
  return app;
}

}  // namespace

Result<AppDefinition> parseAppDefinition(const Json& json, std::string_view baseGroup,
                                         std::vector<Error>* allErrors) {
  Reader r;
  AppDefinition app;
  try {
    app = parseInto(r, json, baseGroup);
  } catch (const std::exception& e) {
    r.fail("/", std::string("invalid app definition: ") + e.what());
  }
  if (allErrors != nullptr) *allErrors = r.errors;
  if (r.errors.empty()) return app;
  std::string joined;
  for (const Error& e : r.errors) {
    if (!joined.empty()) joined += "; ";
    joined += e.path + ": " + e.message;
  }
  return makeError(ErrorKind::kInvalid, std::move(joined), r.errors.front().path);
}

std::vector<Error> validateApp(const Json& json, std::string_view baseGroup) {
  std::vector<Error> errors;
  auto parsed = parseAppDefinition(json, baseGroup, &errors);
  (void)parsed;
  return errors;
}

Json validationErrorBody(const std::vector<Error>& errors) {
  Json details = Json::array();
  std::vector<std::string> order;
  std::map<std::string, Json> byPath;
  for (const Error& e : errors) {
    std::string path = e.path.empty() ? "/" : e.path;
    auto [it, inserted] = byPath.emplace(path, Json::array());
    if (inserted) order.push_back(path);
    it->second.push_back(e.message);
  }
  for (const std::string& path : order) {
    details.push_back(Json{{"path", path}, {"errors", byPath[path]}});
  }
  return Json{{"message", "Object is not valid"}, {"details", std::move(details)}};
}

// ---------------------------------------------------------------- output

namespace {

Json toJson(const StringMap& m) {
  Json out = Json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

Json healthCheckJson(const HealthCheck& hc) {
  Json out = Json::object();
  out["protocol"] = std::string(healthCheckProtocolName(hc.protocol));
  if (hc.protocol == HealthCheckProtocol::kCommand) {
    out["command"] = Json{{"value", hc.command.value_or("")}};
  } else {
    if (hc.path) out["path"] = *hc.path;
    if (hc.portIndex) out["portIndex"] = *hc.portIndex;
    if (hc.port) out["port"] = *hc.port;
    out["ipProtocol"] = hc.ipProtocol;
  }
  out["gracePeriodSeconds"] = hc.gracePeriodSeconds;
  out["intervalSeconds"] = hc.intervalSeconds;
  out["timeoutSeconds"] = hc.timeoutSeconds;
  out["maxConsecutiveFailures"] = hc.maxConsecutiveFailures;
  out["delaySeconds"] = hc.delaySeconds;
  out["ignoreHttp1xx"] = hc.ignoreHttp1xx;
  return out;
}

}  // namespace

Json toMarathonJson(const AppDefinition& app) {
  Json out = Json::object();
  out["id"] = app.id;
  // Optional fields that are not set are left out, as Marathon leaves them
  // out (its schema has no nulls).
  if (app.cmd) out["cmd"] = *app.cmd;
  if (app.args) out["args"] = *app.args;
  if (app.user) out["user"] = *app.user;
  out["env"] = toJson(app.env);
  out["instances"] = app.instances;
  out["cpus"] = app.cpus;
  out["mem"] = app.mem;
  out["disk"] = app.disk;
  out["gpus"] = app.gpus;
  out["executor"] = app.executor;

  Json constraints = Json::array();
  for (const Constraint& c : app.constraints) constraints.push_back(constraintToJson(c));
  out["constraints"] = std::move(constraints);

  Json uris = Json::array();
  Json fetch = Json::array();
  for (const FetchUri& f : app.fetch) {
    uris.push_back(f.uri);
    Json item = {
        {"uri", f.uri}, {"extract", f.extract}, {"executable", f.executable}, {"cache", f.cache}};
    if (f.destPath) item["destPath"] = *f.destPath;
    fetch.push_back(std::move(item));
  }
  out["uris"] = std::move(uris);
  out["fetch"] = std::move(fetch);
  out["storeUrls"] = app.storeUrls;
  out["backoffSeconds"] = app.backoffSeconds;
  out["backoffFactor"] = app.backoffFactor;
  out["maxLaunchDelaySeconds"] = app.maxLaunchDelaySeconds;

  if (app.container) {
    Json c = Json::parse(*app.container, nullptr, /*allow_exceptions=*/false);
    if (!c.is_discarded()) out["container"] = std::move(c);
  }

  Json healthChecks = Json::array();
  for (const HealthCheck& hc : app.healthChecks) healthChecks.push_back(healthCheckJson(hc));
  out["healthChecks"] = std::move(healthChecks);

  Json readiness = Json::array();
  for (const ReadinessCheck& rc : app.readinessChecks) {
    readiness.push_back(Json{{"name", rc.name},
                             {"protocol", rc.protocol},
                             {"path", rc.path},
                             {"portName", rc.portName},
                             {"intervalSeconds", rc.intervalSeconds},
                             {"timeoutSeconds", rc.timeoutSeconds},
                             {"httpStatusCodesForReady", rc.httpStatusCodesForReady},
                             {"preserveLastResponse", rc.preserveLastResponse}});
  }
  out["readinessChecks"] = std::move(readiness);
  out["dependencies"] = app.dependencies;
  out["upgradeStrategy"] =
      Json{{"minimumHealthCapacity", app.upgradeStrategy.minimumHealthCapacity},
           {"maximumOverCapacity", app.upgradeStrategy.maximumOverCapacity}};
  out["labels"] = toJson(app.labels);
  if (app.acceptedResourceRoles) out["acceptedResourceRoles"] = *app.acceptedResourceRoles;
  if (app.version) out["version"] = *app.version;
  if (app.residency) {
    out["residency"] =
        Json{{"relaunchEscalationTimeoutSeconds", app.residency->relaunchEscalationTimeoutSeconds},
             {"taskLostBehavior", app.residency->taskLostBehavior}};
  }
  out["secrets"] = Json::object();
  if (app.taskKillGracePeriodSeconds) {
    out["taskKillGracePeriodSeconds"] = *app.taskKillGracePeriodSeconds;
  }
  if (app.unreachableStrategy.disabled) {
    out["unreachableStrategy"] = "disabled";
  } else {
    out["unreachableStrategy"] =
        Json{{"inactiveAfterSeconds", app.unreachableStrategy.inactiveAfterSeconds},
             {"expungeAfterSeconds", app.unreachableStrategy.expungeAfterSeconds}};
  }
  out["killSelection"] =
      app.killSelection == KillSelection::kOldestFirst ? "OLDEST_FIRST" : "YOUNGEST_FIRST";

  Json ports = Json::array();
  Json portDefinitions = Json::array();
  for (const PortDefinition& d : app.portDefinitions) {
    ports.push_back(d.port);
    Json item = {{"port", d.port}, {"protocol", d.protocol}, {"labels", toJson(d.labels)}};
    if (d.name) item["name"] = *d.name;
    portDefinitions.push_back(std::move(item));
  }
  out["ports"] = std::move(ports);
  out["portDefinitions"] = std::move(portDefinitions);
  out["requirePorts"] = app.requirePorts;
  out["networks"] = Json::array({Json{{"mode", "host"}}});
  out["role"] = "*";  // every task runs under the default role
  return out;
}

// ---------------------------------------------------------------- patch

Result<AppDefinition> applyAppPatch(const AppDefinition& current, const Json& patch) {
  try {
    if (!patch.is_object()) {
      return makeError(ErrorKind::kInvalid,
                       fmt::format("expected a JSON object, got {}", show(patch)), "/");
    }
    std::string group = parentGroup(current.id);
    Json merged = toMarathonJson(current);
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      const std::string& key = it.key();
      const Json& value = it.value();
      if (key == "id") {
        if (!value.is_string()) {
          return makeError(ErrorKind::kInvalid, fmt::format("expected string, got {}", show(value)),
                           "/id");
        }
        auto resolved = resolveAppId(value.get<std::string>(), group, "/id");
        if (!resolved) return resolved.error();
        if (*resolved != current.id) {
          return makeError(
              ErrorKind::kInvalid,
              fmt::format("the patch names app \"{}\", not \"{}\"", *resolved, current.id), "/id");
        }
        continue;
      }
      // A field replaces its alternative form unless the patch sets both.
      auto dropUnlessPatched = [&](const char* other) {
        if (!patch.contains(other)) merged.erase(other);
      };
      if (key == "cmd" && !value.is_null()) dropUnlessPatched("args");
      if (key == "args" && value.is_array() && !value.empty()) dropUnlessPatched("cmd");
      if (key == "ports") dropUnlessPatched("portDefinitions");
      if (key == "portDefinitions") dropUnlessPatched("ports");
      if (key == "uris") dropUnlessPatched("fetch");
      if (key == "fetch") dropUnlessPatched("uris");
      merged[key] = value;
    }
    return parseAppDefinition(merged, group);
  } catch (const std::exception& e) {
    return makeError(ErrorKind::kInvalid, std::string("invalid patch: ") + e.what(), "/");
  }
}

}  // namespace corral::conf
