// `corral proxy` end to end (tests/integration/proxy_fixture.h) with
// demo-server tasks: routing, health, live changes and TLS. Requests go
// through the proxy with base/http_client like any client; every wait and
// load loop is bounded.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/integration/proxy_fixture.h"
#include "tests/proxy/tls_test_certs.h"

namespace corral::it {
namespace {

using Clock = std::chrono::steady_clock;

// Vhost, vhost + path with PROXYPASS rewrite, an HTTP service port, a TCP
// service port, round robin over the tasks, and a removed app's service
// port closing while the others stay.
TEST_F(ProxyTest, VhostPathRewriteServicePortsAndRoundRobin) {
  startCluster(91, 1);
  startProxy();
  deploy("/web", 2, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "web.example.test"}});
  deploy("/api", 1,
         {{"HAPROXY_GROUP", "external"},
          {"HAPROXY_0_VHOST", "shop.example.test"},
          {"HAPROXY_0_PATH", "/api"},
          {"HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH", "/api"}});
  deploy("/raw", 1, {{"HAPROXY_GROUP", "external"}});  // no vhost: a TCP port
  deploy("/internal", 1, {{"HAPROXY_GROUP", "internal"}, {"HAPROXY_0_VHOST", "int.example.test"}});
  ASSERT_TRUE(waitBackends("/web", 2));
  ASSERT_TRUE(waitBackends("/api", 1));
  ASSERT_TRUE(waitBackends("/raw", 1));

  // Vhost (case and port in Host do not matter).
  auto r = viaHost("WEB.example.test:80", "/hello");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(startsWith(taskOf(r), "web.")) << taskOf(r);
  EXPECT_EQ(http::findHeader(r.headers, "X-Demo-Target").value_or(""), "/hello");

  // Vhost + path, the prefix stripped before the task (PROXYPASS).
  r = viaHost("shop.example.test", "/api/items?x=1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(startsWith(taskOf(r), "api.")) << taskOf(r);
  EXPECT_EQ(http::findHeader(r.headers, "X-Demo-Target").value_or(""), "/items?x=1");
  // The path routes only under its prefix; another app's group is not served.
  EXPECT_EQ(viaHost("shop.example.test", "/other").status, 404);
  EXPECT_EQ(viaHost("int.example.test", "/").status, 404);
  EXPECT_EQ(viaHost("nobody.example.test", "/").status, 404);

  // Round robin over /web's two tasks: exact alternation with one worker.
  std::map<std::string, int> seen;
  for (int i = 0; i < 20; ++i) {
    auto x = viaHost("web.example.test", "/");
    ASSERT_EQ(x.status, 200);
    ++seen[taskOf(x)];
  }
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& [task, n] : seen) EXPECT_EQ(n, 10) << task;

  // Service ports: /web's in HTTP mode, /raw's in TCP mode (bytes copied as is).
  int webPort = servicePort("/web");
  int rawPort = servicePort("/raw");
  ASSERT_GT(webPort, 0);
  ASSERT_GT(rawPort, 0);
  Json routes = adminJson("/routes");
  EXPECT_EQ(routes["servicePorts"][std::to_string(rawPort)].value("mode", ""), "tcp");
  EXPECT_EQ(routes["servicePorts"][std::to_string(webPort)].value("mode", ""), "http");
  r = viaPort(webPort, "/p");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(startsWith(taskOf(r), "web."));
  r = viaPort(rawPort, "/tcp");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(startsWith(taskOf(r), "raw."));
  EXPECT_EQ(http::findHeader(r.headers, "X-Demo-Target").value_or(""), "/tcp");

  // Removing /raw closes its listener only.
  ASSERT_EQ(api("DELETE", "/v2/apps/raw").status, 200);
  ASSERT_TRUE(client_.waitFor([&] { return viaPort(rawPort).status == 0; }, 15000, 100))
      << "the removed app's service port still answers";
  EXPECT_EQ(viaPort(webPort).status, 200);
  EXPECT_EQ(viaHost("web.example.test", "/").status, 200);
}

