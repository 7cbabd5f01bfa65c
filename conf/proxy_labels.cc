#include "conf/proxy_labels.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <set>

namespace corral::conf {

std::string_view routeModeName(RouteMode mode) { return mode == RouteMode::kHttp ? "http" : "tcp"; }

std::string_view balanceName(BalanceAlgorithm algorithm) {
  switch (algorithm) {
    case BalanceAlgorithm::kRoundRobin:
      return "roundrobin";
    case BalanceAlgorithm::kLeastConn:
      return "leastconn";
    case BalanceAlgorithm::kSource:
      return "source";
    case BalanceAlgorithm::kRandomTwo:
      return "random(2)";
    case BalanceAlgorithm::kHashHeader:
      return "hash-header";
    case BalanceAlgorithm::kHashCookie:
      return "hash-cookie";
  }
  return "roundrobin";
}

std::string_view routeStateName(RouteState state) {
  switch (state) {
    case RouteState::kRouted:
      return "routed";
    case RouteState::kOtherGroup:
      return "other-group";
    case RouteState::kDisabled:
      return "disabled";
  }
  return "routed";
}

std::string_view labelIssueKindName(LabelIssueKind kind) {
  switch (kind) {
    case LabelIssueKind::kBadValue:
      return "bad-value";
    case LabelIssueKind::kUnsupported:
      return "unsupported";
    case LabelIssueKind::kUnknownLabel:
      return "unknown-label";
    case LabelIssueKind::kIgnored:
      return "ignored";
    case LabelIssueKind::kNoServicePort:
      return "no-service-port";
  }
  return "bad-value";
}

std::string LabelIssue::toString() const {
  std::string out = "app " + appId;
  if (!label.empty()) out += ": label " + label + "=\"" + value + "\"";
  out += ": " + message;
  return out;
}

bool Cidr::contains(const uint8_t* address, bool addressV6) const {
  if (addressV6 != v6) return false;
  int full = prefixLength / 8;
  if (std::memcmp(address, bytes, static_cast<size_t>(full)) != 0) return false;
  int rest = prefixLength % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address[full] & mask) == (bytes[full] & mask);
}

std::string Cidr::toString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, text, sizeof text);
  return std::string(text) + "/" + std::to_string(prefixLength);
}

std::optional<Cidr> parseCidr(std::string_view text) {
  Cidr cidr;
  std::string address(text.substr(0, text.find('/')));
  cidr.v6 = address.find(':') != std::string::npos;
  if (inet_pton(cidr.v6 ? AF_INET6 : AF_INET, address.c_str(), cidr.bytes) != 1) {
    return std::nullopt;
  }
  int maxLength = cidr.v6 ? 128 : 32;
  cidr.prefixLength = maxLength;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    std::string_view length = text.substr(slash + 1);
    auto [end, ec] =
        std::from_chars(length.data(), length.data() + length.size(), cidr.prefixLength);
    if (length.empty() || ec != std::errc() || end != length.data() + length.size() ||
        cidr.prefixLength < 0 || cidr.prefixLength > maxLength) {
      return std::nullopt;
    }
  }
  // Clear host bits so equal networks compare equal.
  for (int bit = cidr.prefixLength; bit < maxLength; ++bit) {
    cidr.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  return cidr;
}

std::optional<int64_t> parseDurationMs(std::string_view text) {
  int64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data() || number < 0) return std::nullopt;
  std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  int64_t scale = 0;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    return std::nullopt;
  }
  // A day is more than any proxy timeout needs; larger values are typos.
  if (number > 86'400'000 / scale) return std::nullopt;
  return number * scale;
}

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    parts.emplace_back(trim(text.substr(start, end - start)));
    start = end + 1;
  }
  return parts;
}

std::vector<std::string> splitSpaces(std::string_view text) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) parts.emplace_back(text.substr(start, i - start));
  }
  return parts;
}

