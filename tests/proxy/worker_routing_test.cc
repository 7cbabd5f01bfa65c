// WorkerRouting as the HTTP sessions use it: routes from the snapshot's
// table, peers from its backend sets, balancer state per backend that
// survives new snapshots, the label settings carried into the RouteDecision.
#include "proxy/worker_routing.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "base/http_request_parser.h"
#include "base/loop.h"
#include "tests/proxy/test_routing.h"

namespace corral::proxy {
namespace {

using test::httpSpec;
using test::portOf;

// A parsed request head.
class Head {
 public:
  explicit Head(const std::string& text) : parser_(http::RequestStreamParser::Limits{8192}) {
    size_t used = 0;
    EXPECT_EQ(parser_.feed(text, &used), http::RequestStreamParser::Event::kHead);
  }
  const http::RequestHead& operator*() const { return parser_.head(); }

 private:
  http::RequestStreamParser parser_;
};

Head get(const std::string& host, const std::string& target, const std::string& extra = "") {
  return Head("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n");
}

const BackendKey kShop{"/shop", 0};

class WorkerRoutingTest : public ::testing::Test {
 protected:
  void publish(std::vector<RouteSpecPtr> specs, std::vector<std::shared_ptr<BackendSet>> sets) {
    routing_.install(maker_.publish(std::move(specs), std::move(sets)));
  }
  // Routes `head` into *decision and picks a peer for it (null: no route
  // or no peer); the caller releases it.
  const Peer* pick(const http::RequestHead& head, RouteDecision* decision,
                   std::string* cookie = nullptr) {
    if (!lookup_.lookup(head, decision)) return nullptr;
    PickContext ctx;
    ctx.head = &head;
    ctx.clientIp = "10.1.2.3";
    ctx.setCookie = cookie;
    return decision->picker->pick(ctx);
  }
  // Picks for `head` and releases with `outcome`; the peer's port (-1: no
  // route, 0: no peer).
  int pickOnce(const http::RequestHead& head, PeerOutcome outcome = PeerOutcome::kOk,
               std::string* cookie = nullptr) {
    RouteDecision decision;
    const Peer* peer = pick(head, &decision, cookie);
    if (peer == nullptr) return decision.picker == nullptr ? -1 : 0;
    int port = portOf(peer);
    decision.picker->release(*peer, outcome);
    return port;
  }

