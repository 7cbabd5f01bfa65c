// The routing table at the size the proxy is sized for (issue 8, "Scale"):
// 100,000 vhost/path routes plus 1,000 service ports, built in one update
// as the first snapshot is, then changed one app at a time. Correctness
// only (every route resolves to its own backend, longest prefix, removal,
// sharing); timings are bench/proxy_scale.py's job.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "proxy/route_table.h"

namespace corral::proxy {
namespace {

constexpr int kApps = 25'000;  // x 2 vhosts x 2 paths = 100,000 routes
constexpr int kServiceApps = 1'000;
constexpr int kSharedVhostPort = 20'000;  // the vhost apps' one service port
constexpr int kFirstServicePort = 21'000;

std::string appId(int i) { return "/scale/app" + std::to_string(i); }
std::string hostA(int i) { return "a" + std::to_string(i) + ".scale.test"; }
std::string hostB(int i) { return "b" + std::to_string(i) + ".scale.test"; }
std::string tcpId(int i) { return "/scale/tcp" + std::to_string(i); }
// Every 10th app has a deeper path on its vhost "a", served by another app.
bool hasDeep(int i) { return i % 10 == 0; }
std::string deepId(int i) { return "/scale/deep" + std::to_string(i); }

RouteSpecPtr vhostSpec(const std::string& id, std::vector<std::string> hosts,
                       std::vector<std::string> paths) {
  auto spec = std::make_shared<conf::RouteSpec>();
  spec->appId = id;
  spec->servicePort = kSharedVhostPort;
  spec->mode = conf::RouteMode::kHttp;
  spec->vhosts = std::move(hosts);
  spec->paths = std::move(paths);
  return spec;
}

RouteSpecPtr portSpec(const std::string& id, int port, conf::RouteMode mode) {
  auto spec = std::make_shared<conf::RouteSpec>();
  spec->appId = id;
  spec->servicePort = port;
  spec->mode = mode;
  return spec;
}

std::vector<AppRoutes> fullCatalog() {
  std::vector<AppRoutes> apps;
  apps.reserve(kApps + kApps / 10 + kServiceApps);
  for (int i = 0; i < kApps; ++i) {
    apps.push_back(
        AppRoutes{appId(i), {vhostSpec(appId(i), {hostA(i), hostB(i)}, {"/api", "/web"})}});
    if (hasDeep(i)) {
      apps.push_back(AppRoutes{deepId(i), {vhostSpec(deepId(i), {hostA(i)}, {"/api/v2"})}});
    }
  }
  for (int i = 0; i < kServiceApps; ++i) {
    auto mode = i % 2 ? conf::RouteMode::kHttp : conf::RouteMode::kTcp;
    apps.push_back(AppRoutes{tcpId(i), {portSpec(tcpId(i), kFirstServicePort + i, mode)}});
  }
  return apps;
}

std::string served(const RouteTable& table, std::string_view host, std::string_view path) {
  const RouteTarget* target = table.lookupHttp(host, path);
  return target ? target->members.at(0).key.appId : "";
}

class RouteTableScale : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<AppRoutes> apps = fullCatalog();
    table_ = new std::shared_ptr<const RouteTable>(RouteTable::update(RouteTable(), apps, 1));
  }
  static void TearDownTestSuite() {
    delete table_;
    table_ = nullptr;
  }
  static const RouteTable& table() { return **table_; }
  static std::shared_ptr<const RouteTable>* table_;
};
std::shared_ptr<const RouteTable>* RouteTableScale::table_ = nullptr;