// marathon-lb's string_to_bool accepts only these as true; corral also
// refuses anything that is not clearly a boolean, so a typo is reported.
std::optional<bool> parseBool(std::string_view text) {
  std::string value = lower(trim(text));
  if (value == "true" || value == "t" || value == "yes" || value == "y" || value == "1")
    return true;
  if (value == "false" || value == "f" || value == "no" || value == "n" || value == "0") {
    return false;
  }
  return std::nullopt;
}

std::optional<int> parseInt(std::string_view text, int min, int max) {
  text = trim(text);
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

// RFC 1123 host name (letters, digits, hyphens, dots), at most 253 bytes.
bool validHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t labelLength = 0;
  for (char c : host) {
    if (c == '.') {
      if (labelLength == 0) return false;
      labelLength = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (++labelLength > 63) return false;
  }
  return labelLength > 0;
}

bool validPathPrefix(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#') return false;
  }
  return true;
}

// Bearer tokens that HTTP allows in a header name (RFC 9110 token).
bool validToken(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Labels marathon-lb turns into raw HAProxy configuration text.
constexpr std::array kTemplateLabels = {
    "FRONTEND_HEAD",
    "USERLIST_HEAD",
    "BACKEND_REDIRECT_HTTP_TO_HTTPS",
    "BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH",
    "BACKEND_HEAD",
    "HTTP_FRONTEND_ACL",
    "MAP_HTTP_FRONTEND_ACL",
    "HTTP_FRONTEND_ACL_ONLY",
    "MAP_HTTP_FRONTEND_ACL_ONLY",
    "HTTP_FRONTEND_ROUTING_ONLY",
    "HTTP_FRONTEND_ROUTING_ONLY_WITH_AUTH",
    "HTTP_FRONTEND_ACL_WITH_AUTH",
    "HTTP_FRONTEND_ACL_WITH_PATH",
    "HTTP_FRONTEND_ACL_WITH_AUTH_AND_PATH",
    "HTTP_FRONTEND_ACL_ONLY_WITH_PATH",
    "HTTP_FRONTEND_ACL_ONLY_WITH_PATH_AND_AUTH",
    "HTTPS_FRONTEND_ACL_ONLY_WITH_PATH",
    "HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH",
    "HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH",
    "HTTP_FRONTEND_APPID_ACL",
    "MAP_HTTP_FRONTEND_APPID_ACL",
    "HTTPS_FRONTEND_ACL",
    "MAP_HTTPS_FRONTEND_ACL",
    "HTTPS_FRONTEND_ACL_WITH_AUTH",
    "HTTPS_FRONTEND_ACL_WITH_PATH",
    "HTTPS_FRONTEND_ACL_WITH_AUTH_AND_PATH",
    "BACKEND_HTTP_OPTIONS",
    "HTTP_BACKEND_PROXYPASS_GLUE",
    "HTTP_BACKEND_REVPROXY_GLUE",
    "BACKEND_HSTS_OPTIONS",
    "BACKEND_HTTP_HEALTHCHECK_OPTIONS",
    "BACKEND_TCP_HEALTHCHECK_OPTIONS",
    "BACKEND_STICKY_OPTIONS",
    "BACKEND_SERVER_OPTIONS",
    "BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS",
    "BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS",
    "FRONTEND_BACKEND_GLUE",
    "HTTP_BACKEND_NETWORK_ALLOWED_ACL",
    "TCP_BACKEND_NETWORK_ALLOWED_ACL",
    // Not templates, but they carry HAProxy syntax or response rewriting that
    // corral's proxy has no equivalent for.
    "BIND_OPTIONS",
    "HTTP_BACKEND_REVPROXY_PATH",
    "HTTP_BACKEND_REDIR",
};

// Global templates (marathon-lb reads them from its templates directory; as
// app labels they are equally raw HAProxy text).
constexpr std::array kGlobalTemplateLabels = {
    "HEAD",
    "HTTP_FRONTEND_HEAD",
    "HTTP_FRONTEND_APPID_HEAD",
    "HTTPS_FRONTEND_HEAD",
    "HTTPS_GROUPED_FRONTEND_HEAD",
    "HTTPS_GROUPED_VHOST_FRONTEND_HEAD",
    "HTTPS_GROUPED_VHOST_BACKEND_HEAD",
    "HTTPS_GROUPED_VHOST_FRONTEND_ACL",
    "HTTP_BACKEND_ACL_ALLOW_DENY",
    "TCP_BACKEND_ACL_ALLOW_DENY",
};

bool isTemplateLabel(std::string_view name) {
  return std::find(kTemplateLabels.begin(), kTemplateLabels.end(), name) != kTemplateLabels.end();
}
bool isGlobalTemplateLabel(std::string_view name) {
  return isTemplateLabel(name) ||
         std::find(kGlobalTemplateLabels.begin(), kGlobalTemplateLabels.end(), name) !=
             kGlobalTemplateLabels.end();
}

constexpr std::array kPortLabels = {
    "AUTH",
    "VHOST",
    "GROUP",
    "PATH",
    "STICKY",
    "ENABLED",
    "REDIRECT_TO_HTTPS",
    "USE_HSTS",
    "SSL_CERT",
    "BIND_ADDR",
    "PORT",
    "MODE",
    "BALANCE",
    "HTTP_BACKEND_PROXYPASS_PATH",
    "BACKEND_WEIGHT",
    "BACKEND_NETWORK_ALLOWED_ACL",
    "BACKEND_HEALTHCHECK_PORT_INDEX",
};
constexpr std::array kAppLabels = {
    "GROUP",
    "DEPLOYMENT_GROUP",
    "DEPLOYMENT_ALT_PORT",
    "DEPLOYMENT_COLOUR",
    "DEPLOYMENT_STARTED_AT",
    "DEPLOYMENT_TARGET_INSTANCES",
    "DEPLOYMENT_NEW_INSTANCES",
};
constexpr std::array kNativePortLabels = {
    "TIMEOUT_CONNECT",  "TIMEOUT_SERVER", "TIMEOUT_IDLE", "TIMEOUT_TUNNEL", "RETRIES",
    "RETRY_IDEMPOTENT", "MAXCONN",        "BALANCE_HASH", "HTTP_DEFAULT",
};

template <size_t N>
bool contains(const std::array<const char*, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// "HAPROXY_12_VHOST" -> (12, "VHOST"); nullopt when not per-port.
struct PortLabelName {
  int index;
  std::string_view name;
};
std::optional<PortLabelName> splitPortLabel(std::string_view rest) {
  size_t underscore = rest.find('_');
  if (underscore == 0 || underscore == std::string_view::npos) return std::nullopt;
  int index = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + underscore, index);
  if (ec != std::errc() || end != rest.data() + underscore || index < 0) return std::nullopt;
  return PortLabelName{index, rest.substr(underscore + 1)};
}

class PortParser {
 public:
  PortParser(const LabelApp& app, int index, RouteSpec& spec, std::vector<LabelIssue>& issues)
      : app_(app), index_(index), spec_(spec), issues_(issues) {}

  bool rejected() const { return rejected_; }

  void issue(LabelIssueKind kind, std::string_view label, std::string_view value,
             std::string message, int portIndex) {
    issues_.push_back(LabelIssue{kind, app_.id, std::string(label), std::string(value), portIndex,
                                 std::move(message)});
    if (issues_.back().rejects()) rejected_ = true;
  }
  void bad(std::string_view label, std::string_view value, std::string message) {
    issue(LabelIssueKind::kBadValue, label, value, std::move(message), index_);
  }

  // The value of HAPROXY_{n}_NAME (or CORRAL_{n}_NAME), if set.
  const std::string* port(std::string_view prefix, std::string_view name) {
    auto it = app_.labels.find(label(prefix, name));
    return it == app_.labels.end() ? nullptr : &it->second;
  }
  std::string label(std::string_view prefix, std::string_view name) const {
    return std::string(prefix) + "_" + std::to_string(index_) + "_" + std::string(name);
  }

  void parse(const ProxyLabelOptions& options);

 private:
  void parseVhostsAndPaths();
  void parseBalance();
  void parseNative();
  void parseOptionalTimeout(std::string_view name, std::optional<int64_t>& out);

  const LabelApp& app_;
  int index_;
  RouteSpec& spec_;
  std::vector<LabelIssue>& issues_;
  bool rejected_ = false;
};

void PortParser::parseVhostsAndPaths() {
  if (const std::string* value = port("HAPROXY", "VHOST")) {
    for (const std::string& host : split(*value, ',')) {
      if (host.empty()) continue;  // "a,,b" and a trailing comma are harmless
      std::string name = lower(host);
      if (name.find('*') != std::string::npos) {
        bad(label("HAPROXY", "VHOST"), *value,
            "wildcard host \"" + name + "\": marathon-lb matches exact host names only");
        return;
      }
      if (!validHostName(name)) {
        bad(label("HAPROXY", "VHOST"), *value,
            "\"" + name + "\" is not a host name (letters, digits, '-', '.'; no port)");
        return;
      }
      if (std::find(spec_.vhosts.begin(), spec_.vhosts.end(), name) == spec_.vhosts.end()) {
        spec_.vhosts.push_back(name);
      }
    }
  }
  if (const std::string* value = port("HAPROXY", "PATH")) {
    for (const std::string& path : splitSpaces(*value)) {
      if (path == "-i") {
        issue(LabelIssueKind::kUnsupported, label("HAPROXY", "PATH"), *value,
              "flag -i ignored: paths match case-sensitively", index_);
        continue;
      }
      if (!validPathPrefix(path)) {
        bad(label("HAPROXY", "PATH"), *value,
            "\"" + path + "\" is not a path prefix (starts with '/', no spaces, '?' or '#')");
        return;
      }
      spec_.paths.push_back(path);
    }
    if (!spec_.paths.empty() && spec_.backendWeight == 0) spec_.backendWeight = 1;
  }
  if (const std::string* value = port("HAPROXY", "HTTP_BACKEND_PROXYPASS_PATH")) {
    if (!validPathPrefix(*value)) {
      bad(label("HAPROXY", "HTTP_BACKEND_PROXYPASS_PATH"), *value,
          "not a path prefix (starts with '/', no spaces, '?' or '#')");
    } else {
      spec_.proxyPassPath = *value;
    }
  }
}

void PortParser::parseBalance() {
  if (const std::string* value = port("HAPROXY", "BALANCE")) {
    std::string name = lower(trim(*value));
    if (name == "roundrobin") {
      spec_.balance.algorithm = BalanceAlgorithm::kRoundRobin;
    } else if (name == "leastconn") {
      spec_.balance.algorithm = BalanceAlgorithm::kLeastConn;
    } else if (name == "source") {
      spec_.balance.algorithm = BalanceAlgorithm::kSource;
    } else if (name == "random" || name == "random(2)") {
      spec_.balance.algorithm = BalanceAlgorithm::kRandomTwo;
    } else if (std::string_view text = trim(*value); name.starts_with("hdr(") &&
                                                     name.ends_with(")") &&
                                                     validToken(text.substr(4, text.size() - 5))) {
      // HAProxy's own spelling of a header hash.
      spec_.balance.algorithm = BalanceAlgorithm::kHashHeader;
      spec_.balance.hashKey = std::string(text.substr(4, text.size() - 5));
    } else {
      bad(label("HAPROXY", "BALANCE"), *value,
          "unknown algorithm: use roundrobin, leastconn, source, random, hdr(<name>) "
          "(or CORRAL_" +
              std::to_string(index_) + "_BALANCE_HASH for a cookie)");
    }
  }
  if (const std::string* value = port("CORRAL", "BALANCE_HASH")) {
    std::string_view text = trim(*value);
    size_t colon = text.find(':');
    std::string kind = lower(text.substr(0, colon));
    std::string_view key = colon == std::string_view::npos ? "" : trim(text.substr(colon + 1));
    if ((kind != "header" && kind != "cookie") || !validToken(key)) {
      bad(label("CORRAL", "BALANCE_HASH"), *value,
          "expected header:<name> or cookie:<name>, e.g. header:X-User");
      return;
    }
    spec_.balance.algorithm =
        kind == "header" ? BalanceAlgorithm::kHashHeader : BalanceAlgorithm::kHashCookie;
    spec_.balance.hashKey = std::string(key);
  }
}

void PortParser::parseOptionalTimeout(std::string_view name, std::optional<int64_t>& out) {
  if (const std::string* value = port("CORRAL", name)) {
    auto ms = parseDurationMs(trim(*value));
    if (!ms || *ms == 0) {
      bad(label("CORRAL", name), *value,
          "expected a positive duration such as 500ms, 30s, 5m (at most 24h)");
      return;
    }
    out = *ms;
  }
}

void PortParser::parseNative() {
  parseOptionalTimeout("TIMEOUT_CONNECT", spec_.timeouts.connectMs);
  parseOptionalTimeout("TIMEOUT_SERVER", spec_.timeouts.serverMs);
  parseOptionalTimeout("TIMEOUT_IDLE", spec_.timeouts.idleMs);
  parseOptionalTimeout("TIMEOUT_TUNNEL", spec_.timeouts.tunnelMs);
  if (const std::string* value = port("CORRAL", "RETRIES")) {
    if (auto n = parseInt(*value, 0, 10)) {
      spec_.retries = *n;
    } else {
      bad(label("CORRAL", "RETRIES"), *value, "expected a whole number from 0 to 10");
    }
  }
  if (const std::string* value = port("CORRAL", "RETRY_IDEMPOTENT")) {
    if (auto b = parseBool(*value)) {
      spec_.retryIdempotent = *b;
    } else {
      bad(label("CORRAL", "RETRY_IDEMPOTENT"), *value, "expected true or false");
    }
  }
  if (const std::string* value = port("CORRAL", "MAXCONN")) {
    if (auto n = parseInt(*value, 1, 1'000'000)) {
      spec_.maxConn = *n;
    } else {
      bad(label("CORRAL", "MAXCONN"), *value, "expected a whole number from 1 to 1000000");
    }
  }
  if (const std::string* value = port("CORRAL", "HTTP_DEFAULT")) {
    if (auto b = parseBool(*value)) {
      spec_.httpDefault = *b;
    } else {
      bad(label("CORRAL", "HTTP_DEFAULT"), *value, "expected true or false");
    }
  }
}

void PortParser::parse(const ProxyLabelOptions& options) {
  const LabelPort& portInput = app_.ports[static_cast<size_t>(index_)];
  spec_.appId = app_.id;
  spec_.portIndex = index_;
  spec_.servicePort = portInput.servicePort;
  bool enabled = !options.strictMode;

  auto boolLabel = [&](std::string_view name, bool& out) {
    if (const std::string* value = port("HAPROXY", name)) {
      if (auto b = parseBool(*value)) {
        out = *b;
      } else {
        bad(label("HAPROXY", name), *value, "expected true or false");
      }
    }
  };

  if (const std::string* value = port("HAPROXY", "PORT")) {
    if (auto n = parseInt(*value, 1, 65535)) {
      spec_.servicePort = *n;
    } else {
      bad(label("HAPROXY", "PORT"), *value, "expected a port number from 1 to 65535");
    }
  }
  if (const std::string* value = port("HAPROXY", "BACKEND_WEIGHT")) {
    if (auto n = parseInt(*value, -1'000'000, 1'000'000)) {
      spec_.backendWeight = *n;
    } else {
      bad(label("HAPROXY", "BACKEND_WEIGHT"), *value, "expected a whole number");
    }
  }
  parseVhostsAndPaths();
  boolLabel("STICKY", spec_.sticky);
  boolLabel("ENABLED", enabled);
  boolLabel("REDIRECT_TO_HTTPS", spec_.redirectToHttps);
  boolLabel("USE_HSTS", spec_.useHsts);

  if (const std::string* value = port("HAPROXY", "SSL_CERT")) {
    for (const std::string& path : split(*value, ',')) {
      if (path.empty()) continue;
      if (path.front() != '/') {
        bad(label("HAPROXY", "SSL_CERT"), *value,
            "\"" + path + "\" is not an absolute path to a PEM file");
        break;
      }
      spec_.sslCerts.push_back(path);
    }
  }
  if (const std::string* value = port("HAPROXY", "BIND_ADDR")) {
    std::string addr(trim(*value));
    if (addr != "*" && (!parseCidr(addr) || addr.find('/') != std::string::npos)) {
      bad(label("HAPROXY", "BIND_ADDR"), *value, "expected an IP address or *");
    } else {
      spec_.bindAddr = addr;
    }
  }
  std::optional<RouteMode> mode;
  if (const std::string* value = port("HAPROXY", "MODE")) {
    std::string name = lower(trim(*value));
    if (name == "http") {
      mode = RouteMode::kHttp;
    } else if (name == "tcp") {
      mode = RouteMode::kTcp;
    } else {
      bad(label("HAPROXY", "MODE"), *value, "expected http or tcp");
    }
  }
  parseBalance();
  if (const std::string* value = port("HAPROXY", "BACKEND_NETWORK_ALLOWED_ACL")) {
    for (const std::string& network : splitSpaces(*value)) {
      auto cidr = parseCidr(network);
      if (!cidr) {
        bad(label("HAPROXY", "BACKEND_NETWORK_ALLOWED_ACL"), *value,
            "\"" + network + "\" is not an IP address or CIDR network");
        spec_.allowedNetworks.clear();
        break;
      }
      spec_.allowedNetworks.push_back(*cidr);
    }
  }
  if (const std::string* value = port("HAPROXY", "AUTH")) {
    std::vector<std::string> parts = split(*value, ':');
    if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
      bad(label("HAPROXY", "AUTH"), *value, "expected realm:user:password-hash");
    } else {
      spec_.auth = BasicAuth{parts[0], parts[1], parts[2]};
    }
  }
  if (const std::string* value = port("HAPROXY", "BACKEND_HEALTHCHECK_PORT_INDEX")) {
    if (auto n = parseInt(*value, 0, static_cast<int>(app_.ports.size()) - 1)) {
      spec_.healthCheckPortIndex = *n;
    } else {
      bad(label("HAPROXY", "BACKEND_HEALTHCHECK_PORT_INDEX"), *value,
          "expected the index of one of the app's " + std::to_string(app_.ports.size()) + " ports");
    }
  }
  parseNative();

  // Groups: the port's own list overrides the app's.
  const std::string* groups = port("HAPROXY", "GROUP");
  if (!groups || trim(*groups).empty()) {  // an empty port list falls back, as in marathon-lb
    auto it = app_.labels.find("HAPROXY_GROUP");
    if (it != app_.labels.end()) groups = &it->second;
  }
  if (groups) {
    for (const std::string& group : split(*groups, ',')) {
      if (!group.empty()) spec_.groups.push_back(group);
    }
  }

  // Mode: an HTTP health check forces http; else the label; else http with a vhost.
  int checkIndex = spec_.healthCheckPortIndex.value_or(index_);
  bool httpCheck = app_.ports[static_cast<size_t>(checkIndex)].httpHealthCheck;
  if (httpCheck) {
    spec_.mode = RouteMode::kHttp;
  } else if (mode) {
    spec_.mode = *mode;
  } else {
    bool httpRouted = !spec_.vhosts.empty() || spec_.httpDefault;
    spec_.mode = httpRouted ? RouteMode::kHttp : RouteMode::kTcp;
  }

  if (!spec_.paths.empty() && spec_.vhosts.empty() && !spec_.httpDefault) {
    issue(LabelIssueKind::kIgnored, label("HAPROXY", "PATH"), *port("HAPROXY", "PATH"),
          "a path routes only together with HAPROXY_" + std::to_string(index_) +
              "_VHOST (or CORRAL_" + std::to_string(index_) + "_HTTP_DEFAULT=true)",
          index_);
    spec_.paths.clear();
  }
  bool httpRouted = !spec_.vhosts.empty() || spec_.httpDefault;
  if (httpRouted && spec_.mode == RouteMode::kTcp) {
    bad(mode ? label("HAPROXY", "MODE") : label("HAPROXY", "VHOST"),
        mode ? *port("HAPROXY", "MODE") : "",
        "a port with a vhost (or CORRAL_" + std::to_string(index_) +
            "_HTTP_DEFAULT) is routed by HTTP: it cannot be in tcp mode");
  }
  if (spec_.mode == RouteMode::kTcp) {
    bool hashOnRequest = spec_.balance.algorithm == BalanceAlgorithm::kHashHeader ||
                         spec_.balance.algorithm == BalanceAlgorithm::kHashCookie;
    if (hashOnRequest) {
      bad(port("CORRAL", "BALANCE_HASH") ? label("CORRAL", "BALANCE_HASH")
                                         : label("HAPROXY", "BALANCE"),
          port("CORRAL", "BALANCE_HASH") ? *port("CORRAL", "BALANCE_HASH")
                                         : *port("HAPROXY", "BALANCE"),
          "hashing on a header or cookie needs http mode (this port is tcp)");
    }
    if (spec_.auth) {
      bad(label("HAPROXY", "AUTH"), *port("HAPROXY", "AUTH"),
          "basic auth needs http mode (this port is tcp)");
    }
  }
  if (spec_.servicePort == 0) {
    issue(LabelIssueKind::kNoServicePort, "", "",
          "port " + std::to_string(index_) +
              " has no service port: set portDefinitions[].port or HAPROXY_" +
              std::to_string(index_) + "_PORT",
          index_);
  }

  if (!enabled) {
    spec_.state = RouteState::kDisabled;
  } else {
    bool inGroup =
        std::find(options.groups.begin(), options.groups.end(), "*") != options.groups.end();
    for (const std::string& group : spec_.groups) {
      if (std::find(options.groups.begin(), options.groups.end(), group) != options.groups.end()) {
        inGroup = true;
      }
    }
    if (!inGroup) spec_.state = RouteState::kOtherGroup;
  }
}

}  // namespace

