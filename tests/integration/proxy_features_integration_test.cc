// `corral proxy` operations and label features end to end (ProxyTest's real
// master, agent, demo-server tasks and proxy process): the access log, the
// HTML /stats page, HTTP mode from an HTTP health check, and blue/green
// deployment groups served as one backend on one service port.
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/proxy_fixture.h"

namespace corral::it {
namespace {

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The access log written by --access-log, the /stats page in HTML and JSON,
// and an app routed as HTTP by its HTTP health check alone (no vhost, no
// HAPROXY_0_MODE): its service port speaks HTTP through the proxy.
TEST_F(ProxyTest, AccessLogStatsPageAndHttpHealthCheckMode) {
  startCluster(110, 1);
  std::string logPath = dir_ + "/access.log";
  startProxy("", {"--access-log=" + logPath});
  deploy("/web", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "web.example.test"}});
  deploy("/checked", 1, {{"HAPROXY_GROUP", "external"}}, /*healthChecks=*/true);
  ASSERT_TRUE(waitBackends("/web", 1));
  ASSERT_TRUE(waitBackends("/checked", 1, 30000)) << "the task never turned healthy";

  // HTTP mode by the health check: /routes says so, and the task sees the
  // headers only an HTTP proxy adds.
  int checkedPort = servicePort("/checked");
  ASSERT_GT(checkedPort, 0);
  Json routes = adminJson("/routes");
  EXPECT_EQ(routes["servicePorts"][std::to_string(checkedPort)].value("mode", ""), "http")
      << dumpJson(routes);
  for (const auto& route : routes["routes"]) {
    if (route.value("app", "") == "/checked") {
      EXPECT_EQ(route.value("mode", ""), "http");
    }
  }
  auto viaCheck = viaPort(checkedPort, "/via-check");
  ASSERT_EQ(viaCheck.status, 200) << viaCheck.error;
  EXPECT_EQ(http::findHeader(viaCheck.headers, "X-Demo-Target").value_or(""), "/via-check");

  // Three answered requests and one without a route, through the frontend.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(viaHost("web.example.test", "/a?n=1").status, 200);
  EXPECT_EQ(viaHost("nobody.example.test", "/missing").status, 404);

