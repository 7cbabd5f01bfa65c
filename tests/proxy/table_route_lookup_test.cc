// TableRouteLookup: routes from a RouteTable, peers from the snapshot,
// balancer state per backend that survives new snapshots, the label
// settings carried into the RouteDecision.
#include "proxy/table_route_lookup.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "base/http_request_parser.h"
#include "base/loop.h"

namespace corral::proxy {
namespace {

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

std::shared_ptr<const conf::RouteSpec> httpSpec(const std::string& app, const std::string& host) {
  auto spec = std::make_shared<conf::RouteSpec>();
  spec->appId = app;
  spec->servicePort = 10000;
  spec->mode = conf::RouteMode::kHttp;
  spec->vhosts = {host};
  return spec;
}

PeerList peerList(const std::string& app, int count, int firstPort = 31000) {
  auto list = std::make_shared<std::vector<PeerInfo>>();
  for (int i = 0; i < count; ++i) {
    list->push_back(
        PeerInfo{app + ".task" + std::to_string(i) + ":" + std::to_string(firstPort + i), 1, false,
                 "127.0.0.1", firstPort + i});
  }
  return list;
}

int portOf(const Peer* peer) {
  return ntohs(reinterpret_cast<const sockaddr_in*>(&peer->address)->sin_port);
}

class TableRouteLookupTest : public ::testing::Test {
 protected:
  void publish(std::vector<std::shared_ptr<const conf::RouteSpec>> specs,
               std::map<BackendKey, PeerList> peers) {
    std::vector<AppRoutes> apps;
    for (auto& spec : specs) apps.push_back(AppRoutes{spec->appId, {spec}});
    table_ = RouteTable::update(*table_, apps, table_->generation() + 1);
    auto snapshot = std::make_shared<RoutingSnapshot>();
    snapshot->table = table_;
    snapshot->peers = std::move(peers);
    lookup_.setSnapshot(snapshot);
  }
  // Picks for `head` and releases with `outcome`; the peer's port.
  int pickOnce(const http::RequestHead& head, PeerOutcome outcome = PeerOutcome::kOk,
               std::string* cookie = nullptr) {
    RouteDecision decision;
    if (!lookup_.lookup(head, &decision)) return -1;
    PickContext ctx;
    ctx.head = &head;
    ctx.clientIp = "10.1.2.3";
    ctx.setCookie = cookie;
    const Peer* peer = decision.picker->pick(ctx);
    if (peer == nullptr) return 0;
    int port = portOf(peer);
    decision.picker->release(*peer, outcome);
    return port;
  }

