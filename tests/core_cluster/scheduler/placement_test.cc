// Placement alone: offers and agents in, launch specs per offer and reasons out.
#include "core_cluster/scheduler/placement.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>

namespace corral::scheduler {
namespace {

conf::AppDefinition def(const std::string& text) {
  auto j = parseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  auto d = conf::parseAppDefinition(*j);
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message);
  conf::AppDefinition out = d.ok() ? *d : conf::AppDefinition{};
  out.version = "2024-01-01T00:00:00.000Z";
  return out;
}

master::Offer offer(const std::string& id, const std::string& host, const std::string& res,
                    const std::string& attrs = "") {
  master::Offer o;
  o.id = id;
  o.agentId = "agent-" + id;
  o.hostname = host;
  o.resources = *conf::parseResources(res);
  if (!attrs.empty()) o.attributes = *conf::parseAttributes(attrs);
  return o;
}

std::vector<conf::AgentInfo> agentsOf(const std::vector<master::Offer>& offers) {
  std::vector<conf::AgentInfo> out;
  for (const auto& o : offers) out.push_back({o.hostname, o.attributes});
  return out;
}

TEST(PlacementTest, InstancesSpreadRoundRobinOverTheOffers) {
  std::vector<master::Offer> offers = {offer("o1", "h1", "cpus:8;mem:8192;ports:[31000-31100]"),
                                       offer("o2", "h2", "cpus:8;mem:8192;ports:[31000-31100]"),
                                       offer("o3", "h3", "cpus:8;mem:8192;ports:[31000-31100]")};
  Placement p(offers, agentsOf(offers), 50);
  conf::AppDefinition d = def(R"({"id":"/web","cmd":"x","cpus":1,"mem":64,
                                 "portDefinitions":[{"port":10000}]})");
  std::string reason;
  EXPECT_EQ(p.place("/web", d, 5, 1, reason), 5);
  EXPECT_TRUE(reason.empty()) << reason;
  // Starting at offer 1: o2, o3, o1, o2, o3.
  EXPECT_EQ(p.specs(0).size(), 1u);
  EXPECT_EQ(p.specs(1).size(), 2u);
  EXPECT_EQ(p.specs(2).size(), 2u);
  std::set<std::string> ids;
  for (size_t i = 0; i < p.offerCount(); ++i) {
    for (const auto& s : p.specs(i)) {
      EXPECT_EQ(s.appId, "/web");
      EXPECT_EQ(s.version, *d.version);
      EXPECT_EQ(s.taskId.rfind("web.", 0), 0u) << s.taskId;
      EXPECT_TRUE(ids.insert(s.taskId).second);
      ASSERT_EQ(s.ports.size(), 1u);
      EXPECT_GE(s.ports[0], 31000);
      EXPECT_EQ(s.servicePorts, std::vector<int>{10000});
      EXPECT_EQ(s.launch.value("cmd", ""), "x");
    }
  }
  // Two tasks on one offer get different host ports.
  EXPECT_NE(p.specs(1)[0].ports[0], p.specs(1)[1].ports[0]);
}

TEST(PlacementTest, ResourcesBoundWhatFitsAndTheReasonSaysWhy) {
  std::vector<master::Offer> offers = {offer("o1", "h1", "cpus:1.5;mem:1024;ports:[31000-31010]")};
  Placement p(offers, agentsOf(offers), 50);
  conf::AppDefinition d = def(R"({"id":"/web","cmd":"x","cpus":0.5,"mem":64})");
  std::string reason;
  EXPECT_EQ(p.place("/web", d, 5, 0, reason), 3);
  EXPECT_NE(reason.find("insufficient resources on h1"), std::string::npos) << reason;
  // What is left of the offer is shared by the next app.
  std::string other;
  EXPECT_EQ(p.place("/api", d, 1, 0, other), 0);
  EXPECT_FALSE(other.empty());
}

TEST(PlacementTest, PortsFixedOrDynamicMustBeFreeOnTheOffer) {
  std::vector<master::Offer> offers = {offer("o1", "h1", "cpus:8;mem:8192;ports:[31000-31001]")};
  Placement p(offers, agentsOf(offers), 50);
  std::string reason;
  conf::AppDefinition fixed = def(R"({"id":"/fixed","cmd":"x","cpus":0.1,"mem":8,
      "requirePorts":true,"portDefinitions":[{"port":31001}]})");
  EXPECT_EQ(p.place("/fixed", fixed, 2, 0, reason), 1);
  EXPECT_NE(reason.find("31001 is not free on h1"), std::string::npos) << reason;
  EXPECT_EQ(p.specs(0)[0].ports, std::vector<int>{31001});
  conf::AppDefinition two = def(R"({"id":"/two","cmd":"x","cpus":0.1,"mem":8,
      "portDefinitions":[{"port":0},{"port":0}]})");
  reason.clear();
  EXPECT_EQ(p.place("/two", two, 1, 0, reason), 0);  // only 31000 is left
  EXPECT_NE(reason.find("not enough free ports on h1"), std::string::npos) << reason;
}

TEST(PlacementTest, ConstraintsCountTheTasksAlreadyPlaced) {
  std::vector<master::Offer> offers = {
      offer("o1", "h1", "cpus:8;mem:8192;ports:[31000-31010]", "rack:r1"),
      offer("o2", "h2", "cpus:8;mem:8192;ports:[31000-31010]", "rack:r2")};
  Placement p(offers, agentsOf(offers), 50);
  p.addPlaced("/web", conf::AgentInfo{"h1", *conf::parseAttributes("rack:r1")});
  conf::AppDefinition d = def(R"({"id":"/web","cmd":"x","cpus":0.1,"mem":8,
      "constraints":[["hostname","UNIQUE"]]})");
  std::string reason;
  EXPECT_EQ(p.place("/web", d, 3, 0, reason), 1);  // only h2 is free of /web
  EXPECT_TRUE(p.specs(0).empty());
  EXPECT_EQ(p.specs(1).size(), 1u);
  EXPECT_FALSE(reason.empty());
  // Another app is not held back by /web's tasks.
  conf::AppDefinition api = def(R"({"id":"/api","cmd":"x","cpus":0.1,"mem":8,
      "constraints":[["hostname","UNIQUE"]]})");
  std::string apiReason;
  EXPECT_EQ(p.place("/api", api, 2, 0, apiReason), 2);
}

TEST(PlacementTest, AnOfferTakesAtMostMaxTasksPerOffer) {
  std::vector<master::Offer> offers = {
      offer("o1", "h1", "cpus:100;mem:100000;ports:[31000-31999]")};
  Placement p(offers, agentsOf(offers), 3);
  conf::AppDefinition d = def(R"({"id":"/web","cmd":"x","cpus":0.1,"mem":8})");
  std::string reason;
  EXPECT_EQ(p.place("/web", d, 10, 0, reason), 3);
  EXPECT_EQ(p.specs(0).size(), 3u);
}

TEST(PlacementTest, NoOffersPlaceNothing) {
  Placement p({}, {}, 50);
  conf::AppDefinition d = def(R"({"id":"/web","cmd":"x"})");
  std::string reason = "before";
  EXPECT_EQ(p.place("/web", d, 2, 7, reason), 0);
  EXPECT_EQ(reason, "before");
}

}  // namespace
}  // namespace corral::scheduler
