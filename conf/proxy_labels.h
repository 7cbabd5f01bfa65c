// marathon-lb's labels read into route specs, one per service port of an app.
// Socket-free and registry-free: the caller hands in the app as plain data
// (proxy/app_labels.h adapts a registry::App) plus the proxy's own options.
//
// The contract is marathon-lb's (Longhelp.md, config.py, marathon_lb.py):
//  * labels are app labels named HAPROXY_{n}_NAME (n = port index) or
//    HAPROXY_NAME (app-wide: GROUP and the DEPLOYMENT_* ones);
//  * a port is TCP unless it has a vhost or an HTTP health check (an HTTP
//    health check forces http even over HAPROXY_{n}_MODE=tcp);
//  * HAPROXY_{n}_PATH only routes together with a vhost;
//  * HAPROXY_{n}_GROUP overrides HAPROXY_GROUP; a proxy in group "*" takes all;
//  * --strict-mode routes a port only with HAPROXY_{n}_ENABLED=true;
//  * a PATH with the default BACKEND_WEIGHT (0) gets weight 1.
// Labels embedding raw HAProxy text (templates, BIND_OPTIONS) are reported as
// unsupported. CORRAL_{n}_* labels add what marathon-lb lacks (docs/LABELS.md).
//
// A bad value rejects only the port it belongs to (an app-wide label: every
// port) and yields an issue naming app, label and value; the other ports of
// the app and every other app are unaffected.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::conf {

// ---- input -----------------------------------------------------------------

struct LabelPort {
  int servicePort = 0;  // portDefinitions[n].port; 0 = none assigned
  // True when a health check of protocol HTTP/HTTPS/MESOS_HTTP/MESOS_HTTPS
  // targets this port index (it makes the port http, as in marathon-lb).
  bool httpHealthCheck = false;
};

struct LabelApp {
  std::string id;  // "/shop/web"
  std::map<std::string, std::string> labels;
  std::vector<LabelPort> ports;  // index = n of HAPROXY_{n}_*
  bool hasHealthChecks = false;
};

struct ProxyLabelOptions {
  std::vector<std::string> groups = {"external"};  // the proxy's --group list; "*" takes all
  bool strictMode = false;                         // --strict-mode
};

// ---- output ----------------------------------------------------------------

enum class RouteMode { kTcp, kHttp };
enum class BalanceAlgorithm {
  kRoundRobin,  // smooth weighted round robin (default)
  kLeastConn,   // fewest active requests/connections
  kSource,      // hash of the client address
  kRandomTwo,   // power of two random choices (least active of two)
  kHashHeader,  // consistent hash of a request header
  kHashCookie,  // consistent hash of a cookie
};
std::string_view routeModeName(RouteMode mode);
std::string_view balanceName(BalanceAlgorithm algorithm);

struct Balance {
  BalanceAlgorithm algorithm = BalanceAlgorithm::kRoundRobin;
  std::string hashKey;  // header or cookie name for kHashHeader / kHashCookie
  bool operator==(const Balance&) const = default;
};

// An IPv4 or IPv6 network, address bytes in network order (IPv4 uses 4 bytes).
struct Cidr {
  bool v6 = false;
  uint8_t bytes[16] = {};
  int prefixLength = 0;
  // `address` is 4 or 16 bytes in network order.
  bool contains(const uint8_t* address, bool addressV6) const;
  std::string toString() const;
  bool operator==(const Cidr&) const = default;
};

struct BasicAuth {
  std::string realm;
  std::string user;
  std::string passwordHash;  // crypt(3) form, as HAProxy's userlist takes it
  bool operator==(const BasicAuth&) const = default;
};

// Native timeouts in milliseconds; unset = the proxy's defaults.
struct RouteTimeouts {
  std::optional<int64_t> connectMs;
  std::optional<int64_t> serverMs;  // waiting for the task's response
  std::optional<int64_t> idleMs;    // an idle client keep-alive connection
  std::optional<int64_t> tunnelMs;  // an idle TCP or Upgrade tunnel
  bool operator==(const RouteTimeouts&) const = default;
};

