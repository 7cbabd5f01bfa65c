// RoutingBuilder (registry snapshot + diff -> ProxySnapshot) and the worker
// side (pickers over its backend sets), socket-free.
#include "proxy/routing_builder.h"
#include "conf/task_state.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>

#include "base/http_request_parser.h"
#include "base/loop.h"
#include "proxy/worker_routing.h"
#include "registry/catalog.h"

namespace corral::proxy {
namespace {

registry::Task task(const std::string& app, const std::string& id, int port,
                    std::optional<bool> healthy = std::nullopt,
                    std::string state = "TASK_RUNNING") {
  registry::Task t;
  t.id = app + "." + id;
  t.appId = "/" + app;
  t.host = "127.0.0.2";
  t.ports = {port};
  t.state = conf::parseTaskState(state);
  t.healthy = healthy;
  return t;
}

std::shared_ptr<const registry::App> app(const std::string& name, registry::Labels labels,
                                         std::vector<registry::Task> tasks, int servicePort,
                                         bool healthChecks = false) {
  auto a = std::make_shared<registry::App>();
  a->id = "/" + name;
  a->labels = std::move(labels);
  a->portDefinitions.push_back(registry::PortDefinition{servicePort, "", "tcp", {}});
  a->hasHealthChecks = healthChecks;
  a->tasks = std::move(tasks);
  return a;
}

registry::Snapshot snapshotOf(uint64_t version,
                              std::vector<std::shared_ptr<const registry::App>> apps) {
  registry::Snapshot s;
  s.version = version;
  for (auto& a : apps) s.apps[a->id] = a;
  return s;
}

const registry::Labels kWeb = {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "web.test"}};

TEST(RoutingBuilder, RoutesRunningHealthyTasksOfTheProxysGroupOnly) {
  RoutingBuilder b(conf::ProxyLabelOptions{});
  auto s =
      snapshotOf(1, {app("web", kWeb,
                         {task("web", "a", 31000, true), task("web", "b", 31001, false),
                          task("web", "c", 31002, true, "TASK_STAGING")},
                         10000, true),
                     app("other", {{"HAPROXY_GROUP", "internal"}, {"HAPROXY_0_VHOST", "o.test"}},
                         {task("other", "a", 31003)}, 10001)});
  auto built = b.update(s, registry::Diff{{"/other", "/web"}, {}, {}});
  ASSERT_TRUE(built.ok());
  const ProxySnapshot& p = **built;
  EXPECT_EQ(p.generation, 1u);
  const RouteTarget* t = p.table->lookupHttp("web.test", "/");
  ASSERT_NE(t, nullptr);
  const BackendSet* set = p.backend(t->members[0].key);
  ASSERT_NE(set, nullptr);
  ASSERT_EQ(set->labels.size(), 1u);  // unhealthy and staging tasks excluded
  EXPECT_EQ(set->labels[0], "127.0.0.2:31000");
  EXPECT_EQ(p.table->lookupHttp("o.test", "/"), nullptr);  // another group
  EXPECT_EQ(p.backend(BackendKey{"/other", 0}), nullptr);
  EXPECT_NE(p.table->lookupPort(10000), nullptr);
  EXPECT_EQ(b.reports().at("/other").specs.at(0).state, conf::RouteState::kOtherGroup);
}

TEST(RoutingBuilder, ATaskChangeKeepsTheTableAndOtherAppsBackends) {
  RoutingBuilder b(conf::ProxyLabelOptions{});
  auto web = app("web", kWeb, {task("web", "a", 31000)}, 10000);
  auto api = app("api", {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "api.test"}},
                 {task("api", "a", 31001)}, 10001);
  auto first = b.update(snapshotOf(1, {web, api}), registry::Diff{{"/api", "/web"}, {}, {}});
  ASSERT_TRUE(first.ok());
  auto web2 = app("web", kWeb, {task("web", "a", 31000), task("web", "b", 31002)}, 10000);
  auto second = b.update(snapshotOf(2, {web2, api}), registry::Diff{{}, {"/web"}, {}});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*first)->table, (*second)->table);  // no route changed: the same table
  EXPECT_EQ((*first)->backend(BackendKey{"/api", 0}), (*second)->backend(BackendKey{"/api", 0}));
  EXPECT_EQ((*second)->backend(BackendKey{"/web", 0})->peers.size(), 2u);
  // The counters of an app port survive its new backend sets.
  EXPECT_EQ((*first)->backend(BackendKey{"/web", 0})->counters,
            (*second)->backend(BackendKey{"/web", 0})->counters);

  // A label change rebuilds the table; a removed app leaves it and its port.
  auto third = b.update(snapshotOf(3, {web2}), registry::Diff{{}, {}, {"/api"}});
  ASSERT_TRUE(third.ok());
  EXPECT_NE((*third)->table, (*second)->table);
  EXPECT_EQ((*third)->table->lookupHttp("api.test", "/"), nullptr);
  EXPECT_EQ((*third)->table->lookupPort(10001), nullptr);
  EXPECT_EQ(b.reports().count("/api"), 0u);
}

