#include "dns/registry_zone.h"

#include <gtest/gtest.h>

#include "dns/zone.h"

namespace corral::dns {
namespace {

registry::Snapshot oneApp() {
  registry::Snapshot s;
  s.leader = "127.0.0.1:8080";
  auto app = std::make_shared<registry::App>();
  app->id = "/shop/web";
  app->hasHealthChecks = true;
  app->portDefinitions = {registry::PortDefinition{10000, "http", "tcp", {}},
                          registry::PortDefinition{10001, "", "udp", {}}};
  registry::Task t;
  t.id = "shop_web.1";
  t.appId = app->id;
  t.host = "127.0.0.2";
  t.agentId = "A-S1";
  t.ports = {31000, 31001};
  t.state = conf::TaskState::kRunning;
  t.healthy = true;
  app->tasks.push_back(t);
  s.apps[app->id] = app;
  return s;
}

TEST(RegistryZone, MapsAppsTasksPortsAndLeader) {
  ZoneInput in = zoneInputFromSnapshot(oneApp(), ZoneNaming{});
  EXPECT_EQ(in.leaderIp, "127.0.0.1");
  EXPECT_EQ(in.leaderPort, 8080);
  ASSERT_EQ(in.apps.size(), 1u);
  EXPECT_TRUE(in.apps[0].hasHealthChecks);
  ASSERT_EQ(in.apps[0].tasks.size(), 1u);
  const TaskInfo& t = in.apps[0].tasks[0];
  EXPECT_EQ(t.ip, "127.0.0.2");
  ASSERT_EQ(t.ports.size(), 2u);
  EXPECT_EQ(t.ports[0].name, "http");
  EXPECT_EQ(t.ports[1].protocol, "udp");
  EXPECT_EQ(t.healthy, std::optional<bool>(true));
  ASSERT_EQ(in.agents.size(), 1u);
  EXPECT_EQ(in.agents[0].id, "A-S1");
}

TEST(RegistryZone, KnownAgentsWithoutTasksAreListed) {
  std::vector<AgentInfo> known = {AgentInfo{"A-S1", "127.0.0.2", "127.0.0.2", 5051},
                                  AgentInfo{"A-S2", "127.0.0.3", "127.0.0.3", 5051}};
  ZoneInput in = zoneInputFromSnapshot(oneApp(), ZoneNaming{}, known);
  ASSERT_EQ(in.agents.size(), 2u);
  auto zone = buildZone(in);
  ASSERT_TRUE(zone.ok()) << zone.error().message;
  auto addrs = (*zone)->hostAddresses("slave.mesos");
  EXPECT_EQ(addrs.size(), 2u);
  EXPECT_EQ((*zone)->hostAddresses("web-shop.marathon.mesos").size(), 1u);
}

}  // namespace
}  // namespace corral::dns
