#include "proxy/route_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace corral::proxy {
namespace {

using conf::RouteMode;
using conf::RouteSpec;

struct SpecBuilder {
  RouteSpec spec;
  SpecBuilder(std::string appId, int port, int index = 0) {
    spec.appId = std::move(appId);
    spec.servicePort = port;
    spec.portIndex = index;
  }
  SpecBuilder& vhost(std::string host) {
    spec.vhosts.push_back(std::move(host));
    spec.mode = RouteMode::kHttp;
    return *this;
  }
  SpecBuilder& path(std::string p) {
    spec.paths.push_back(std::move(p));
    return *this;
  }
  SpecBuilder& weight(int w) {
    spec.backendWeight = w;
    return *this;
  }
  SpecBuilder& httpDefault() {
    spec.httpDefault = true;
    spec.mode = RouteMode::kHttp;
    return *this;
  }
  SpecBuilder& deployment(std::string group, std::string startedAt) {
    spec.deploymentGroup = std::move(group);
    spec.deploymentStartedAt = std::move(startedAt);
    return *this;
  }
  RouteSpecPtr build() const { return std::make_shared<const RouteSpec>(spec); }
};

AppRoutes app(std::string id, std::vector<SpecBuilder> specs) {
  AppRoutes routes{std::move(id), {}};
  for (const auto& s : specs) routes.routes.push_back(s.build());
  return routes;
}

std::shared_ptr<const RouteTable> build(std::vector<AppRoutes> apps,
                                        const RouteTable& previous = RouteTable()) {
  return RouteTable::update(previous, apps, previous.generation() + 1);
}

std::string served(const RouteTable& table, std::string_view host, std::string_view path) {
  const RouteTarget* target = table.lookupHttp(host, path);
  return target ? target->spec->appId : "";
}

TEST(RouteTable, PrecedenceVhostPathThenVhostThenPathThenDefault) {
  auto table = build({
      app("/api", {SpecBuilder("/api", 10001).vhost("shop.test").path("/api")}),
      app("/api-v2", {SpecBuilder("/api-v2", 10002).vhost("shop.test").path("/api/v2")}),
      app("/web", {SpecBuilder("/web", 10003).vhost("shop.test")}),
      app("/static", {SpecBuilder("/static", 10004).httpDefault().path("/static")}),
      app("/fallback", {SpecBuilder("/fallback", 10005).httpDefault()}),
      app("/tcp", {SpecBuilder("/tcp", 10006)}),
  });
  EXPECT_EQ(served(*table, "shop.test", "/api/v2/users"), "/api-v2") << "longest prefix";
  EXPECT_EQ(served(*table, "shop.test", "/api/v1"), "/api");
  EXPECT_EQ(served(*table, "shop.test", "/apix"), "/api") << "path_beg is a string prefix";
  EXPECT_EQ(served(*table, "shop.test", "/"), "/web") << "vhost without path";
  EXPECT_EQ(served(*table, "shop.test", "/static/x"), "/web") << "a vhost route beats path-only";
  EXPECT_EQ(served(*table, "other.test", "/static/app.js"), "/static") << "path-only";
  EXPECT_EQ(served(*table, "other.test", "/"), "/fallback") << "default";
  EXPECT_EQ(served(*table, "", "/"), "/fallback") << "no Host header";
  EXPECT_EQ(served(*table, "shop.test", "/api/v2?x=/api/v3"), "/api-v2") << "query ignored";
  ASSERT_NE(table->lookupPort(10006), nullptr);
  EXPECT_EQ(table->lookupPort(10006)->spec->appId, "/tcp");
  EXPECT_EQ(table->lookupPort(10001)->spec->appId, "/api") << "http routes keep their port";
  EXPECT_EQ(table->lookupPort(9999), nullptr);
}

TEST(RouteTable, HostWithPathsOnlyFallsThroughToHostless) {
  auto table = build({
      app("/api", {SpecBuilder("/api", 10001).vhost("shop.test").path("/api")}),
      app("/fallback", {SpecBuilder("/fallback", 10005).httpDefault()}),
  });
  EXPECT_EQ(served(*table, "shop.test", "/other"), "/fallback");
  auto noDefault =
      build({app("/api", {SpecBuilder("/api", 10001).vhost("shop.test").path("/api")})});
  EXPECT_EQ(noDefault->lookupHttp("shop.test", "/other"), nullptr);
  EXPECT_EQ(noDefault->lookupHttp("nobody.test", "/api"), nullptr) << "paths need their vhost";
}

TEST(RouteTable, HostIsNormalised) {
  auto table = build({app("/web", {SpecBuilder("/web", 10003).vhost("shop.test")})});
  for (const char* host :
       {"shop.test", "SHOP.Test", "shop.test:8000", "shop.test.", "Shop.Test.:80"}) {
    EXPECT_EQ(served(*table, host, "/"), "/web") << host;
  }
  for (const char* host : {"shop.test.x", "x.shop.test", "shop", "a:b:c", "[::1]:80"}) {
    EXPECT_EQ(served(*table, host, "/"), "") << host;
  }
  EXPECT_EQ(RouteTable::normalizeHost("[::1]:8080"), "[::1]");
  EXPECT_EQ(RouteTable::normalizeHost(std::string(300, 'a')), "");
}

TEST(RouteTable, SharedVhostOrderedByBackendWeight) {
  auto table = build({
      app("/a", {SpecBuilder("/a", 10001).vhost("shop.test").weight(1)}),
      app("/b", {SpecBuilder("/b", 10002).vhost("shop.test").weight(5)}),
      app("/c", {SpecBuilder("/c", 10003).vhost("shop.test").weight(5)}),
  });
  EXPECT_EQ(served(*table, "shop.test", "/"), "/b") << "highest weight, then app id";
  auto next = build({app("/b", {})}, *table);
  EXPECT_EQ(served(*next, "shop.test", "/"), "/c");
  auto last = build({app("/c", {SpecBuilder("/c", 10003).vhost("shop.test").weight(0)})}, *next);
  EXPECT_EQ(served(*last, "shop.test", "/"), "/a");
  EXPECT_EQ(served(*table, "shop.test", "/"), "/b") << "old tables are untouched";
}

TEST(RouteTable, UpdateReplacesAndRemovesAnAppsRoutes) {
  auto v1 = build({
      app("/web", {SpecBuilder("/web", 10003).vhost("old.test"), SpecBuilder("/web", 10004, 1)}),
      app("/other", {SpecBuilder("/other", 10005).vhost("other.test")}),
  });
  EXPECT_EQ(v1->hostCount(), 2u);
  EXPECT_EQ(v1->portCount(), 3u);
  auto v2 = build({app("/web", {SpecBuilder("/web", 10007).vhost("new.test")})}, *v1);
  EXPECT_EQ(served(*v2, "old.test", "/"), "");
  EXPECT_EQ(served(*v2, "new.test", "/"), "/web");
  EXPECT_EQ(v2->lookupPort(10003), nullptr);
  EXPECT_EQ(v2->lookupPort(10004), nullptr);
  ASSERT_NE(v2->lookupPort(10007), nullptr);
  EXPECT_EQ(served(*v2, "other.test", "/"), "/other");
  EXPECT_EQ(v2->hostCount(), 2u);
  EXPECT_EQ(v2->generation(), v1->generation() + 1);
  auto v3 = build({app("/web", {}), app("/other", {})}, *v2);
  EXPECT_EQ(v3->appCount(), 0u);
  EXPECT_EQ(v3->hostCount(), 0u);
  EXPECT_EQ(v3->portCount(), 0u);
  // v1 still answers as before.
  EXPECT_EQ(served(*v1, "old.test", "/"), "/web");
}

TEST(RouteTable, UnroutedSpecsAreIgnored) {
  SpecBuilder other("/web", 10003);
  other.vhost("shop.test");
  other.spec.state = conf::RouteState::kOtherGroup;
  auto table = build({app("/web", {other})});
  EXPECT_EQ(table->lookupHttp("shop.test", "/"), nullptr);
  EXPECT_EQ(table->lookupPort(10003), nullptr);
  EXPECT_EQ(table->appCount(), 0u);
}

TEST(RouteTable, BackendKeysAreStableAcrossTables) {
  auto v1 = build({app("/web", {SpecBuilder("/web", 10003).vhost("shop.test")})});
  auto v2 = build({app("/unrelated", {SpecBuilder("/unrelated", 10009)})}, *v1);
  const RouteTarget* a = v1->lookupHttp("shop.test", "/");
  const RouteTarget* b = v2->lookupHttp("shop.test", "/");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->members, b->members);
  EXPECT_EQ(a, b) << "an untouched host's slot is shared, not copied";
  EXPECT_EQ(b->members[0].key, (BackendKey{"/web", 0}));
}