TEST(RoutingBuilder, ABadLabelRejectsOnlyItsAppAndIsReported) {
  RoutingBuilder b(conf::ProxyLabelOptions{});
  auto bad = app("bad",
                 {{"HAPROXY_GROUP", "external"},
                  {"HAPROXY_0_VHOST", "bad.test"},
                  {"HAPROXY_0_BALANCE", "fastest"}},
                 {task("bad", "a", 31000)}, 10000);
  auto web = app("web", kWeb, {task("web", "a", 31001)}, 10001);
  auto built = b.update(snapshotOf(1, {bad, web}), registry::Diff{{"/bad", "/web"}, {}, {}});
  ASSERT_TRUE(built.ok());
  EXPECT_EQ((*built)->table->lookupHttp("bad.test", "/"), nullptr);
  EXPECT_NE((*built)->table->lookupHttp("web.test", "/"), nullptr);
  const auto& issues = b.reports().at("/bad").issues;
  ASSERT_FALSE(issues.empty());
  EXPECT_EQ(issues[0].label, "HAPROXY_0_BALANCE");
  EXPECT_TRUE(issues[0].rejects());
  EXPECT_EQ(b.issueCounts()[conf::LabelIssueKind::kBadValue], 1u);
}

const http::RequestHead& headFor(http::RequestStreamParser& parser, const std::string& bytes) {
  size_t used = 0;
  while (used < bytes.size()) {
    size_t consumed = 0;
    auto event = parser.feed(std::string_view(bytes).substr(used), &consumed);
    used += consumed;
    if (event == http::RequestStreamParser::Event::kHead) break;
    EXPECT_EQ(event, http::RequestStreamParser::Event::kNeedMore);
    if (event != http::RequestStreamParser::Event::kNeedMore) break;
  }
  return parser.head();
}

TEST(WorkerRouting, PicksRoundRobinKeepsPickersAndSkipsTriedPeers) {
  Loop loop;
  RoutingBuilder b(conf::ProxyLabelOptions{});
  auto web = app("web", kWeb, {task("web", "a", 31000), task("web", "b", 31001)}, 10000);
  auto first = b.update(snapshotOf(1, {web}), registry::Diff{{"/web"}, {}, {}});
  ASSERT_TRUE(first.ok());
  WorkerRouting routing(loop, 0);
  routing.install(*first);
  const RouteTarget* target = routing.snapshot().table->lookupHttp("web.test", "/");
  ASSERT_NE(target, nullptr);

  RouteDecision d;
  routing.decide(*target, &d);
  ASSERT_NE(d.picker, nullptr);
  ASSERT_NE(d.keepAlive, nullptr);
  PickContext ctx;
  const Peer* p1 = d.picker->pick(ctx);
  ASSERT_NE(p1, nullptr);
  d.picker->release(*p1, PeerOutcome::kOk);
  const Peer* p2 = d.picker->pick(ctx);
  ASSERT_NE(p2, nullptr);
  EXPECT_NE(p1->id, p2->id);  // round robin
  d.picker->release(*p2, PeerOutcome::kOk);

  // A retry never gets a peer already tried.
  uint64_t tried[2] = {p1->id, p2->id};
  ctx.tried = tried;
  ctx.triedCount = 1;
  const Peer* p3 = d.picker->pick(ctx);
  ASSERT_NE(p3, nullptr);
  EXPECT_NE(p3->id, p1->id);
  d.picker->release(*p3, PeerOutcome::kOk);
  ctx.triedCount = 2;
  EXPECT_EQ(d.picker->pick(ctx), nullptr);

  // A task leaves while a request holds it: the held peer stays valid, the
  // picker is the same object and only the staying task is picked.
  PickContext fresh;
  const Peer* held = d.picker->pick(fresh);
  ASSERT_NE(held, nullptr);
  uint64_t heldId = held->id;
  auto onlyOther = app(
      "web", kWeb, {heldId == p1->id ? task("web", "b", 31001) : task("web", "a", 31000)}, 10000);
  auto second = b.update(snapshotOf(2, {onlyOther}), registry::Diff{{}, {"/web"}, {}});
  ASSERT_TRUE(second.ok());
  routing.install(*second);
  RouteDecision d2;
  routing.decide(*routing.snapshot().table->lookupHttp("web.test", "/"), &d2);
  EXPECT_EQ(d2.picker, d.picker);
  for (int i = 0; i < 4; ++i) {
    const Peer* p = d2.picker->pick(fresh);
    ASSERT_NE(p, nullptr);
    EXPECT_NE(p->id, heldId);
    d2.picker->release(*p, PeerOutcome::kOk);
  }
  EXPECT_EQ(held->id, heldId);
  d.picker->release(*held, PeerOutcome::kOk);
  const BackendCounters& c = *(*second)->backend(BackendKey{"/web", 0})->counters;
  EXPECT_EQ(c.active.load(), 0);
  EXPECT_EQ(c.requests.load(), 8u);
}

