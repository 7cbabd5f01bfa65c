#include "conf/proxy_labels.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace corral::conf {
namespace {

LabelApp app(std::map<std::string, std::string> labels, std::vector<int> servicePorts = {10000}) {
  LabelApp a;
  a.id = "/shop/web";
  a.labels = std::move(labels);
  for (int port : servicePorts) a.ports.push_back(LabelPort{port, false});
  return a;
}

ProxyLabelOptions external() { return ProxyLabelOptions{{"external"}, false}; }

AppRouteSpecs parse(std::map<std::string, std::string> labels,
                    std::vector<int> servicePorts = {10000}) {
  std::map<std::string, std::string> withGroup = labels;
  withGroup.emplace("HAPROXY_GROUP", "external");
  return parseProxyLabels(app(withGroup, servicePorts), external());
}

const LabelIssue* findIssue(const AppRouteSpecs& specs, std::string_view label) {
  for (const auto& issue : specs.issues) {
    if (issue.label == label) return &issue;
  }
  return nullptr;
}

TEST(ProxyLabels, DefaultsAreMarathonLbs) {
  auto specs = parse({});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_TRUE(specs.issues.empty());
  const RouteSpec& r = specs.routes[0];
  EXPECT_EQ(r.appId, "/shop/web");
  EXPECT_EQ(r.portIndex, 0);
  EXPECT_EQ(r.servicePort, 10000);
  EXPECT_EQ(r.mode, RouteMode::kTcp);
  EXPECT_EQ(r.balance.algorithm, BalanceAlgorithm::kRoundRobin);
  EXPECT_EQ(r.bindAddr, "*");
  EXPECT_EQ(r.backendWeight, 0);
  EXPECT_FALSE(r.sticky);
  EXPECT_TRUE(r.routed());
  EXPECT_TRUE(r.vhosts.empty());
}

TEST(ProxyLabels, VhostMakesHttpLowerCasesAndSplits) {
  auto specs = parse({{"HAPROXY_0_VHOST", "Shop.Example.com, shop , ,www.shop.test,"}});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_EQ(specs.routes[0].mode, RouteMode::kHttp);
  EXPECT_EQ(specs.routes[0].vhosts,
            (std::vector<std::string>{"shop.example.com", "shop", "www.shop.test"}));
}

TEST(ProxyLabels, HttpHealthCheckForcesHttpEvenOverModeTcp) {
  auto a = app({{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_MODE", "tcp"}});
  a.ports[0].httpHealthCheck = true;
  auto specs = parseProxyLabels(a, external());
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_EQ(specs.routes[0].mode, RouteMode::kHttp);
}

TEST(ProxyLabels, HealthCheckPortIndexPicksTheCheckThatDecidesMode) {
  auto a = app({{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX", "1"}},
               {10000, 10001});
  a.ports[1].httpHealthCheck = true;
  auto specs = parseProxyLabels(a, external());
  ASSERT_EQ(specs.routes.size(), 2u);
  EXPECT_EQ(specs.routes[0].mode, RouteMode::kHttp);
  EXPECT_EQ(specs.routes[0].healthCheckPortIndex, 1);
  EXPECT_EQ(specs.routes[1].mode, RouteMode::kHttp);
}

TEST(ProxyLabels, ModeLabelWithoutVhost) {
  auto specs = parse({{"HAPROXY_0_MODE", "HTTP"}});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_EQ(specs.routes[0].mode, RouteMode::kHttp);
}

TEST(ProxyLabels, PathOnlyRoutesWithAVhost) {
  auto specs = parse({{"HAPROXY_0_PATH", "/api"}});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_TRUE(specs.routes[0].paths.empty());
  const LabelIssue* issue = findIssue(specs, "HAPROXY_0_PATH");
  ASSERT_NE(issue, nullptr);
  EXPECT_EQ(issue->kind, LabelIssueKind::kIgnored);

  specs = parse({{"HAPROXY_0_PATH", "/api /v2"}, {"HAPROXY_0_VHOST", "a.test"}});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_EQ(specs.routes[0].paths, (std::vector<std::string>{"/api", "/v2"}));
  EXPECT_EQ(specs.routes[0].backendWeight, 1) << "a path gives weight 1 over the default 0";
}

TEST(ProxyLabels, PathCaseFlagIsReportedNotFatal) {
  auto specs = parse({{"HAPROXY_0_PATH", "-i /multiple /paths"}, {"HAPROXY_0_VHOST", "a.test"}});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_EQ(specs.routes[0].paths, (std::vector<std::string>{"/multiple", "/paths"}));
  ASSERT_NE(findIssue(specs, "HAPROXY_0_PATH"), nullptr);
  EXPECT_EQ(findIssue(specs, "HAPROXY_0_PATH")->kind, LabelIssueKind::kUnsupported);
}

TEST(ProxyLabels, ExplicitBackendWeightWinsOverPathDefault) {
  auto specs = parse({{"HAPROXY_0_PATH", "/api"},
                      {"HAPROXY_0_VHOST", "a.test"},
                      {"HAPROXY_0_BACKEND_WEIGHT", "-5"}});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_EQ(specs.routes[0].backendWeight, -5);
}

TEST(ProxyLabels, HttpDefaultMakesHostIndependentRoutes) {
  auto specs = parse({{"CORRAL_0_HTTP_DEFAULT", "true"}, {"HAPROXY_0_PATH", "/static"}});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_TRUE(specs.routes[0].httpDefault);
  EXPECT_EQ(specs.routes[0].mode, RouteMode::kHttp);
  EXPECT_EQ(specs.routes[0].paths, (std::vector<std::string>{"/static"}));
}

TEST(ProxyLabels, Groups) {
  // The port's group overrides the app's.
  auto a = app({{"HAPROXY_GROUP", "internal"}, {"HAPROXY_0_GROUP", "external"}}, {10000, 10001});
  auto specs = parseProxyLabels(a, external());
  ASSERT_EQ(specs.routes.size(), 2u);
  EXPECT_EQ(specs.routes[0].state, RouteState::kRouted);
  EXPECT_EQ(specs.routes[0].groups, (std::vector<std::string>{"external"}));
  EXPECT_EQ(specs.routes[1].state, RouteState::kOtherGroup);
  EXPECT_EQ(specs.routes[1].groups, (std::vector<std::string>{"internal"}));

  // No group at all: not for a proxy of group external.
  specs = parseProxyLabels(app({}), external());
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_EQ(specs.routes[0].state, RouteState::kOtherGroup);

  // A proxy in group "*" takes everything.
  specs = parseProxyLabels(app({}), ProxyLabelOptions{{"*"}, false});
  EXPECT_EQ(specs.routes[0].state, RouteState::kRouted);

  // An empty port group falls back to the app's.
  specs =
      parseProxyLabels(app({{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_GROUP", ""}}), external());
  EXPECT_EQ(specs.routes[0].state, RouteState::kRouted);

  // Comma lists on both sides.
  specs = parseProxyLabels(app({{"HAPROXY_GROUP", "a, b"}}), ProxyLabelOptions{{"x", "b"}, false});
  EXPECT_EQ(specs.routes[0].state, RouteState::kRouted);
}

TEST(ProxyLabels, StrictModeNeedsEnabled) {
  ProxyLabelOptions strict{{"external"}, true};
  auto specs = parseProxyLabels(app({{"HAPROXY_GROUP", "external"}}), strict);
  EXPECT_EQ(specs.routes[0].state, RouteState::kDisabled);
  specs =
      parseProxyLabels(app({{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_ENABLED", "true"}}), strict);
  EXPECT_EQ(specs.routes[0].state, RouteState::kRouted);
  // Without strict mode ENABLED=false still disables.
  specs = parse({{"HAPROXY_0_ENABLED", "false"}});
  EXPECT_EQ(specs.routes[0].state, RouteState::kDisabled);
}

TEST(ProxyLabels, EveryScalarLabel) {
  auto specs = parse({
      {"HAPROXY_0_VHOST", "a.test"},
      {"HAPROXY_0_PORT", "80"},
      {"HAPROXY_0_BIND_ADDR", "10.0.0.42"},
      {"HAPROXY_0_STICKY", "true"},
      {"HAPROXY_0_REDIRECT_TO_HTTPS", "yes"},
      {"HAPROXY_0_USE_HSTS", "T"},
      {"HAPROXY_0_SSL_CERT", "/etc/ssl/a.pem,/etc/ssl/b.pem"},
      {"HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH", "/api"},
      {"HAPROXY_0_BACKEND_WEIGHT", "7"},
      {"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", "10.1.40.0/24 10.1.55.43 fd00::/8"},
      {"HAPROXY_0_AUTH", "Shop:admin:$6$salt$hash"},
      {"HAPROXY_0_BALANCE", "leastconn"},
      {"CORRAL_0_TIMEOUT_CONNECT", "500ms"},
      {"CORRAL_0_TIMEOUT_SERVER", "30s"},
      {"CORRAL_0_TIMEOUT_IDLE", "2m"},
      {"CORRAL_0_TIMEOUT_TUNNEL", "1h"},
      {"CORRAL_0_RETRIES", "2"},
      {"CORRAL_0_RETRY_IDEMPOTENT", "true"},
      {"CORRAL_0_MAXCONN", "1000"},
  });
  ASSERT_EQ(specs.routes.size(), 1u) << (specs.issues.empty() ? "" : specs.issues[0].toString());
  EXPECT_TRUE(specs.issues.empty()) << specs.issues[0].toString();
  const RouteSpec& r = specs.routes[0];
  EXPECT_EQ(r.servicePort, 80);
  EXPECT_EQ(r.bindAddr, "10.0.0.42");
  EXPECT_TRUE(r.sticky);
  EXPECT_TRUE(r.redirectToHttps);
  EXPECT_TRUE(r.useHsts);
  EXPECT_EQ(r.sslCerts, (std::vector<std::string>{"/etc/ssl/a.pem", "/etc/ssl/b.pem"}));
  EXPECT_EQ(r.proxyPassPath, "/api");
  EXPECT_EQ(r.backendWeight, 7);
  ASSERT_EQ(r.allowedNetworks.size(), 3u);
  EXPECT_EQ(r.allowedNetworks[0].toString(), "10.1.40.0/24");
  EXPECT_EQ(r.allowedNetworks[1].toString(), "10.1.55.43/32");
  EXPECT_EQ(r.allowedNetworks[2].toString(), "fd00::/8");
  ASSERT_TRUE(r.auth.has_value());
  EXPECT_EQ(r.auth->realm, "Shop");
  EXPECT_EQ(r.auth->user, "admin");
  EXPECT_EQ(r.auth->passwordHash, "$6$salt$hash");
  EXPECT_EQ(r.balance.algorithm, BalanceAlgorithm::kLeastConn);
  EXPECT_EQ(r.timeouts.connectMs, 500);
  EXPECT_EQ(r.timeouts.serverMs, 30'000);
  EXPECT_EQ(r.timeouts.idleMs, 120'000);
  EXPECT_EQ(r.timeouts.tunnelMs, 3'600'000);
  EXPECT_EQ(r.retries, 2);
  EXPECT_TRUE(r.retryIdempotent);
  EXPECT_EQ(r.maxConn, 1000);
}

TEST(ProxyLabels, BalanceSpellings) {
  struct Case {
    std::map<std::string, std::string> labels;
    BalanceAlgorithm algorithm;
    std::string key;
  };
  std::vector<Case> cases = {
      {{{"HAPROXY_0_BALANCE", "roundrobin"}}, BalanceAlgorithm::kRoundRobin, ""},
      {{{"HAPROXY_0_BALANCE", "LeastConn"}}, BalanceAlgorithm::kLeastConn, ""},
      {{{"HAPROXY_0_BALANCE", "source"}}, BalanceAlgorithm::kSource, ""},
      {{{"HAPROXY_0_BALANCE", "random"}}, BalanceAlgorithm::kRandomTwo, ""},
      {{{"HAPROXY_0_BALANCE", "random(2)"}}, BalanceAlgorithm::kRandomTwo, ""},
      {{{"HAPROXY_0_BALANCE", "hdr(X-User)"}, {"HAPROXY_0_MODE", "http"}},
       BalanceAlgorithm::kHashHeader,
       "X-User"},
      {{{"CORRAL_0_BALANCE_HASH", "header:X-User"}, {"HAPROXY_0_MODE", "http"}},
       BalanceAlgorithm::kHashHeader,
       "X-User"},
      {{{"CORRAL_0_BALANCE_HASH", "cookie: session"}, {"HAPROXY_0_VHOST", "a.test"}},
       BalanceAlgorithm::kHashCookie,
       "session"},
      // The native label overrides BALANCE.
      {{{"HAPROXY_0_BALANCE", "leastconn"},
        {"CORRAL_0_BALANCE_HASH", "cookie:s"},
        {"HAPROXY_0_MODE", "http"}},
       BalanceAlgorithm::kHashCookie,
       "s"},
  };
  for (const auto& c : cases) {
    auto specs = parse(c.labels);
    ASSERT_EQ(specs.routes.size(), 1u) << specs.issues[0].toString();
    EXPECT_EQ(specs.routes[0].balance.algorithm, c.algorithm) << c.labels.begin()->second;
    EXPECT_EQ(specs.routes[0].balance.hashKey, c.key);
  }
}

// Every bad value rejects the port, and the issue names app, label and value.
TEST(ProxyLabels, BadValuesRejectThePortWithAPreciseIssue) {
  struct Case {
    std::string label;
    std::string value;
    std::map<std::string, std::string> extra;
  };
  std::vector<Case> cases = {
      {"HAPROXY_0_VHOST", "a b.test", {}},
      {"HAPROXY_0_VHOST", "*.example.com", {}},
      {"HAPROXY_0_VHOST", "a.test:80", {}},
      {"HAPROXY_0_VHOST", "a..test", {}},
      {"HAPROXY_0_PATH", "api", {{"HAPROXY_0_VHOST", "a.test"}}},
      {"HAPROXY_0_PATH", "/a?b", {{"HAPROXY_0_VHOST", "a.test"}}},
      {"HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH", "rel", {}},
      {"HAPROXY_0_PORT", "0", {}},
      {"HAPROXY_0_PORT", "65536", {}},
      {"HAPROXY_0_PORT", "80x", {}},
      {"HAPROXY_0_PORT", "", {}},
      {"HAPROXY_0_BACKEND_WEIGHT", "heavy", {}},
      {"HAPROXY_0_STICKY", "maybe", {}},
      {"HAPROXY_0_ENABLED", "on?", {}},
      {"HAPROXY_0_REDIRECT_TO_HTTPS", "2", {}},
      {"HAPROXY_0_USE_HSTS", "", {}},
      {"HAPROXY_0_SSL_CERT", "cert.pem", {}},
      {"HAPROXY_0_BIND_ADDR", "localhost", {}},
      {"HAPROXY_0_BIND_ADDR", "10.0.0.0/8", {}},
      {"HAPROXY_0_MODE", "udp", {}},
      {"HAPROXY_0_MODE", "tcp", {{"HAPROXY_0_VHOST", "a.test"}}},
      {"HAPROXY_0_BALANCE", "fastest", {}},
      {"HAPROXY_0_BALANCE", "hdr()", {{"HAPROXY_0_MODE", "http"}}},
      {"HAPROXY_0_BALANCE", "hdr(X-User)", {}},  // tcp mode
      {"CORRAL_0_BALANCE_HASH", "query:x", {{"HAPROXY_0_MODE", "http"}}},
      {"CORRAL_0_BALANCE_HASH", "header:", {{"HAPROXY_0_MODE", "http"}}},
      {"CORRAL_0_BALANCE_HASH", "header:X User", {{"HAPROXY_0_MODE", "http"}}},
      {"CORRAL_0_BALANCE_HASH", "cookie:s", {}},  // tcp mode
      {"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", "10.0.0.0/33", {}},
      {"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", "10.0.0.0/24 nowhere", {}},
      {"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", "10.0.0.0/", {}},
      {"HAPROXY_0_AUTH", "realm:user", {{"HAPROXY_0_MODE", "http"}}},
      {"HAPROXY_0_AUTH", "realm:user:hash:extra", {{"HAPROXY_0_MODE", "http"}}},
      {"HAPROXY_0_AUTH", "realm::hash", {{"HAPROXY_0_MODE", "http"}}},
      {"HAPROXY_0_AUTH", "realm:user:hash", {}},  // tcp mode
      {"HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX", "1", {}},
      {"HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX", "-1", {}},
      {"CORRAL_0_TIMEOUT_CONNECT", "0", {}},
      {"CORRAL_0_TIMEOUT_SERVER", "10 s", {}},
      {"CORRAL_0_TIMEOUT_IDLE", "5d", {}},
      {"CORRAL_0_TIMEOUT_TUNNEL", "25h", {}},
      {"CORRAL_0_TIMEOUT_TUNNEL", "-1s", {}},
      {"CORRAL_0_RETRIES", "11", {}},
      {"CORRAL_0_RETRIES", "two", {}},
      {"CORRAL_0_RETRY_IDEMPOTENT", "sure", {}},
      {"CORRAL_0_MAXCONN", "0", {}},
      {"CORRAL_0_HTTP_DEFAULT", "yes please", {}},
  };
  for (const auto& c : cases) {
    auto labels = c.extra;
    labels[c.label] = c.value;
    auto specs = parse(labels);
    EXPECT_TRUE(specs.routes.empty()) << c.label << "=" << c.value << " was accepted";
    const LabelIssue* issue = findIssue(specs, c.label);
    if (c.label == "HAPROXY_0_MODE" && c.value == "tcp") issue = findIssue(specs, "HAPROXY_0_MODE");
    ASSERT_NE(issue, nullptr) << c.label << "=" << c.value << " has no issue naming the label";
    EXPECT_EQ(issue->kind, LabelIssueKind::kBadValue);
    EXPECT_EQ(issue->appId, "/shop/web");
    EXPECT_EQ(issue->value, c.value);
    EXPECT_EQ(issue->portIndex, 0);
    std::string text = issue->toString();
    EXPECT_NE(text.find("/shop/web"), std::string::npos) << text;
    EXPECT_NE(text.find(c.label), std::string::npos) << text;
    EXPECT_FALSE(issue->message.empty());
  }
}

TEST(ProxyLabels, ABadLabelRejectsOnlyItsPort) {
  auto specs = parse({{"HAPROXY_1_BALANCE", "fastest"}, {"HAPROXY_0_VHOST", "a.test"}},
                     {10000, 10001, 10002});
  ASSERT_EQ(specs.routes.size(), 2u);
  EXPECT_EQ(specs.routes[0].portIndex, 0);
  EXPECT_EQ(specs.routes[1].portIndex, 2);
  ASSERT_EQ(specs.issues.size(), 1u);
  EXPECT_EQ(specs.issues[0].portIndex, 1);
}

TEST(ProxyLabels, ABadAppWideLabelRejectsEveryPort) {
  for (auto [label, value] :
       std::vector<std::pair<std::string, std::string>>{{"HAPROXY_DEPLOYMENT_ALT_PORT", "x"},
                                                        {"HAPROXY_DEPLOYMENT_GROUP", "a b"},
                                                        {"HAPROXY_DEPLOYMENT_COLOUR", "red"}}) {
    auto specs = parse({{label, value}}, {10000, 10001});
    EXPECT_TRUE(specs.routes.empty()) << label;
    const LabelIssue* issue = findIssue(specs, label);
    ASSERT_NE(issue, nullptr) << label;
    EXPECT_EQ(issue->kind, LabelIssueKind::kBadValue);
    EXPECT_EQ(issue->portIndex, -1);
  }
}

TEST(ProxyLabels, NoServicePortRejectsThatPort) {
  auto specs = parse({}, {0, 10001});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_EQ(specs.routes[0].portIndex, 1);
  ASSERT_EQ(specs.issues.size(), 1u);
  EXPECT_EQ(specs.issues[0].kind, LabelIssueKind::kNoServicePort);
  // HAPROXY_{n}_PORT supplies it.
  specs = parse({{"HAPROXY_0_PORT", "8080"}}, {0});
  ASSERT_EQ(specs.routes.size(), 1u);
  EXPECT_EQ(specs.routes[0].servicePort, 8080);
}

TEST(ProxyLabels, BlueGreenLabels) {
  auto specs = parse({{"HAPROXY_DEPLOYMENT_GROUP", "shop"},
                      {"HAPROXY_DEPLOYMENT_ALT_PORT", "10101"},
                      {"HAPROXY_DEPLOYMENT_COLOUR", "Green"},
                      {"HAPROXY_DEPLOYMENT_STARTED_AT", "2026-12-01T20:00:00Z"},
                      {"HAPROXY_DEPLOYMENT_TARGET_INSTANCES", "3"}},
                     {10000, 10001});
  ASSERT_EQ(specs.routes.size(), 2u);
  EXPECT_TRUE(specs.issues.empty());
  for (const auto& r : specs.routes) {
    EXPECT_EQ(r.deploymentGroup, "/shop");
    EXPECT_EQ(r.deploymentAltPort, 10101);
    EXPECT_EQ(r.deploymentColour, "green");
    EXPECT_EQ(r.deploymentStartedAt, "2026-12-01T20:00:00Z");
    EXPECT_EQ(r.deploymentTargetInstances, std::optional<int>(3));
  }
  specs = parse(
      {{"HAPROXY_DEPLOYMENT_GROUP", "shop"}, {"HAPROXY_DEPLOYMENT_TARGET_INSTANCES", "three"}},
      {10000});
  EXPECT_TRUE(specs.routes.empty()) << "a bad app-wide label rejects every port";
  ASSERT_EQ(specs.issues.size(), 1u);
  EXPECT_EQ(specs.issues[0].label, "HAPROXY_DEPLOYMENT_TARGET_INSTANCES");
}

TEST(ProxyLabels, TemplateLabelsAreUnsupportedOnceEach) {
  auto specs = parse({{"HAPROXY_0_FRONTEND_HEAD", "frontend x\n"},
                      {"HAPROXY_0_BACKEND_HEAD", "backend y\n"},
                      {"HAPROXY_1_HTTP_FRONTEND_ACL", "acl z\n"},
                      {"HAPROXY_0_BIND_OPTIONS", "ciphers X"},
                      {"HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH", "/x"},
                      {"HAPROXY_HTTP_FRONTEND_HEAD", "x"},
                      {"HAPROXY_0_VHOST", "a.test"}},
                     {10000, 10001});
  EXPECT_EQ(specs.routes.size(), 2u) << "unsupported labels do not reject";
  std::vector<std::string> labels;
  for (const auto& issue : specs.issues) {
    EXPECT_EQ(issue.kind, LabelIssueKind::kUnsupported) << issue.toString();
    EXPECT_EQ(issue.appId, "/shop/web");
    labels.push_back(issue.label);
  }
  EXPECT_EQ(labels, (std::vector<std::string>{
                        "HAPROXY_0_BACKEND_HEAD", "HAPROXY_0_BIND_OPTIONS",
                        "HAPROXY_0_FRONTEND_HEAD", "HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH",
                        "HAPROXY_1_HTTP_FRONTEND_ACL", "HAPROXY_HTTP_FRONTEND_HEAD"}));
}

TEST(ProxyLabels, UnknownAndMisplacedLabels) {
  auto specs = parse({{"HAPROXY_0_VHOTS", "a.test"},
                      {"CORRAL_0_TIMEOUT", "1s"},
                      {"HAPROXY_3_VHOST", "b.test"},
                      {"HAPROXY_SOMETHING", "x"},
                      {"OTHER_LABEL", "ignored silently"}});
  ASSERT_EQ(specs.routes.size(), 1u);
  ASSERT_NE(findIssue(specs, "HAPROXY_0_VHOTS"), nullptr);
  EXPECT_EQ(findIssue(specs, "HAPROXY_0_VHOTS")->kind, LabelIssueKind::kUnknownLabel);
  ASSERT_NE(findIssue(specs, "CORRAL_0_TIMEOUT"), nullptr);
  EXPECT_EQ(findIssue(specs, "CORRAL_0_TIMEOUT")->kind, LabelIssueKind::kUnknownLabel);
  ASSERT_NE(findIssue(specs, "HAPROXY_3_VHOST"), nullptr);
  EXPECT_EQ(findIssue(specs, "HAPROXY_3_VHOST")->kind, LabelIssueKind::kIgnored);
  ASSERT_NE(findIssue(specs, "HAPROXY_SOMETHING"), nullptr);
  EXPECT_EQ(findIssue(specs, "OTHER_LABEL"), nullptr);
  EXPECT_EQ(specs.issues.size(), 4u);
}

TEST(ProxyLabels, Cidr) {
  auto c = parseCidr("10.1.40.7/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->toString(), "10.1.40.0/24");
  uint8_t in[4] = {10, 1, 40, 200};
  uint8_t out[4] = {10, 1, 41, 1};
  EXPECT_TRUE(c->contains(in, false));
  EXPECT_FALSE(c->contains(out, false));
  auto odd = parseCidr("10.0.0.0/9");
  ASSERT_TRUE(odd);
  uint8_t inOdd[4] = {10, 127, 0, 1};
  uint8_t outOdd[4] = {10, 128, 0, 1};
  EXPECT_TRUE(odd->contains(inOdd, false));
  EXPECT_FALSE(odd->contains(outOdd, false));
  auto any = parseCidr("0.0.0.0/0");
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->contains(outOdd, false));
  auto v6 = parseCidr("fd00::/8");
  ASSERT_TRUE(v6);
  uint8_t v6in[16] = {0xfd, 1};
  EXPECT_TRUE(v6->contains(v6in, true));
  EXPECT_FALSE(v6->contains(in, false)) << "families never match";
  for (const char* bad : {"", "10.0.0", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/33", "::/129",
                          "10.0.0.0/8x", "host/8"}) {
    EXPECT_FALSE(parseCidr(bad)) << bad;
  }
}

TEST(ProxyLabels, Durations) {
  EXPECT_EQ(parseDurationMs("250"), 250);
  EXPECT_EQ(parseDurationMs("250ms"), 250);
  EXPECT_EQ(parseDurationMs("3s"), 3000);
  EXPECT_EQ(parseDurationMs("2m"), 120'000);
  EXPECT_EQ(parseDurationMs("24h"), 86'400'000);
  for (const char* bad : {"", "s", "1x", "-1", "1.5s", "25h", "99999999999999999999"}) {
    EXPECT_FALSE(parseDurationMs(bad)) << bad;
  }
}

}  // namespace
}  // namespace corral::conf