AppRouteSpecs parseProxyLabels(const LabelApp& app, const ProxyLabelOptions& options) {
  AppRouteSpecs out;
  // App-wide labels first: a bad one rejects every port.
  bool appRejected = false;
  RouteSpec appWide;
  auto appIssue = [&](LabelIssueKind kind, std::string_view label, std::string_view value,
                      std::string message) {
    out.issues.push_back(
        LabelIssue{kind, app.id, std::string(label), std::string(value), -1, std::move(message)});
    if (out.issues.back().rejects()) appRejected = true;
  };
  if (auto it = app.labels.find("HAPROXY_DEPLOYMENT_GROUP"); it != app.labels.end()) {
    std::string group(trim(it->second));
    if (group.empty() || group.find_first_of(" \t,") != std::string::npos) {
      appIssue(LabelIssueKind::kBadValue, it->first, it->second,
               "expected an app-id-like name without spaces or commas");
    } else {
      appWide.deploymentGroup = group.front() == '/' ? group : "/" + group;
    }
  }
  if (auto it = app.labels.find("HAPROXY_DEPLOYMENT_ALT_PORT"); it != app.labels.end()) {
    if (auto n = parseInt(it->second, 1, 65535)) {
      appWide.deploymentAltPort = *n;
    } else {
      appIssue(LabelIssueKind::kBadValue, it->first, it->second,
               "expected a port number from 1 to 65535");
    }
  }
  if (auto it = app.labels.find("HAPROXY_DEPLOYMENT_COLOUR"); it != app.labels.end()) {
    std::string colour = lower(trim(it->second));
    if (colour != "blue" && colour != "green") {
      appIssue(LabelIssueKind::kBadValue, it->first, it->second, "expected blue or green");
    } else {
      appWide.deploymentColour = colour;
    }
  }
  if (auto it = app.labels.find("HAPROXY_DEPLOYMENT_STARTED_AT"); it != app.labels.end()) {
    appWide.deploymentStartedAt = std::string(trim(it->second));
  }
  if (auto it = app.labels.find("HAPROXY_DEPLOYMENT_TARGET_INSTANCES"); it != app.labels.end()) {
    if (auto n = parseInt(it->second, 0, 1000000)) {
      appWide.deploymentTargetInstances = *n;
    } else {
      appIssue(LabelIssueKind::kBadValue, it->first, it->second,
               "expected a number of instances from 0 to 1000000");
    }
  }

  // Every HAPROXY_/CORRAL_ label is checked once: unknown names, templates
  // and labels for ports the app does not have are reported.
  for (const auto& [name, value] : app.labels) {
    std::string_view full = name;
    bool haproxy = full.starts_with("HAPROXY_");
    bool corral = full.starts_with("CORRAL_");
    if (!haproxy && !corral) continue;
    std::string_view rest = full.substr(haproxy ? 8 : 7);
    auto portLabel = splitPortLabel(rest);
    if (!portLabel) {
      if (haproxy && contains(kAppLabels, rest)) continue;
      if (haproxy && isGlobalTemplateLabel(rest)) {
        appIssue(LabelIssueKind::kUnsupported, name, value,
                 "raw HAProxy configuration is not supported by corral proxy; the label is "
                 "ignored");
        continue;
      }
      appIssue(LabelIssueKind::kUnknownLabel, name, value,
               "not a label corral proxy knows (see docs/LABELS.md); ignored");
      continue;
    }
    bool known = haproxy ? contains(kPortLabels, portLabel->name)
                         : contains(kNativePortLabels, portLabel->name);
    if (haproxy && isTemplateLabel(portLabel->name)) {
      out.issues.push_back(LabelIssue{LabelIssueKind::kUnsupported, app.id, name, value,
                                      portLabel->index,
                                      "raw HAProxy configuration is not supported by corral "
                                      "proxy; the label is ignored"});
      continue;
    }
    if (!known) {
      out.issues.push_back(LabelIssue{LabelIssueKind::kUnknownLabel, app.id, name, value,
                                      portLabel->index,
                                      "not a label corral proxy knows (see docs/LABELS.md); "
                                      "ignored"});
      continue;
    }
    if (static_cast<size_t>(portLabel->index) >= app.ports.size()) {
      out.issues.push_back(LabelIssue{LabelIssueKind::kIgnored, app.id, name, value,
                                      portLabel->index,
                                      "the app has " + std::to_string(app.ports.size()) +
                                          " port(s); no port " + std::to_string(portLabel->index)});
    }
  }
  if (appRejected) return out;

  for (size_t index = 0; index < app.ports.size(); ++index) {
    RouteSpec spec = appWide;
    PortParser parser(app, static_cast<int>(index), spec, out.issues);
    parser.parse(options);
    if (!parser.rejected()) out.routes.push_back(std::move(spec));
  }
  return out;
}

}  // namespace corral::conf