TEST(WorkerRouting, FrontendLookupCountsMissesAndRoutesByHostAndPath) {
  Loop loop;
  RoutingBuilder b(conf::ProxyLabelOptions{});
  auto web = app("web", kWeb, {task("web", "a", 31000)}, 10000);
  auto api = app("api",
                 {{"HAPROXY_GROUP", "external"},
                  {"HAPROXY_0_VHOST", "web.test"},
                  {"HAPROXY_0_PATH", "/api"},
                  {"HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH", "/api"}},
                 {task("api", "a", 31001)}, 10001);
  auto built = b.update(snapshotOf(1, {web, api}), registry::Diff{{"/api", "/web"}, {}, {}});
  ASSERT_TRUE(built.ok());
  WorkerRouting routing(loop, 0);
  routing.install(*built);
  FrontendLookup frontend(routing);

  http::RequestStreamParser p1{http::RequestStreamParser::Limits{}};
  RouteDecision d;
  ASSERT_TRUE(frontend.lookup(headFor(p1, "GET /api/x HTTP/1.1\r\nHost: web.test\r\n\r\n"), &d));
  EXPECT_EQ(d.stripPrefix, "/api");
  EXPECT_EQ(d.hostRewrite, "web.test");
  PickContext ctx;
  const Peer* peer = d.picker->pick(ctx);
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in*>(&peer->address)->sin_port), 31001);
  d.picker->release(*peer, PeerOutcome::kOk);

  http::RequestStreamParser p2{http::RequestStreamParser::Limits{}};
  RouteDecision none;
  EXPECT_FALSE(frontend.lookup(headFor(p2, "GET / HTTP/1.1\r\nHost: nope.test\r\n\r\n"), &none));
  EXPECT_EQ(routing.counters().noRoute.load(), 1u);
  EXPECT_EQ(routing.counters().requests.load(), 1u);
}

// Blue/green as marathon-lb's zdd leaves it: two apps of one
// HAPROXY_DEPLOYMENT_GROUP, the new one on its ALT_PORT.
std::shared_ptr<const registry::App> colour(const std::string& name, const std::string& startedAt,
                                            int servicePort, int tasks, int firstPort) {
  registry::Labels labels = {{"HAPROXY_GROUP", "external"},
                             {"HAPROXY_DEPLOYMENT_GROUP", "shop"},
                             {"HAPROXY_DEPLOYMENT_ALT_PORT", "10001"},
                             {"HAPROXY_DEPLOYMENT_STARTED_AT", startedAt},
                             {"HAPROXY_DEPLOYMENT_TARGET_INSTANCES", "3"}};
  std::vector<registry::Task> list;
  for (int i = 0; i < tasks; ++i) {
    list.push_back(task(name, std::string(1, static_cast<char>('a' + i)), firstPort + i));
  }
  auto a = app(name, labels, list, servicePort);
  auto copy = std::make_shared<registry::App>(*a);
  copy->instances = 3;
  return copy;
}