  Loop loop_;
  std::shared_ptr<const RouteTable> table_ = std::make_shared<RouteTable>();
  TableRouteLookup lookup_{loop_};
};

TEST_F(TableRouteLookupTest, RoutesByHostAndBalancesOverTheBackendsPeers) {
  publish({httpSpec("/shop", "shop.test")}, {{BackendKey{"/shop", 0}, peerList("shop", 3)}});
  std::map<int, int> seen;
  for (int i = 0; i < 9; ++i) ++seen[pickOnce(*get("shop.test", "/x"))];
  EXPECT_EQ(seen, (std::map<int, int>{{31000, 3}, {31001, 3}, {31002, 3}}));
  RouteDecision decision;
  EXPECT_FALSE(lookup_.lookup(*get("other.test", "/"), &decision));
}

TEST_F(TableRouteLookupTest, LabelSettingsReachTheDecision) {
  auto spec = std::make_shared<conf::RouteSpec>(*httpSpec("/api", "api.test"));
  spec->proxyPassPath = "/v1";
  spec->redirectToHttps = true;
  spec->useHsts = true;
  spec->allowedNetworks = {*conf::parseCidr("10.0.0.0/8")};
  spec->auth = conf::BasicAuth{"r", "u", "$6$x$y"};
  spec->retries = 1;
  spec->timeouts.connectMs = 250;
  spec->timeouts.serverMs = 9000;
  publish({spec}, {{BackendKey{"/api", 0}, peerList("api", 1)}});
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
  lookup_.forEachCounters([&](const BackendKey& key, const RouteCounters& counters) {
    EXPECT_EQ(key, (BackendKey{"/api", 0}));
    seen += counters.requests;
  });
  EXPECT_EQ(seen, 5u);
}

TEST_F(TableRouteLookupTest, PassiveHealthSurvivesANewSnapshot) {
  auto spec = httpSpec("/shop", "shop.test");
  publish({spec}, {{BackendKey{"/shop", 0}, peerList("shop", 2)}});
  // Fail 31000 until ejected (3 consecutive failures by default).
  int failures = 0;
  for (int i = 0; i < 10 && failures < 3; ++i) {
    auto head = get("shop.test", "/");
    RouteDecision d;
    ASSERT_TRUE(lookup_.lookup(*head, &d));
    PickContext ctx;
    ctx.head = &*head;
    const Peer* p = d.picker->pick(ctx);
    bool bad = portOf(p) == 31000;
    d.picker->release(*p, bad ? PeerOutcome::kConnectFailed : PeerOutcome::kOk);
    failures += bad;
  }
  ASSERT_EQ(failures, 3);
  // A new table and fresh (equal) peer lists: the ejection holds.
  publish({httpSpec("/shop", "shop.test")}, {{BackendKey{"/shop", 0}, peerList("shop", 2)}});
  for (int i = 0; i < 6; ++i) EXPECT_EQ(pickOnce(*get("shop.test", "/")), 31001);
  EXPECT_EQ(lookup_.pickerCount(), 1u);
  // A backend the snapshot no longer lists loses its state.
  publish({}, {});
  EXPECT_EQ(lookup_.pickerCount(), 0u);
}

TEST_F(TableRouteLookupTest, DrainingPeersGetNoNewRequests) {
  auto list = std::make_shared<std::vector<PeerInfo>>(*peerList("shop", 3));
  (*list)[0].draining = true;
  (*list)[2].draining = true;
  publish({httpSpec("/shop", "shop.test")}, {{BackendKey{"/shop", 0}, list}});
  for (int i = 0; i < 6; ++i) EXPECT_EQ(pickOnce(*get("shop.test", "/")), 31001);
}

TEST_F(TableRouteLookupTest, RetriesSkipPeersAlreadyTried) {
  publish({httpSpec("/shop", "shop.test")}, {{BackendKey{"/shop", 0}, peerList("shop", 2)}});
  auto head = get("shop.test", "/");
  RouteDecision d;
  ASSERT_TRUE(lookup_.lookup(*head, &d));
  uint64_t tried[2];
  PickContext ctx;
  ctx.head = &*head;
  ctx.tried = tried;
  const Peer* first = d.picker->pick(ctx);
  tried[0] = first->id;
  ctx.triedCount = 1;
  d.picker->release(*first, PeerOutcome::kConnectFailed);
  const Peer* second = d.picker->pick(ctx);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second->id, first->id);
  tried[1] = second->id;
  ctx.triedCount = 2;
  d.picker->release(*second, PeerOutcome::kConnectFailed);
  EXPECT_EQ(d.picker->pick(ctx), nullptr);
}

TEST_F(TableRouteLookupTest, StickyCookieIsSetThenFollowed) {
  auto spec = std::make_shared<conf::RouteSpec>(*httpSpec("/shop", "shop.test"));
  spec->sticky = true;
  publish({spec}, {{BackendKey{"/shop", 0}, peerList("shop", 3)}});
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

TEST_F(TableRouteLookupTest, ConsistentHashOnAHeaderOrCookie) {
  auto byHeader = std::make_shared<conf::RouteSpec>(*httpSpec("/h", "h.test"));
  byHeader->balance = conf::Balance{conf::BalanceAlgorithm::kHashHeader, "X-User"};
  auto byCookie = std::make_shared<conf::RouteSpec>(*httpSpec("/c", "c.test"));
  byCookie->balance = conf::Balance{conf::BalanceAlgorithm::kHashCookie, "session"};
  publish({byHeader, byCookie}, {{BackendKey{"/h", 0}, peerList("h", 5)},
                                 {BackendKey{"/c", 0}, peerList("c", 5, 32000)}});
  std::map<int, int> users;
  for (int user = 0; user < 20; ++user) {
    std::string u = "X-User: user" + std::to_string(user) + "\r\n";
    int port = pickOnce(*get("h.test", "/", u));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(pickOnce(*get("h.test", "/", u)), port);
    ++users[port];
    std::string c = "Cookie: session=s" + std::to_string(user) + "\r\n";
    int cport = pickOnce(*get("c.test", "/", c));
    EXPECT_EQ(pickOnce(*get("c.test", "/", c)), cport);
  }
  EXPECT_GT(users.size(), 1u);  // different keys spread
}

TEST_F(TableRouteLookupTest, PeersHeldAcrossASnapshotStayValid) {
  publish({httpSpec("/shop", "shop.test")}, {{BackendKey{"/shop", 0}, peerList("shop", 1)}});
  auto head = get("shop.test", "/");
  RouteDecision d;
  ASSERT_TRUE(lookup_.lookup(*head, &d));
  PickContext ctx;
  ctx.head = &*head;
  const Peer* held = d.picker->pick(ctx);
  // The task moves; the request in flight still sees where it went.
  publish({httpSpec("/shop", "shop.test")}, {{BackendKey{"/shop", 0}, peerList("shop", 1, 33000)}});
  EXPECT_EQ(pickOnce(*get("shop.test", "/")), 33000);  // re-listed
  publish({}, {});                                     // and the backend goes away entirely
  EXPECT_EQ(lookup_.pickerCount(), 0u);
  EXPECT_EQ(portOf(held), 31000);
  d.picker->release(*held, PeerOutcome::kOk);
  d = RouteDecision();
}

}  // namespace
}  // namespace corral::proxy