TEST(RouteTable, BlueGreenAppsShareTheSlotAndTheOlderDrains) {
  auto table = build({
      app("/shop-blue", {SpecBuilder("/shop-blue", 10000)
                             .vhost("shop.test")
                             .deployment("/shop", "2026-12-01T10:00:00Z")}),
      app("/shop-green", {SpecBuilder("/shop-green", 10001)
                              .vhost("shop.test")
                              .deployment("/shop", "2026-12-01T11:00:00Z")}),
      app("/intruder", {SpecBuilder("/intruder", 10002).vhost("shop.test").weight(-1)}),
  });
  const RouteTarget* target = table->lookupHttp("shop.test", "/");
  ASSERT_NE(target, nullptr);
  ASSERT_EQ(target->members.size(), 2u) << "the other app on the vhost is not in the group";
  EXPECT_EQ(target->members[0].key.appId, "/shop-blue");
  EXPECT_TRUE(target->members[0].draining);
  EXPECT_EQ(target->members[1].key.appId, "/shop-green");
  EXPECT_FALSE(target->members[1].draining);
  // Once blue is gone, green alone serves and does not drain.
  auto after = build({app("/shop-blue", {})}, *table);
  target = after->lookupHttp("shop.test", "/");
  ASSERT_EQ(target->members.size(), 1u);
  EXPECT_EQ(target->members[0].key.appId, "/shop-green");
  EXPECT_FALSE(target->members[0].draining);
}

