#include "proxy/app_labels.h"
#include "conf/task_state.h"

#include <gtest/gtest.h>

#include "registry/catalog.h"

namespace corral::proxy {
namespace {

registry::App shopApp() {
  registry::App app;
  app.id = "/shop";
  app.labels = {{"HAPROXY_GROUP", "external"},
                {"HAPROXY_0_VHOST", "shop.test"},
                {"HAPROXY_1_BALANCE", "fastest"},
                {"HAPROXY_2_GROUP", "internal"}};
  app.portDefinitions = {registry::PortDefinition{10000, "http", "tcp", {}},
                         registry::PortDefinition{10001, "admin", "tcp", {}},
                         registry::PortDefinition{10002, "debug", "tcp", {}}};
  return app;
}

TEST(AppLabels, AdaptsTheCatalogApp) {
  auto input = labelAppFrom(shopApp());
  EXPECT_EQ(input.id, "/shop");
  ASSERT_EQ(input.ports.size(), 3u);
  EXPECT_EQ(input.ports[1].servicePort, 10001);
  EXPECT_EQ(input.labels.at("HAPROXY_0_VHOST"), "shop.test");
}

TEST(AppLabels, RoutesOnlyRoutedPortsAndKeepsTheRestForConfig) {
  auto routing = routeApp(shopApp(), conf::ProxyLabelOptions{{"external"}, false});
  EXPECT_EQ(routing.routes.appId, "/shop");
  ASSERT_EQ(routing.routes.routes.size(), 1u) << "port 1 rejected, port 2 in another group";
  EXPECT_EQ(routing.routes.routes[0]->servicePort, 10000);
  ASSERT_EQ(routing.all.size(), 2u);
  EXPECT_EQ(routing.all[1].state, conf::RouteState::kOtherGroup);
  ASSERT_EQ(routing.issues.size(), 1u);
  EXPECT_EQ(routing.issues[0].label, "HAPROXY_1_BALANCE");

  auto table = RouteTable::update(RouteTable(), {&routing.routes, 1}, 1);
  ASSERT_NE(table->lookupHttp("shop.test", "/"), nullptr);
  EXPECT_EQ(table->lookupPort(10001), nullptr);
  EXPECT_EQ(table->lookupPort(10002), nullptr);
}

TEST(AppLabels, AnHttpHealthCheckMakesItsPortHttp) {
  registry::App app;
  app.id = "/api";
  app.labels = {{"HAPROXY_GROUP", "external"}, {"HAPROXY_2_MODE", "tcp"}};
  app.portDefinitions = {registry::PortDefinition{10000, "", "tcp", {}},
                         registry::PortDefinition{10001, "", "tcp", {}},
                         registry::PortDefinition{10002, "", "tcp", {}}};
  auto modes = [&] {
    std::vector<conf::RouteMode> out;
    for (const auto& spec : routeApp(app, conf::ProxyLabelOptions{{"external"}, false}).all) {
      out.push_back(spec.mode);
    }
    return out;
  };
  using conf::RouteMode;
  EXPECT_EQ(modes(), (std::vector{RouteMode::kTcp, RouteMode::kTcp, RouteMode::kTcp}))
      << "no vhost, no MODE, no check: tcp";
  app.hasHealthChecks = true;
  app.healthChecks = {registry::HealthCheck{false, 0, std::nullopt},
                      registry::HealthCheck{true, 1, std::nullopt},
                      registry::HealthCheck{true, 2, std::nullopt}};
  EXPECT_EQ(modes(), (std::vector{RouteMode::kTcp, RouteMode::kHttp, RouteMode::kHttp}))
      << "an HTTP check makes its port http, even over HAPROXY_2_MODE=tcp (marathon-lb)";
  app.healthChecks = {registry::HealthCheck{true, std::nullopt, 8080},
                      registry::HealthCheck{false, 1, std::nullopt}};
  EXPECT_EQ(modes(), (std::vector{RouteMode::kHttp, RouteMode::kHttp, RouteMode::kHttp}))
      << "marathon-lb takes a check with a fixed port as every port's check";
  app.healthChecks = {registry::HealthCheck{false, 1, std::nullopt},
                      registry::HealthCheck{true, 1, std::nullopt}};
  EXPECT_EQ(modes(), (std::vector{RouteMode::kTcp, RouteMode::kTcp, RouteMode::kTcp}))
      << "the first check naming the port decides";
  app.labels["HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX"] = "1";
  app.healthChecks = {registry::HealthCheck{true, 1, std::nullopt}};
  EXPECT_EQ(modes(), (std::vector{RouteMode::kHttp, RouteMode::kHttp, RouteMode::kTcp}))
      << "BACKEND_HEALTHCHECK_PORT_INDEX borrows port 1's check";
}

registry::Task task(std::string id, std::string state, std::optional<bool> healthy,
                    std::vector<int> ports, std::string ip = "10.0.0.5") {
  registry::Task t;
  t.id = std::move(id);
  t.appId = "/shop";
  t.host = "agent-1";
  t.ip = std::move(ip);
  t.state = conf::parseTaskState(state);
  t.healthy = healthy;
  t.ports = std::move(ports);
  return t;
}

TEST(AppLabels, PeersAreRunningTasksHealthyWhenChecked) {
  registry::App app = shopApp();
  app.tasks = {task("shop.a", "TASK_RUNNING", std::nullopt, {31000, 31001}),
               task("shop.b", "TASK_STAGING", std::nullopt, {31002, 31003}),
               task("shop.c", "TASK_RUNNING", false, {31004, 31005}),
               task("shop.d", "TASK_RUNNING", true, {31006}, ""),
               task("shop.e", "TASK_RUNNING", true, {31008, 31009})};
  auto peers = peersOf(app, 1, false);
  ASSERT_EQ(peers.size(), 3u) << "without health checks every running task with the port";
  EXPECT_EQ(peers[0].id, "shop.a:31001");
  EXPECT_EQ(peers[0].host, "10.0.0.5");
  EXPECT_EQ(peers[0].port, 31001);
  EXPECT_EQ(peers[1].id, "shop.c:31005");
  EXPECT_EQ(peers[2].id, "shop.e:31009");

  app.hasHealthChecks = true;
  peers = peersOf(app, 0, true);
  ASSERT_EQ(peers.size(), 2u) << "only tasks reported healthy";
  EXPECT_EQ(peers[0].id, "shop.d:31006");
  EXPECT_EQ(peers[0].host, "agent-1") << "no IP: the agent's host name";
  EXPECT_TRUE(peers[0].draining);
  EXPECT_EQ(peers[1].id, "shop.e:31008");
  EXPECT_TRUE(peersOf(app, 5, false).empty());
  EXPECT_TRUE(peersOf(app, -1, false).empty());
}

TEST(AppLabels, ProxyPassPathStripsThePrefix) {
  EXPECT_EQ(proxyPassPath("/api", "/api/users?id=1"), "/users?id=1");
  EXPECT_EQ(proxyPassPath("/api", "/api"), "/");
  EXPECT_EQ(proxyPassPath("/api", "/api/"), "/");
  EXPECT_EQ(proxyPassPath("/api/", "/api/users"), "/users");
  EXPECT_EQ(proxyPassPath("/api", "/other"), "/other");
  EXPECT_EQ(proxyPassPath("", "/api/users"), "/api/users");
}

}  // namespace
}  // namespace corral::proxy