  // Lines are buffered per worker and written within a second.
  std::vector<std::string> lines;
  ASSERT_TRUE(client_.waitFor(
      [&] {
        lines = readLines(logPath);
        return lines.size() >= 5;
      },
      10000, 50))
      << lines.size() << " line(s) in " << logPath;
  std::string task = *routedBackends("/web").begin();
  int web = 0, checked = 0, missing = 0;
  for (const std::string& line : lines) {
    if (line.find(" web.example.test \"GET /a?n=1 HTTP/1.1\" 200 ") != std::string::npos) {
      ++web;
      EXPECT_EQ(line.find(proxyIp_.substr(0, 3)), 0u) << "the client's address first: " << line;
      EXPECT_NE(line.find(" " + task + " "), std::string::npos) << "the task served: " << line;
      EXPECT_NE(line.find(" /web:0 -"), std::string::npos) << line;
    } else if (line.find("\"GET /via-check HTTP/1.1\" 200 ") != std::string::npos) {
      ++checked;
      EXPECT_NE(line.find(" /checked:0 -"), std::string::npos) << line;
    } else if (line.find(" nobody.example.test \"GET /missing HTTP/1.1\" 404 ") !=
               std::string::npos) {
      ++missing;
      EXPECT_NE(line.find(" - no-route"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(web, 3);
  EXPECT_EQ(checked, 1);
  EXPECT_EQ(missing, 1);

  // /stats: JSON by default, with the HTTP exchanges of the route (published
  // by the worker within half a second); HTML when asked either way.
  Json webStats;
  ASSERT_TRUE(client_.waitFor(
      [&] {
        Json stats = adminJson("/stats");
        for (const auto& b : stats["backends"]) {
          if (b.value("app", "") == "/web") webStats = b;
        }
        return !webStats.is_null() && webStats["http"].value("exchanges", 0) == 3;
      },
      10000, 100))
      << admin("/stats").body;
  EXPECT_EQ(webStats["http"]["responses"].value("2xx", 0), 3);
  EXPECT_EQ(webStats["http"].value("errors", -1), 0);
  EXPECT_GT(webStats["http"].value("latencyAvgMs", 0.0), 0.0);
  EXPECT_EQ(webStats.value("requests", 0), 3);
  EXPECT_EQ(webStats["health"].value("taskPortsUp", 0), 1);
  EXPECT_EQ(webStats["health"].value("tasks", 0), 1);
  EXPECT_EQ(webStats.value("route", ""),
            "web.example.test :" + std::to_string(servicePort("/web")));

  auto html = admin("/stats?format=html");
  ASSERT_EQ(html.status, 200);
  EXPECT_EQ(http::findHeader(html.headers, "Content-Type").value_or(""),
            "text/html; charset=utf-8");
  EXPECT_NE(html.body.find("<table>"), std::string::npos);
  EXPECT_NE(html.body.find(">/web</td>"), std::string::npos) << html.body;
  EXPECT_NE(html.body.find(">1/1 up</td>"), std::string::npos) << html.body;
  auto browser = client_.request("GET", proxyIp_, adminPort_, "/stats", "",
                                 {{"Accept", "text/html,application/xhtml+xml;q=0.9"}}, 3000);
  EXPECT_NE(browser.body.find("<!DOCTYPE html>"), std::string::npos);
  auto forced = client_.request("GET", proxyIp_, adminPort_, "/stats?format=json", "",
                                {{"Accept", "text/html"}}, 3000);
  EXPECT_TRUE(forced.json().contains("backends")) << forced.body;
}

// marathon-lb's zdd: blue serves on the group's service port; green is
// deployed on the ALT port with HAPROXY_0_PORT naming the group's port and a
// later STARTED_AT. Both serve in one backend on that port (no listener on
// the ALT port); once green's tasks are up, blue's drain and get nothing new.
TEST_F(ProxyTest, BlueGreenColoursShareOnePortAndTheOldOneDrains) {
  startCluster(111, 1);
  startProxy();
  int port = freePort(proxyIp_);
  int altPort = freePort(proxyIp_);
  ASSERT_GT(port, 0);
  ASSERT_GT(altPort, 0);
  auto labels = [&](const std::string& colour, const std::string& startedAt) {
    return Json{{"HAPROXY_GROUP", "external"},
                {"HAPROXY_DEPLOYMENT_GROUP", "shop"},
                {"HAPROXY_DEPLOYMENT_ALT_PORT", std::to_string(altPort)},
                {"HAPROXY_DEPLOYMENT_COLOUR", colour},
                {"HAPROXY_DEPLOYMENT_STARTED_AT", startedAt},
                {"HAPROXY_DEPLOYMENT_TARGET_INSTANCES", "2"},
                {"HAPROXY_0_PORT", std::to_string(port)}};
  };
  deploy("/shop-blue", 2, labels("blue", "2026-12-01T10:00:00Z"), false, "", port);
  ASSERT_TRUE(waitBackendsAnswering("/shop-blue", 2));
  ASSERT_TRUE(client_.waitFor([&] { return viaPort(port).status == 200; }, 10000, 50));
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[taskOf(viaPort(port))];
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& [task, n] : seen) EXPECT_TRUE(startsWith(task, "shop-blue.")) << task;

  deploy("/shop-green", 2, labels("green", "2026-12-01T11:00:00Z"), false, "", altPort);
  ASSERT_TRUE(waitBackendsAnswering("/shop-green", 2));
  // Green's two tasks up: blue's two drain (min(2, 2, 2 + 2 - 2)).
  ASSERT_TRUE(
      client_.waitFor([&] { return startsWith(taskOf(viaPort(port)), "shop-green."); }, 10000, 50));
  seen.clear();
  for (int i = 0; i < 20; ++i) {
    auto r = viaPort(port);
    ASSERT_EQ(r.status, 200) << r.error;
    ++seen[taskOf(r)];
  }
  ASSERT_EQ(seen.size(), 2u) << "both green tasks, round robin";
  for (const auto& [task, n] : seen) {
    EXPECT_TRUE(startsWith(task, "shop-green.")) << task;
    EXPECT_EQ(n, 10) << task;
  }
  EXPECT_NE(viaPort(altPort).status, 200) << "the ALT port is not served while blue is there";
  Json routes = adminJson("/routes");
  EXPECT_FALSE(routes["servicePorts"].contains(std::to_string(altPort))) << dumpJson(routes);

  // Blue removed: green alone on the same port, nothing lost.
  ASSERT_EQ(api("DELETE", "/v2/apps/shop-blue").status, 200);
  ASSERT_TRUE(client_.waitFor([&] { return routedBackends("/shop-blue").empty(); }, 15000, 50));
  for (int i = 0; i < 10; ++i) {
    auto r = viaPort(port);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(startsWith(taskOf(r), "shop-green.")) << taskOf(r);
  }
}

}  // namespace
}  // namespace corral::it