// Why a parsed port is not routed by this proxy (kRouted when it is).
enum class RouteState { kRouted, kOtherGroup, kDisabled };
std::string_view routeStateName(RouteState state);

struct RouteSpec {
  std::string appId;
  int portIndex = 0;
  int servicePort = 0;  // HAPROXY_{n}_PORT or portDefinitions[n].port
  RouteState state = RouteState::kRouted;
  std::vector<std::string> groups;  // effective groups (port's, else app's)
  std::vector<std::string> vhosts;  // lower case, no port; empty = no vhost
  std::vector<std::string> paths;   // prefixes; only with a vhost (or httpDefault)
  bool httpDefault = false;         // CORRAL_{n}_HTTP_DEFAULT: host-independent HTTP route
  std::string proxyPassPath;        // prefix stripped before the request reaches the task
  std::string bindAddr = "*";
  RouteMode mode = RouteMode::kTcp;
  Balance balance;
  bool sticky = false;  // cookie mesosphere_server_id
  bool redirectToHttps = false;
  bool useHsts = false;
  std::vector<std::string> sslCerts;  // PEM paths (comma list in the label)
  int backendWeight = 0;              // higher first among routes sharing a vhost+path
  std::vector<Cidr> allowedNetworks;  // empty = everyone
  std::optional<BasicAuth> auth;
  std::optional<int> healthCheckPortIndex;
  // Blue/green (app-wide labels).
  std::string deploymentGroup;  // "" = none; otherwise an absolute id
  std::optional<int> deploymentAltPort;
  std::string deploymentColour;
  std::string deploymentStartedAt;  // ISO-8601 as written by bluegreen_deploy
  // HAPROXY_DEPLOYMENT_TARGET_INSTANCES: how many old tasks may drain (below).
  std::optional<int> deploymentTargetInstances;
  // Native.
  RouteTimeouts timeouts;
  std::optional<int> retries;    // connect retries on another task
  std::optional<int> maxConn;    // concurrent connections to this route
  bool retryIdempotent = false;  // CORRAL_{n}_RETRY_IDEMPOTENT: may resend GET/HEAD/...

  bool routed() const { return state == RouteState::kRouted; }
  bool operator==(const RouteSpec&) const = default;
};

enum class LabelIssueKind {
  kBadValue,       // the value cannot be used: the port (or app) is rejected
  kUnsupported,    // a marathon-lb label corral does not honour (raw HAProxy text)
  kUnknownLabel,   // HAPROXY_* / CORRAL_* name nobody knows (a typo?)
  kIgnored,        // valid but without effect (PATH without VHOST, no such port)
  kNoServicePort,  // port n has no service port: not routed
};
std::string_view labelIssueKindName(LabelIssueKind kind);

struct LabelIssue {
  LabelIssueKind kind = LabelIssueKind::kBadValue;
  std::string appId;
  std::string label;  // full label name, e.g. "HAPROXY_0_BALANCE"
  std::string value;
  int portIndex = -1;  // -1: app-wide
  std::string message;
  // "app /shop: label HAPROXY_0_BALANCE=\"fast\": unknown algorithm ..."
  std::string toString() const;
  bool rejects() const {
    return kind == LabelIssueKind::kBadValue || kind == LabelIssueKind::kNoServicePort;
  }
};

struct AppRouteSpecs {
  std::vector<RouteSpec> routes;  // one per accepted port, by port index (any state)
  std::vector<LabelIssue> issues;
};

AppRouteSpecs parseProxyLabels(const LabelApp& app, const ProxyLabelOptions& options);

// Pieces, exposed for their own tests.
std::optional<Cidr> parseCidr(std::string_view text);
// "120s", "500ms", "2m", "1h" or a bare number of milliseconds.
std::optional<int64_t> parseDurationMs(std::string_view text);

}  // namespace corral::conf