// With health checks only healthy tasks get requests: a task whose check
// starts failing stops getting any.
TEST_F(ProxyTest, UnhealthyTaskGetsNothing) {
  startCluster(92, 1);
  startProxy();
  deploy("/hc", 2, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "hc.example.test"}}, true);
  ASSERT_TRUE(waitBackends("/hc", 2));
  std::vector<Json> ts = tasks("/hc");
  ASSERT_EQ(ts.size(), 2u);
  std::string sickHost = ts[0].value("host", "");
  int sickPort = ts[0]["ports"][0].get<int>();
  std::string sickId = ts[0].value("id", "");
  auto f = client_.request("POST", sickHost, sickPort, "/health/fail", "", {}, 3000);
  ASSERT_EQ(f.status, 200);
  ASSERT_TRUE(waitBackends("/hc", 1)) << "the failing task is still routed";
  for (int i = 0; i < 20; ++i) {
    auto r = viaHost("hc.example.test", "/");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(taskOf(r), sickId);
  }
}

// Scale up, kill a task and scale down while a bounded client loop runs:
// not one request fails.
TEST_F(ProxyTest, ScaleAndKillUnderLoadLosesNothing) {
  startCluster(93, 1);
  startProxy();
  deploy("/load", 2, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "load.example.test"}});
  ASSERT_TRUE(waitBackends("/load", 2));

  int sent = 0, failed = 0;
  std::string firstFailure;
  std::set<std::string> servedBy;
  auto hit = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto r = viaHost("load.example.test", "/");
      ++sent;
      if (r.status != 200) {
        if (failed++ == 0) firstFailure = std::to_string(r.status) + " " + r.error + " " + r.body;
      } else {
        servedBy.insert(taskOf(r));
      }
    }
  };
  auto deadline = Clock::now() + std::chrono::seconds(60);
  auto loadUntil = [&](const std::function<bool()>& done) {
    while (Clock::now() < deadline) {
      hit(10);
      if (done()) return true;
    }
    return false;
  };
  hit(50);
  // Scale up: the new task starts taking requests.
  ASSERT_EQ(
      api("PUT", "/v2/apps/load", R"({"instances":3})", {{"Content-Type", "application/json"}})
          .status,
      200);
  // A task is RUNNING a little before it listens: connects refused then are
  // retried on another task (and may eject it for a while), so wait for the
  // new task to serve rather than expect it at once.
  servedBy.clear();
  ASSERT_TRUE(loadUntil([&] { return servedBy.size() == 3; })) << dumpJson(adminJson("/routes"));
  // Kill one task (it is replaced).
  std::vector<Json> ts = tasks("/load");
  ASSERT_FALSE(ts.empty());
  std::string victim = ts[0].value("id", "");
  auto k = api("DELETE", "/v2/apps/load/tasks/" + victim);
  ASSERT_EQ(k.status, 200) << k.body;
  ASSERT_TRUE(loadUntil([&] {
    auto b = routedBackends("/load");
    return b.size() == 3 && tasks("/load").size() == 3 && !app("/load").is_null();
  }));
  hit(50);
  // Scale down to one.
  ASSERT_EQ(
      api("PUT", "/v2/apps/load", R"({"instances":1})", {{"Content-Type", "application/json"}})
          .status,
      200);
  ASSERT_TRUE(loadUntil([&] { return routedBackends("/load").size() == 1; }));
  hit(50);
  EXPECT_EQ(failed, 0) << "of " << sent << " requests; first: " << firstFailure;
  EXPECT_GT(sent, 200);
  Json stats = adminJson("/stats");
  ASSERT_TRUE(stats.contains("backends"));
  EXPECT_EQ(stats["backends"][0].value("noTask", -1), 0);

  // SIGTERM after all that: every worker closes every handle it had.
  stopProcess(proxy_, 5000);
  std::string log = tailLog(proxy_.logPath, 10000);
  EXPECT_NE(log.find("proxy stopped"), std::string::npos) << log;
  EXPECT_EQ(log.find("handle(s) open"), std::string::npos) << log;
}