TEST(RouteTable, ManyPathsOnOneHostPickTheLongest) {
  std::vector<AppRoutes> apps;
  for (int i = 0; i < 200; ++i) {
    std::string id = "/svc" + std::to_string(i);
    apps.push_back(
        app(id, {SpecBuilder(id, 10000 + i).vhost("api.test").path("/svc" + std::to_string(i))}));
  }
  auto table = build(apps);
  EXPECT_EQ(served(*table, "api.test", "/svc1"), "/svc1");
  EXPECT_EQ(served(*table, "api.test", "/svc19/x"), "/svc19");
  EXPECT_EQ(served(*table, "api.test", "/svc199"), "/svc199");
  EXPECT_EQ(served(*table, "api.test", "/svc"), "");
}

// Work counting: changing one app costs the same in a table of 1k and of
// 20k routes (a few persistent-map nodes and one slot per key it touches;
// bench/micro_bench BM_RouteUpdateOneApp shows the same up to 100k).
TEST(RouteTable, UpdateCostFollowsTheChangeNotTheTable) {
  auto measure = [](int apps) {
    std::vector<AppRoutes> all;
    for (int i = 0; i < apps; ++i) {
      std::string id = "/app" + std::to_string(i);
      all.push_back(
          app(id, {SpecBuilder(id, 10000 + i % 50000).vhost("h" + std::to_string(i) + ".test")}));
    }
    auto table = build(all);
    std::string id = "/app" + std::to_string(apps / 2);
    auto next =
        build({app(id, {SpecBuilder(id, 10000 + (apps / 2) % 50000).vhost("moved.test")})}, *table);
    EXPECT_EQ(served(*next, "moved.test", "/"), id);
    EXPECT_EQ(served(*next, "h" + std::to_string(apps / 2) + ".test", "/"), "");
    return next->buildStats();
  };
  auto small = measure(1'000);
  auto large = measure(20'000);
  EXPECT_EQ(small.changedApps, 1u);
  EXPECT_EQ(small.rebuiltSlots, large.rebuiltSlots);
  // Path copying: at most ~5 levels per key, 4 keys (two hosts, port, app).
  EXPECT_LE(large.copiedNodes, 4u * 6u);
  EXPECT_LE(large.copiedNodes, small.copiedNodes + 8)
      << small.copiedNodes << " vs " << large.copiedNodes;
}

// The changes of one update apply in order, also to an app listed twice and
// to a service port many apps share (finished once, after the last change).
TEST(RouteTable, AnAppChangedTwiceInOneUpdateEndsWithItsLastRoutes) {
  auto v1 = build({
      app("/a", {SpecBuilder("/a", 10001).vhost("a.test")}),
      app("/b", {SpecBuilder("/b", 10001).vhost("b.test")}),
  });
  ASSERT_EQ(v1->lookupPort(10001)->spec->appId, "/a");
  auto v2 = build(
      {
          app("/a", {SpecBuilder("/a", 10002).vhost("a.test")}),
          app("/c", {SpecBuilder("/c", 10001).vhost("c.test")}),
          app("/a", {SpecBuilder("/a", 10003).vhost("a2.test")}),
          app("/c", {}),
          app("/0", {SpecBuilder("/0", 10001).vhost("zero.test")}),
      },
      *v1);
  EXPECT_EQ(v2->lookupPort(10002), nullptr) << "the first change of /a was replaced";
  ASSERT_NE(v2->lookupPort(10003), nullptr);
  EXPECT_EQ(v2->lookupPort(10003)->spec->appId, "/a");
  ASSERT_NE(v2->lookupPort(10001), nullptr);
  EXPECT_EQ(v2->lookupPort(10001)->spec->appId, "/0") << "lowest id first among equals";
  EXPECT_EQ(served(*v2, "a2.test", "/"), "/a");
  EXPECT_EQ(served(*v2, "a.test", "/"), "");
  EXPECT_EQ(served(*v2, "c.test", "/"), "");
  auto v3 = build({app("/0", {}), app("/b", {})}, *v2);
  EXPECT_EQ(v3->lookupPort(10001), nullptr) << "nobody left on the shared port";
  EXPECT_EQ(v2->lookupPort(10001)->spec->appId, "/0") << "old tables are untouched";
}

}  // namespace
}  // namespace corral::proxy