  Loop loop_;
  test::SnapshotMaker maker_;
  WorkerRouting routing_{loop_, 0};
  FrontendLookup lookup_{routing_};
};

TEST_F(WorkerRoutingTest, RoutesByHostAndBalancesOverTheBackendsPeers) {
  publish({httpSpec("/shop", "shop.test")}, {maker_.backend(kShop, 3, 31000)});
  std::map<int, int> seen;
  for (int i = 0; i < 9; ++i) ++seen[pickOnce(*get("shop.test", "/x"))];
  EXPECT_EQ(seen, (std::map<int, int>{{31000, 3}, {31001, 3}, {31002, 3}}));
  RouteDecision decision;
  EXPECT_FALSE(lookup_.lookup(*get("other.test", "/"), &decision));
}

TEST_F(WorkerRoutingTest, LabelSettingsReachTheDecision) {
  auto spec = httpSpec("/api", "api.test");
  spec->proxyPassPath = "/v1";
  spec->redirectToHttps = true;
  spec->useHsts = true;
  spec->allowedNetworks = {*conf::parseCidr("10.0.0.0/8")};
  spec->auth = conf::BasicAuth{"r", "u", "$6$x$y"};
  spec->retries = 1;
  spec->timeouts.connectMs = 250;
  spec->timeouts.serverMs = 9000;
  publish({spec}, {maker_.backend(BackendKey{"/api", 0}, 1, 31000)});
  RouteDecision d;
  ASSERT_TRUE(lookup_.lookup(*get("api.test", "/v1/users?q=1"), &d));
  EXPECT_EQ(d.stripPrefix, "/v1");
  EXPECT_EQ(d.hostRewrite, "api.test");
  EXPECT_EQ(d.flags, RouteDecision::kRedirectToHttps | RouteDecision::kHsts);
  ASSERT_NE(d.allowedNetworks, nullptr);
  EXPECT_EQ(d.allowedNetworks->size(), 1u);
  ASSERT_NE(d.auth, nullptr);
  EXPECT_EQ(d.auth->user, "u");
  EXPECT_EQ(d.maxConnectAttempts, 2);
  EXPECT_EQ(d.connectTimeoutMs, 250u);
  EXPECT_EQ(d.responseTimeoutMs, 9000u);
  EXPECT_NE(d.keepAlive, nullptr);
  EXPECT_EQ(d.name, "/api:0");
  ASSERT_NE(d.counters, nullptr);
  d.counters->requests = 5;
  uint64_t seen = 0;
  routing_.forEachCounters([&](const BackendKey& key, const RouteCounters& counters) {
    EXPECT_EQ(key, (BackendKey{"/api", 0}));
    seen += counters.requests;
  });
  EXPECT_EQ(seen, 5u);
}

TEST_F(WorkerRoutingTest, PassiveHealthSurvivesANewSnapshot) {
  publish({httpSpec("/shop", "shop.test")}, {maker_.backend(kShop, 2, 31000)});
  // Fail 31000 until ejected (3 consecutive failures by default).
  int failures = 0;
  for (int i = 0; i < 10 && failures < 3; ++i) {
    RouteDecision d;
    const Peer* p = pick(*get("shop.test", "/"), &d);
    ASSERT_NE(p, nullptr);
    bool bad = portOf(p) == 31000;
    d.picker->release(*p, bad ? PeerOutcome::kConnectFailed : PeerOutcome::kOk);
    failures += bad;
  }
  ASSERT_EQ(failures, 3);
  // A new table and a fresh (equal) backend set: the ejection holds.
  publish({httpSpec("/shop", "shop.test")}, {maker_.backend(kShop, 2, 31000)});
  for (int i = 0; i < 6; ++i) EXPECT_EQ(pickOnce(*get("shop.test", "/")), 31001);
  EXPECT_EQ(routing_.pickerCount(), 1u);
  EXPECT_EQ(maker_.counters(kShop).failures.load(), 3u);
  // A backend the snapshot no longer lists loses its state.
  publish({}, {});
  EXPECT_EQ(routing_.pickerCount(), 0u);
}

TEST_F(WorkerRoutingTest, DrainingPeersGetNoNewRequests) {
  auto set = maker_.backend(kShop, 3, 31000);
  set->infos[0].draining = true;
  set->infos[2].draining = true;
  publish({httpSpec("/shop", "shop.test")}, {set});
  for (int i = 0; i < 6; ++i) EXPECT_EQ(pickOnce(*get("shop.test", "/")), 31001);
}

TEST_F(WorkerRoutingTest, StickyCookieIsSetThenFollowed) {
  auto spec = httpSpec("/shop", "shop.test");
  spec->sticky = true;
  publish({spec}, {maker_.backend(kShop, 3, 31000)});
  std::string cookie;
  int first = pickOnce(*get("shop.test", "/"), PeerOutcome::kOk, &cookie);
  ASSERT_FALSE(cookie.empty());
  for (int i = 0; i < 5; ++i) {
    std::string again;
    EXPECT_EQ(
        pickOnce(*get("shop.test", "/", "Cookie: a=b; mesosphere_server_id=" + cookie + "\r\n"),
                 PeerOutcome::kOk, &again),
        first);
    EXPECT_TRUE(again.empty());  // the client has it already
  }
}

TEST_F(WorkerRoutingTest, ConsistentHashOnAHeaderOrCookie) {
  auto byHeader = httpSpec("/h", "h.test");
  byHeader->balance = conf::Balance{conf::BalanceAlgorithm::kHashHeader, "X-User"};
  auto byCookie = httpSpec("/c", "c.test");
  byCookie->servicePort = 10001;
  byCookie->balance = conf::Balance{conf::BalanceAlgorithm::kHashCookie, "session"};
  publish({byHeader, byCookie}, {maker_.backend(BackendKey{"/h", 0}, 5, 31000),
                                 maker_.backend(BackendKey{"/c", 0}, 5, 32000)});
  std::map<int, int> users;
  for (int user = 0; user < 20; ++user) {
    std::string u = "X-User: user" + std::to_string(user) + "\r\n";
    int port = pickOnce(*get("h.test", "/", u));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(pickOnce(*get("h.test", "/", u)), port);
    ++users[port];
    std::string c = "Cookie: session=s" + std::to_string(user) + "\r\n";
    int cport = pickOnce(*get("c.test", "/", c));
    EXPECT_GE(cport, 32000);
    EXPECT_EQ(pickOnce(*get("c.test", "/", c)), cport);
  }
  EXPECT_GT(users.size(), 1u);  // different keys spread
}

TEST_F(WorkerRoutingTest, PeersHeldAcrossASnapshotStayValid) {
  publish({httpSpec("/shop", "shop.test")}, {maker_.backend(kShop, 1, 31000)});
  RouteDecision d;
  const Peer* held = pick(*get("shop.test", "/"), &d);
  ASSERT_NE(held, nullptr);
  // The task moves; the request in flight still sees where it went.
  publish({httpSpec("/shop", "shop.test")}, {maker_.backend(kShop, 1, 33000)});
  EXPECT_EQ(pickOnce(*get("shop.test", "/")), 33000);  // re-listed
  publish({}, {});                                     // and the backend goes away entirely
  EXPECT_EQ(routing_.pickerCount(), 0u);
  EXPECT_EQ(pickOnce(*get("shop.test", "/")), -1);
  EXPECT_EQ(portOf(held), 31000);
  d.picker->release(*held, PeerOutcome::kOk);
  EXPECT_EQ(maker_.counters(kShop).active.load(), 0);
  d = RouteDecision();
}

TEST_F(WorkerRoutingTest, APeerThatLeftItsRouteIsReportedOnceNoRequestHoldsIt) {
  // The worker closes its idle connections to such a peer (the pools'
  // forget()); one still in use is reported when its request ends.
  std::vector<uint64_t> gone;
  routing_.setOnPeerGone([&](uint64_t id) { gone.push_back(id); });
  publish({httpSpec("/shop", "shop.test")}, {maker_.backend(kShop, 1, 31000)});
  RouteDecision d;
  const Peer* held = pick(*get("shop.test", "/"), &d);
  ASSERT_NE(held, nullptr);
  uint64_t heldId = held->id;
  publish({httpSpec("/shop", "shop.test")}, {maker_.backend(kShop, 1, 33000)});
  RouteDecision d2;
  const Peer* second = pick(*get("shop.test", "/"), &d2);
  ASSERT_NE(second, nullptr);
  uint64_t secondId = second->id;
  EXPECT_NE(secondId, heldId);
  d2.picker->release(*second, PeerOutcome::kOk);
  EXPECT_TRUE(gone.empty());  // 31000 still serves the request that picked it
  d.picker->release(*held, PeerOutcome::kOk);
  EXPECT_EQ(gone, std::vector<uint64_t>{heldId});
  // A peer no request holds is reported as its route learns it left.
  publish({httpSpec("/shop", "shop.test")}, {maker_.backend(kShop, 1, 34000)});
  EXPECT_EQ(pickOnce(*get("shop.test", "/")), 34000);
  EXPECT_EQ(gone, (std::vector<uint64_t>{heldId, secondId}));
  d = RouteDecision();
  d2 = RouteDecision();
}

TEST_F(WorkerRoutingTest, APeerStillListedByAnotherPickerIsNotReported) {
  // Two pickers list green's task (a blue/green route and green's own);
  // when the pair's route lets it go, green's own still routes to it.
  const BackendKey blue{"/blue", 0};
  const BackendKey green{"/green", 0};
  auto blueSet = maker_.backend(blue, 1, 31000);
  auto greenSet = maker_.backend(green, 1, 32000);
  auto snapshot = maker_.publish({httpSpec("/blue", "b.test"), httpSpec("/green", "g.test")},
                                 {blueSet, greenSet});
  PeerRefs refs;
  std::vector<uint64_t> gone;
  refs.setOnGone([&](uint64_t id) { gone.push_back(id); });
  RouteTarget pair{httpSpec("/blue", "b.test"), {RouteMember{blue}, RouteMember{green}}};
  RouteTarget own{httpSpec("/green", "g.test"), {RouteMember{green}}};
  auto movedGreen = maker_.backend(green, 1, 33000);
  auto later = maker_.publish({httpSpec("/blue", "b.test"), httpSpec("/green", "g.test")},
                              {blueSet, movedGreen});
  {
    BackendPicker pairPicker(loop_, pair, *snapshot, 1, &refs);
    BackendPicker ownPicker(loop_, own, *snapshot, 2, &refs);
    EXPECT_EQ(refs.size(), 2u);
    pairPicker.sync(RouteTarget{pair.spec, {RouteMember{blue}}}, *snapshot);
    EXPECT_TRUE(gone.empty());    // green's own picker still lists its task
    ownPicker.sync(own, *later);  // green's task moved: listed nowhere now
    EXPECT_EQ(gone, std::vector<uint64_t>{greenSet->peers[0].id});
  }
  // The pickers ended: their tasks are listed nowhere either.
  EXPECT_EQ(gone.size(), 3u);
  EXPECT_EQ(refs.size(), 0u);
}

// A snapshot install does bounded work however many routes this worker has
// served: the pickers of gone ports are swept kSweepPerInstall at a time,
// resuming where the last install stopped, until none is left.
TEST_F(WorkerRoutingTest, InstallSweepsGonePickersABoundedNumberAtATime) {
  constexpr size_t kRoutes = 3 * WorkerRouting::kSweepPerInstall + 10;
  std::vector<RouteSpecPtr> specs;
  std::vector<std::shared_ptr<BackendSet>> sets;
  for (size_t i = 0; i < kRoutes; ++i) {
    std::string id = "/app" + std::to_string(i);
    specs.push_back(httpSpec(id, id.substr(1) + ".test"));
    sets.push_back(maker_.backend(BackendKey{id, 0}, 1, 31000));
  }
  publish(specs, sets);
  for (size_t i = 0; i < kRoutes; ++i) {
    ASSERT_EQ(pickOnce(*get("app" + std::to_string(i) + ".test", "/")), 31000) << i;
  }
  ASSERT_EQ(routing_.pickerCount(), kRoutes);
  // Each publish copies a bounded number of the routes served since.
  ASSERT_EQ(routing_.statsQueued(), kRoutes);
  routing_.publishRouteStats();
  EXPECT_EQ(routing_.routeStats().size(), WorkerRouting::kStatsPerPublish);
  EXPECT_EQ(routing_.statsQueued(), kRoutes - WorkerRouting::kStatsPerPublish);
  while (routing_.statsQueued() > 0) routing_.publishRouteStats();
  EXPECT_EQ(routing_.routeStats().size(), kRoutes);

  // Half the apps go: the first install looks at kSweepPerInstall pickers only.
  std::vector<RouteSpecPtr> half(specs.begin(), specs.begin() + kRoutes / 2);
  std::vector<std::shared_ptr<BackendSet>> halfSets(sets.begin(), sets.begin() + kRoutes / 2);
  publish(half, halfSets);
  EXPECT_GT(routing_.pickerCount(), kRoutes / 2);
  EXPECT_GE(routing_.pickerCount(), kRoutes - WorkerRouting::kSweepPerInstall);
  // Staying routes keep their picker (and balancer state) throughout.
  for (int round = 0; round < 4; ++round) publish(half, halfSets);
  EXPECT_EQ(routing_.pickerCount(), kRoutes / 2);
  routing_.publishRouteStats();
  auto stats = routing_.routeStats();
  EXPECT_EQ(stats.size(), kRoutes / 2) << "gone routes leave /stats";
  EXPECT_EQ(stats.at(BackendKey{"/app0", 0}).requests, 0u) << "picks alone are no exchanges";
  EXPECT_EQ(pickOnce(*get("app0.test", "/")), 31000);
  EXPECT_EQ(pickOnce(*get("app" + std::to_string(kRoutes - 1) + ".test", "/")), -1);
}

}  // namespace
}  // namespace corral::proxy