// A bad label rejects its app's port alone: the others keep being routed,
// and the reason is in /config and /metrics.
TEST_F(ProxyTest, BadLabelIsRejectedAloneAndReported) {
  startCluster(94, 1);
  startProxy();
  deploy("/good", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "good.example.test"}});
  deploy("/bad", 1,
         {{"HAPROXY_GROUP", "external"},
          {"HAPROXY_0_VHOST", "bad.example.test"},
          {"HAPROXY_0_BALANCE", "fastest"}});
  ASSERT_TRUE(waitBackends("/good", 1));
  ASSERT_TRUE(
      client_.waitFor([&] { return adminJson("/config")["apps"].contains("/bad"); }, 15000, 50));
  EXPECT_EQ(viaHost("good.example.test", "/").status, 200);
  EXPECT_EQ(viaHost("bad.example.test", "/").status, 404);

  Json config = adminJson("/config");
  Json bad = config["apps"]["/bad"];
  EXPECT_FALSE(bad.value("routed", true));
  bool found = false;
  for (const auto& issue : bad["issues"]) {
    if (issue.value("label", "") == "HAPROXY_0_BALANCE") {
      found = true;
      EXPECT_EQ(issue.value("kind", ""), "bad-value");
      EXPECT_EQ(issue.value("value", ""), "fastest");
      EXPECT_TRUE(issue.value("rejects", false));
    }
  }
  EXPECT_TRUE(found) << dumpJson(bad);
  EXPECT_TRUE(config["apps"]["/good"].value("routed", false));

  std::string metrics = admin("/metrics").body;
  EXPECT_NE(metrics.find("corral_proxy_label_issues{kind=\"bad-value\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("corral_proxy_apps_with_rejected_labels 1"), std::string::npos);

  // Fixing the label routes the app, without touching the other.
  Json fixed;
  fixed["labels"] = {{"HAPROXY_GROUP", "external"},
                     {"HAPROXY_0_VHOST", "bad.example.test"},
                     {"HAPROXY_0_BALANCE", "leastconn"}};
  ASSERT_EQ(
      api("PUT", "/v2/apps/bad", dumpJson(fixed), {{"Content-Type", "application/json"}}).status,
      200);
  ASSERT_TRUE(
      client_.waitFor([&] { return viaHost("bad.example.test", "/").status == 200; }, 30000, 100));
  EXPECT_EQ(viaHost("good.example.test", "/").status, 200);
}

// The route labels the running proxy enforces: a network ACL that leaves the
// test's loopback client out is refused 403 while an ACL that lets it in is
// served, REDIRECT_TO_HTTPS answers 301, and STICKY sets the cookie that
// then keeps the client on its task.
TEST_F(ProxyTest, AclRedirectAndStickyLabelsAreEnforced) {
  startCluster(95, 1);
  startProxy();
  deploy("/closed", 1,
         {{"HAPROXY_GROUP", "external"},
          {"HAPROXY_0_VHOST", "closed.example.test"},
          {"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", "10.0.0.0/8"}});
  deploy("/open", 1,
         {{"HAPROXY_GROUP", "external"},
          {"HAPROXY_0_VHOST", "open.example.test"},
          {"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", "10.0.0.0/8 127.0.0.0/8"}});
  deploy("/secure", 1,
         {{"HAPROXY_GROUP", "external"},
          {"HAPROXY_0_VHOST", "secure.example.test"},
          {"HAPROXY_0_REDIRECT_TO_HTTPS", "true"}});
  deploy("/sticky", 2,
         {{"HAPROXY_GROUP", "external"},
          {"HAPROXY_0_VHOST", "sticky.example.test"},
          {"HAPROXY_0_STICKY", "true"}});
  ASSERT_TRUE(waitBackends("/closed", 1));
  ASSERT_TRUE(waitBackends("/open", 1));
  ASSERT_TRUE(waitBackends("/secure", 1));
  ASSERT_TRUE(waitBackends("/sticky", 2));

  auto r = viaHost("closed.example.test", "/");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(taskOf(r), "");
  r = viaHost("open.example.test", "/");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(startsWith(taskOf(r), "open.")) << taskOf(r);

  r = viaHost("secure.example.test:8080", "/a?b=1");
  EXPECT_EQ(r.status, 301) << r.body;
  EXPECT_EQ(http::findHeader(r.headers, "Location").value_or(""),
            "https://secure.example.test/a?b=1");

  r = viaHost("sticky.example.test", "/");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string setCookie(http::findHeader(r.headers, "Set-Cookie").value_or(""));
  ASSERT_TRUE(startsWith(setCookie, "mesosphere_server_id=")) << setCookie;
  std::string cookie = setCookie.substr(0, setCookie.find(';'));
  std::string first = taskOf(r);
  // With the cookie every request goes to the same task (round robin
  // without it would alternate between the two).
  for (int i = 0; i < 6; ++i) {
    auto x = client_.request("GET", proxyIp_, httpPort_, "/", "",
                             {{"Host", "sticky.example.test"}, {"Cookie", cookie}}, 5000);
    ASSERT_EQ(x.status, 200) << x.body;
    EXPECT_EQ(taskOf(x), first);
    EXPECT_FALSE(http::findHeader(x.headers, "Set-Cookie").has_value());
  }
}

// HTTPS: one certificate from --cert-dir, another from an app's
// HAPROXY_0_SSL_CERT; each SNI name gets its own certificate and its app's
// answer, and plain HTTP keeps working beside it.
TEST_F(ProxyTest, HttpsServesEachSniNameItsCertificateAndApp) {
  proxy::test::CertDir dirCerts;
  proxy::test::CertDir appCerts;
  dirCerts.make("a", "a.example.test", "a-cert");
  std::string bPem = appCerts.make("b", "b.example.test", "b-cert");
  startCluster(96, 1);
  startProxy(dirCerts.path());
  deploy("/a", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "a.example.test"}});
  deploy("/b", 1,
         {{"HAPROXY_GROUP", "external"},
          {"HAPROXY_0_VHOST", "b.example.test"},
          {"HAPROXY_0_SSL_CERT", bPem}});
  ASSERT_TRUE(waitBackends("/a", 1));
  ASSERT_TRUE(waitBackends("/b", 1));

  std::string out;
  // The store is rebuilt when /b's certificate joins the routes.
  ASSERT_TRUE(client_.waitFor(
      [&] {
        out = curlHttps("b.example.test", "/hello");
        return out.find("CN=b-cert") != std::string::npos;
      },
      15000, 100))
      << out;
  EXPECT_NE(out.find("X-Demo-Task: b."), std::string::npos) << out;
  EXPECT_NE(out.find("X-Demo-Target: /hello"), std::string::npos) << out;

  out = curlHttps("a.example.test", "/x");
  EXPECT_NE(out.find("CN=a-cert"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Demo-Task: a."), std::string::npos) << out;
  // Plain HTTP keeps working beside it.
  EXPECT_EQ(viaHost("a.example.test", "/").status, 200);
}

// Without a certificate the HTTPS listener stays closed (and the log says
// why); a certificate written into --cert-dir later opens it, and a broken
// file added after that is logged while the last good certificates stay.
TEST_F(ProxyTest, HttpsOpensWhenACertificateAppearsAndKeepsItThroughABadFile) {
  proxy::test::CertDir dirCerts;
  startCluster(97, 1);
  startProxy(dirCerts.path());
  deploy("/a", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "a.example.test"}});
  ASSERT_TRUE(waitBackends("/a", 1));
  auto logHas = [&](const std::string& text) {
    return tailLog(proxy_.logPath, 1000).find(text) != std::string::npos;
  };
  ASSERT_TRUE(
      client_.waitFor([&] { return logHas("not opened: TLS: no certificate files"); }, 5000, 50))
      << tailLog(proxy_.logPath, 50);
  std::string out = curlHttps("a.example.test", "/");
  EXPECT_EQ(out.find("X-Demo-Task"), std::string::npos) << out;

  dirCerts.make("a", "a.example.test", "a-cert");
  ASSERT_TRUE(client_.waitFor(
      [&] {
        out = curlHttps("a.example.test", "/");
        return out.find("CN=a-cert") != std::string::npos;
      },
      20000, 200))
      << out << tailLog(proxy_.logPath, 50);
  EXPECT_NE(out.find("X-Demo-Task: a."), std::string::npos) << out;

  {
    std::ofstream bad(dirCerts.path() + "/broken.pem");
    bad << "not a certificate\n";
  }
  ASSERT_TRUE(client_.waitFor([&] { return logHas("keeping the last good ones"); }, 20000, 200))
      << tailLog(proxy_.logPath, 50);
  out = curlHttps("a.example.test", "/");
  EXPECT_NE(out.find("CN=a-cert"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Demo-Task: a."), std::string::npos) << out;
}

}  // namespace
}  // namespace corral::it