// Which task ports 60 new connections to service port 10000 reach.
std::map<int, int> spread(WorkerRouting& routing) {
  std::map<int, int> hits;
  const RouteTarget* target = routing.snapshot().table->lookupPort(10000);
  if (target == nullptr) return hits;
  RouteDecision d;
  routing.decide(*target, &d);
  for (int i = 0; i < 60; ++i) {
    const Peer* peer = d.picker->pick(PickContext{});
    if (peer == nullptr) break;
    ++hits[ntohs(reinterpret_cast<const sockaddr_in*>(&peer->address)->sin_port)];
    d.picker->release(*peer, PeerOutcome::kOk);
  }
  return hits;
}

TEST(BlueGreen, BothColoursServeOnTheFirstColoursPortAndOldTasksDrainAsNewOnesComeUp) {
  Loop loop;
  RoutingBuilder b(conf::ProxyLabelOptions{});
  auto blue = colour("shop-blue", "2026-12-01T10:00:00Z", 10000, 3, 31000);
  auto built = b.update(snapshotOf(1, {blue}), registry::Diff{{"/shop-blue"}, {}, {}});
  ASSERT_TRUE(built.ok());
  WorkerRouting routing(loop, 0);
  routing.install(*built);
  EXPECT_EQ(spread(routing), (std::map<int, int>{{31000, 20}, {31001, 20}, {31002, 20}}));

  // Green starts on the ALT port with one task up: it joins blue's backend on
  // blue's port (no listener on 10001), and one blue task drains.
  auto green = colour("shop-green", "2026-12-01T11:00:00Z", 10001, 1, 32000);
  built = b.update(snapshotOf(2, {blue, green}), registry::Diff{{"/shop-green"}, {}, {}});
  ASSERT_TRUE(built.ok());
  routing.install(*built);
  const RouteTarget* target = (*built)->table->lookupPort(10000);
  ASSERT_NE(target, nullptr);
  ASSERT_EQ(target->members.size(), 2u);
  EXPECT_TRUE(target->members[0].draining);
  EXPECT_EQ(target->members[1].key.appId, "/shop-green");
  EXPECT_EQ((*built)->table->lookupPort(10001), nullptr) << "the group serves on one port";
  EXPECT_EQ(spread(routing), (std::map<int, int>{{31001, 20}, {31002, 20}, {32000, 20}}))
      << "blue's first task drains for green's one task up";

  // Two more green tasks up: every blue task drains.
  green = colour("shop-green", "2026-12-01T11:00:00Z", 10001, 3, 32000);
  built = b.update(snapshotOf(3, {blue, green}), registry::Diff{{}, {"/shop-green"}, {}});
  ASSERT_TRUE(built.ok());
  routing.install(*built);
  EXPECT_EQ(spread(routing), (std::map<int, int>{{32000, 20}, {32001, 20}, {32002, 20}}));

  // Blue scaled away: green alone, still one backend on the first port until
  // blue's app is gone.
  built = b.update(snapshotOf(4, {green}), registry::Diff{{}, {}, {"/shop-blue"}});
  ASSERT_TRUE(built.ok());
  routing.install(*built);
  EXPECT_EQ((*built)->table->lookupPort(10000), nullptr)
      << "without HAPROXY_0_PORT (zdd sets it) green goes back to its own port";
  ASSERT_NE((*built)->table->lookupPort(10001), nullptr);
  EXPECT_EQ((*built)->table->lookupPort(10001)->members.size(), 1u);
}

TEST(BlueGreen, NoNewColourTaskUpMeansNothingDrains) {
  Loop loop;
  RoutingBuilder b(conf::ProxyLabelOptions{});
  auto blue = colour("shop-blue", "2026-12-01T10:00:00Z", 10000, 2, 31000);
  auto green = colour("shop-green", "2026-12-01T11:00:00Z", 10001, 0, 32000);
  auto built =
      b.update(snapshotOf(1, {blue, green}), registry::Diff{{"/shop-blue", "/shop-green"}, {}, {}});
  ASSERT_TRUE(built.ok());
  WorkerRouting routing(loop, 0);
  routing.install(*built);
  EXPECT_EQ(spread(routing), (std::map<int, int>{{31000, 30}, {31001, 30}}));
}

}  // namespace
}  // namespace corral::proxy