TEST_F(RouteTableScale, EveryRouteResolvesToItsApp) {
  const RouteTable& t = table();
  EXPECT_EQ(t.appCount(), static_cast<size_t>(kApps + kApps / 10 + kServiceApps));
  EXPECT_EQ(t.hostCount(), static_cast<size_t>(2 * kApps));
  EXPECT_EQ(t.portCount(), static_cast<size_t>(1 + kServiceApps));
  size_t checked = 0;
  for (int i = 0; i < kApps; ++i) {
    for (const std::string& host : {hostA(i), hostB(i)}) {
      for (const char* path : {"/api", "/web"}) {
        ASSERT_EQ(served(t, host, path), appId(i)) << host << path;
        const RouteTarget* target = t.lookupHttp(host, path);
        ASSERT_EQ(target->members.size(), 1u);
        EXPECT_EQ(target->members[0].key.portIndex, 0);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 100'000u);
}

TEST_F(RouteTableScale, LongestPathPrefixWinsOnEveryHost) {
  const RouteTable& t = table();
  for (int i = 0; i < kApps; ++i) {
    if (hasDeep(i)) {
      ASSERT_EQ(served(t, hostA(i), "/api/v2/users"), deepId(i));
      ASSERT_EQ(served(t, hostA(i), "/api/v2"), deepId(i));
      ASSERT_EQ(served(t, hostB(i), "/api/v2/users"), appId(i)) << "the deep path is on a only";
    }
    ASSERT_EQ(served(t, hostA(i), "/api/v1/users?q=/api/v2"), appId(i));
    ASSERT_EQ(served(t, hostA(i), "/web/static/x.js"), appId(i));
    ASSERT_EQ(served(t, hostA(i), "/other"), "") << "paths only: nothing for other paths";
    ASSERT_EQ(served(t, "c" + std::to_string(i) + ".scale.test", "/api"), "");
  }
}

TEST_F(RouteTableScale, EveryServicePortResolves) {
  const RouteTable& t = table();
  for (int i = 0; i < kServiceApps; ++i) {
    const RouteTarget* target = t.lookupPort(kFirstServicePort + i);
    ASSERT_NE(target, nullptr) << i;
    EXPECT_EQ(target->members.at(0).key.appId, tcpId(i));
    EXPECT_EQ(target->spec->mode, i % 2 ? conf::RouteMode::kHttp : conf::RouteMode::kTcp);
  }
  // The vhost apps share one port: its slot has one winner (the lowest id).
  const RouteTarget* shared = t.lookupPort(kSharedVhostPort);
  ASSERT_NE(shared, nullptr);
  EXPECT_EQ(shared->members.at(0).key.appId, "/scale/app0");
  EXPECT_EQ(t.lookupPort(kFirstServicePort + kServiceApps), nullptr);
  size_t ports = 0;
  t.forEachPort([&](int, const RouteTarget&) { ++ports; });
  EXPECT_EQ(ports, static_cast<size_t>(1 + kServiceApps));
}

TEST_F(RouteTableScale, OneAppChangeTouchesOnlyThatApp) {
  const RouteTable& before = table();
  const int changed = kApps / 2 + 7;
  std::vector<AppRoutes> change{
      AppRoutes{appId(changed), {vhostSpec(appId(changed), {hostA(changed)}, {"/shop"})}}};
  auto after = RouteTable::update(before, change, 2);
  const RouteTable::BuildStats& stats = after->buildStats();
  EXPECT_EQ(stats.changedApps, 1u);
  // Its two hosts' four slots went, one slot came, and the shared port was re-ranked.
  EXPECT_LE(stats.rebuiltSlots, 6u);
  // Path copies only: a handful of trie levels per touched key, whatever the size.
  EXPECT_LE(stats.copiedNodes, 40u);
  EXPECT_EQ(served(*after, hostA(changed), "/shop/cart"), appId(changed));
  EXPECT_EQ(served(*after, hostA(changed), "/api"), "");
  EXPECT_EQ(served(*after, hostB(changed), "/api"), "") << "host b is gone";
  EXPECT_EQ(after->hostCount(), before.hostCount() - 1);
  EXPECT_EQ(served(before, hostA(changed), "/api"), appId(changed)) << "the old table is untouched";

  // Every other route is the very same object in both tables: nothing else
  // was copied or rebuilt (a dense sample, plus the neighbours of the change).
  std::mt19937 rng(8);
  std::set<int> sample{changed - 1, changed + 1, 0, kApps - 1};
  while (sample.size() < 5'000) sample.insert(static_cast<int>(rng() % kApps));
  for (int i : sample) {
    if (i == changed) continue;
    for (const std::string& host : {hostA(i), hostB(i)}) {
      ASSERT_EQ(before.lookupHttp(host, "/web"), after->lookupHttp(host, "/web")) << host;
    }
  }
  for (int i = 0; i < kServiceApps; ++i) {
    ASSERT_EQ(before.lookupPort(kFirstServicePort + i), after->lookupPort(kFirstServicePort + i));
  }
}

TEST_F(RouteTableScale, RemovingAppsRemovesExactlyTheirRoutes) {
  std::mt19937 rng(88);
  std::set<int> gone;
  while (gone.size() < 2'000) gone.insert(static_cast<int>(rng() % kApps));
  std::set<int> goneTcp;
  while (goneTcp.size() < 100) goneTcp.insert(static_cast<int>(rng() % kServiceApps));
  std::vector<AppRoutes> removals;
  for (int i : gone) removals.push_back(AppRoutes{appId(i), {}});
  for (int i : goneTcp) removals.push_back(AppRoutes{tcpId(i), {}});
  auto after = RouteTable::update(table(), removals, 3);
  EXPECT_EQ(after->appCount(), table().appCount() - gone.size() - goneTcp.size());
  for (int i = 0; i < kApps; ++i) {
    bool removed = gone.count(i) != 0;
    ASSERT_EQ(served(*after, hostB(i), "/api"), removed ? "" : appId(i)) << i;
    // The deep app stays on host a, so that host stays for its path.
    if (hasDeep(i)) {
      ASSERT_EQ(served(*after, hostA(i), "/api/v2/x"), deepId(i));
    }
    ASSERT_EQ(served(*after, hostA(i), "/web"), removed ? "" : appId(i)) << i;
  }
  for (int i = 0; i < kServiceApps; ++i) {
    const RouteTarget* target = after->lookupPort(kFirstServicePort + i);
    ASSERT_EQ(target == nullptr, goneTcp.count(i) != 0) << i;
  }
  // Removing everything leaves the empty table.
  std::vector<AppRoutes> all;
  for (const AppRoutes& a : fullCatalog()) all.push_back(AppRoutes{a.appId, {}});
  auto empty = RouteTable::update(*after, all, 4);
  EXPECT_EQ(empty->appCount(), 0u);
  EXPECT_EQ(empty->hostCount(), 0u);
  EXPECT_EQ(empty->portCount(), 0u);
  EXPECT_EQ(empty->lookupHttp(hostA(1), "/api"), nullptr);
}

}  // namespace
}  // namespace corral::proxy
