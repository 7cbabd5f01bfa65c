#include "proxy/app_labels.h"

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

}  // namespace
}  // namespace corral::proxy
