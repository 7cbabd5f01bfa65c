#include "proxy/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace corral::proxy {
namespace {

using conf::Balance;
using conf::BalanceAlgorithm;

std::vector<PeerInfo> peers(int count, int weight = 1) {
  std::vector<PeerInfo> out;
  for (int i = 0; i < count; ++i)
    out.push_back(PeerInfo{"task-" + std::to_string(i) + ":31000", weight, false, "", 0});
  return out;
}

Balancer make(BalanceAlgorithm algorithm, const std::vector<PeerInfo>& list, bool sticky = false,
              std::string key = {}) {
  Balancer balancer(Balance{algorithm, std::move(key)}, sticky, PassiveHealth{}, 42);
  balancer.setPeers(list);
  return balancer;
}

// Picks and immediately releases `n` times; counts per peer id.
std::map<std::string, int> spread(Balancer& balancer, int n, PickRequest request = {}) {
  std::map<std::string, int> counts;
  for (int i = 0; i < n; ++i) {
    auto pick = balancer.get(request, 0);
    EXPECT_TRUE(pick);
    counts[balancer.peerId(pick->index)]++;
    balancer.release(*pick, Outcome::kSuccess, 0);
  }
  return counts;
}

TEST(Balancer, NoPeersNoPick) {
  auto b = make(BalanceAlgorithm::kRoundRobin, {});
  EXPECT_FALSE(b.get({}, 0));
}

TEST(Balancer, SmoothWeightedRoundRobin) {
  auto b = make(BalanceAlgorithm::kRoundRobin,
                {{"a", 5, false, "", 0}, {"b", 1, false, "", 0}, {"c", 1, false, "", 0}});
  std::string order;
  for (int i = 0; i < 7; ++i) {
    auto pick = b.get({}, 0);
    order += b.peerId(pick->index);
    b.release(*pick, Outcome::kSuccess, 0);
  }
  EXPECT_EQ(order, "aabacaa") << "nginx's smooth sequence, no bursts of b or c";
  auto even = make(BalanceAlgorithm::kRoundRobin, peers(4));
  for (auto [id, count] : spread(even, 400)) EXPECT_EQ(count, 100) << id;
}

TEST(Balancer, LeastConnPrefersIdlePeers) {
  auto b = make(BalanceAlgorithm::kLeastConn, peers(3));
  // Hold two picks open: the third must go to the remaining idle peer.
  auto p1 = b.get({}, 0);
  auto p2 = b.get({}, 0);
  auto p3 = b.get({}, 0);
  EXPECT_NE(p1->index, p2->index);
  EXPECT_NE(p3->index, p1->index);
  EXPECT_NE(p3->index, p2->index);
  b.release(*p2, Outcome::kSuccess, 0);
  auto p4 = b.get({}, 0);
  EXPECT_EQ(p4->index, p2->index) << "the only peer with 0 active";
  // With nothing open, equal peers share evenly.
  auto fresh = make(BalanceAlgorithm::kLeastConn, peers(4));
  for (auto [id, count] : spread(fresh, 400)) EXPECT_EQ(count, 100) << id;
}

TEST(Balancer, LeastConnHonoursWeight) {
  auto b =
      make(BalanceAlgorithm::kLeastConn, {{"big", 3, false, "", 0}, {"small", 1, false, "", 0}});
  std::map<std::string, int> open;
  for (int i = 0; i < 8; ++i) open[b.peerId(b.get({}, 0)->index)]++;
  EXPECT_EQ(open["big"], 6);
  EXPECT_EQ(open["small"], 2);
}

TEST(Balancer, RandomTwoChoicesAvoidsTheLoadedPeer) {
  auto b = make(BalanceAlgorithm::kRandomTwo, peers(2));
  auto held = b.get({}, 0);
  for (int i = 0; i < 50; ++i) {
    auto pick = b.get({}, 0);
    EXPECT_NE(pick->index, held->index) << "two peers: the idle one always wins";
    b.release(*pick, Outcome::kSuccess, 0);
  }
  auto many = make(BalanceAlgorithm::kRandomTwo, peers(5));
  auto counts = spread(many, 5000);
  ASSERT_EQ(counts.size(), 5u);
  for (auto [id, count] : counts) {
    EXPECT_GT(count, 700) << id;
    EXPECT_LT(count, 1300) << id;
  }
}

TEST(Balancer, SourceHashIsStablePerClient) {
  auto b = make(BalanceAlgorithm::kSource, peers(5));
  std::map<std::string, int> used;
  for (int client = 0; client < 200; ++client) {
    PickRequest request{hashBytes("10.0.0." + std::to_string(client)), {}, {}};
    auto first = b.get(request, 0);
    b.release(*first, Outcome::kSuccess, 0);
    for (int again = 0; again < 3; ++again) {
      auto pick = b.get(request, 0);
      EXPECT_EQ(pick->index, first->index);
      b.release(*pick, Outcome::kSuccess, 0);
    }
    used[b.peerId(first->index)]++;
  }
  EXPECT_EQ(used.size(), 5u) << "clients spread over every peer";
  for (auto [id, count] : used) EXPECT_GT(count, 15) << id;
}

// Consistent hashing: removing one of ten peers moves its keys and hardly any
// other; adding it back restores the original owners.
TEST(Balancer, ConsistentHashMovesFewKeys) {
  auto list = peers(10);
  auto b = make(BalanceAlgorithm::kHashHeader, list, false, "X-User");
  constexpr int kKeys = 10'000;
  std::vector<std::string> before(kKeys);
  for (int k = 0; k < kKeys; ++k) {
    std::string user = "user-" + std::to_string(k);
    auto pick = b.get(PickRequest{0, user, {}}, 0);
    before[k] = b.peerId(pick->index);
    b.release(*pick, Outcome::kSuccess, 0);
  }
  std::string removed = list[3].id;
  list.erase(list.begin() + 3);
  b.setPeers(list);
  int movedOthers = 0, movedTotal = 0;
  for (int k = 0; k < kKeys; ++k) {
    std::string user = "user-" + std::to_string(k);
    auto pick = b.get(PickRequest{0, user, {}}, 0);
    std::string now = b.peerId(pick->index);
    b.release(*pick, Outcome::kSuccess, 0);
    if (now != before[k]) {
      ++movedTotal;
      if (before[k] != removed) ++movedOthers;
    }
  }
  EXPECT_GT(movedTotal, kKeys / 20) << "the removed peer's keys moved";
  EXPECT_LT(movedTotal, kKeys * 16 / 100) << "about 1/10 of the keys move, not all";
  EXPECT_LT(movedOthers, kKeys * 3 / 100) << "keys of the other peers stay";
  // Without the key the pick still succeeds (round robin).
  EXPECT_TRUE(b.get(PickRequest{}, 0));
}

TEST(Balancer, CookieHashUsesTheValueGiven) {
  auto b = make(BalanceAlgorithm::kHashCookie, peers(4), false, "session");
  auto first = b.get(PickRequest{0, "abc", {}}, 0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.get(PickRequest{0, "abc", {}}, 0)->index, first->index);
}

TEST(Balancer, StickyCookieKeepsTheClientOnItsPeer) {
  auto b = make(BalanceAlgorithm::kRoundRobin, peers(3), /*sticky=*/true);
  auto first = b.get({}, 0);
  EXPECT_TRUE(first->setCookie);
  std::string cookie = b.stickyValue(first->index);
  EXPECT_EQ(cookie.size(), 16u);
  for (int i = 0; i < 10; ++i) {
    auto pick = b.get(PickRequest{0, {}, cookie}, 0);
    EXPECT_EQ(pick->index, first->index);
    EXPECT_FALSE(pick->setCookie);
    b.release(*pick, Outcome::kSuccess, 0);
  }
  // A stale or forged cookie falls back to balancing and sets a new cookie.
  auto other = b.get(PickRequest{0, {}, "ffffffffffffffff"}, 0);
  EXPECT_TRUE(other->setCookie);
  auto garbage = b.get(PickRequest{0, {}, "not-hex"}, 0);
  EXPECT_TRUE(garbage->setCookie);
  // The cookie names the same peer in another balancer (another worker).
  auto worker2 = make(BalanceAlgorithm::kRoundRobin, peers(3), true);
  EXPECT_EQ(worker2.peerId(worker2.get(PickRequest{0, {}, cookie}, 0)->index),
            b.peerId(first->index));
}

TEST(Balancer, StickyClientStaysOnADrainingPeerButMovesOffAnEjectedOne) {
  auto list = peers(2);
  Balancer b(Balance{}, true, PassiveHealth{1, 1000, 10'000}, 7);
  b.setPeers(list);
  std::string cookie = b.stickyValue(0);
  list[0].draining = true;
  b.setPeers(list);
  EXPECT_EQ(b.get(PickRequest{0, {}, cookie}, 0)->index, 0u);
  EXPECT_EQ(b.get(PickRequest{}, 0)->index, 1u) << "new clients avoid the draining peer";
  Pick failed{0, 0, false};
  failed.uid = hashBytes(list[0].id);
  b.release(failed, Outcome::kFailure, 0);
  EXPECT_TRUE(b.ejected(0, 1));
  EXPECT_EQ(b.get(PickRequest{0, {}, cookie}, 1)->index, 1u);
}

TEST(Balancer, PassiveHealthEjectsForAGrowingTime) {
  Balancer b(Balance{}, false, PassiveHealth{2, 1000, 8000}, 1);
  b.setPeers(peers(2));
  auto failOnce = [&](int64_t now) {
    Pick pick{0, hashBytes("task-0:31000"), false};
    b.release(pick, Outcome::kFailure, now);
  };
  failOnce(0);
  EXPECT_FALSE(b.ejected(0, 0)) << "one failure of maxFails=2";
  failOnce(0);
  EXPECT_TRUE(b.ejected(0, 999));
  EXPECT_FALSE(b.ejected(0, 1000)) << "first ejection: base time";
  for (int i = 0; i < 20; ++i) {
    auto pick = b.get({}, 500);
    EXPECT_EQ(pick->index, 1u) << "an ejected peer gets no work";
    b.release(*pick, Outcome::kSuccess, 500);
  }
  failOnce(1000);
  failOnce(1000);
  EXPECT_TRUE(b.ejected(0, 2999));
  EXPECT_FALSE(b.ejected(0, 3000)) << "second ejection: twice as long";
  failOnce(3000);
  failOnce(3000);
  EXPECT_TRUE(b.ejected(0, 6999));
  EXPECT_FALSE(b.ejected(0, 7000));
  for (int n = 0; n < 3; ++n) {
    failOnce(7000);
    failOnce(7000);
  }
  EXPECT_TRUE(b.ejected(0, 7000 + 7999));
  EXPECT_FALSE(b.ejected(0, 7000 + 8000)) << "capped at maxEjectMs";
  EXPECT_EQ(b.ejections(0), 6);
  // A success long after the last ejection resets the doubling.
  b.release(Pick{0, hashBytes("task-0:31000"), false}, Outcome::kSuccess, 30'000);
  EXPECT_EQ(b.ejections(0), 0);
  // Aborted requests say nothing about the peer.
  for (int i = 0; i < 5; ++i)
    b.release(Pick{1, hashBytes("task-1:31000"), false}, Outcome::kAborted, 0);
  EXPECT_FALSE(b.ejected(1, 0));
}

TEST(Balancer, AllEjectedStillPicks) {
  Balancer b(Balance{}, false, PassiveHealth{1, 1000, 1000}, 1);
  b.setPeers(peers(2));
  b.release(Pick{0, hashBytes("task-0:31000"), false}, Outcome::kFailure, 0);
  b.release(Pick{1, hashBytes("task-1:31000"), false}, Outcome::kFailure, 0);
  EXPECT_TRUE(b.ejected(0, 1) && b.ejected(1, 1));
  EXPECT_TRUE(b.get({}, 1)) << "panic mode: trying beats refusing";
}

TEST(Balancer, HashSkipsAnEjectedOwnerAndReturnsAfter) {
  Balancer b(Balance{BalanceAlgorithm::kHashHeader, "X-User"}, false, PassiveHealth{1, 1000, 1000},
             1);
  b.setPeers(peers(4));
  auto owner = b.get(PickRequest{0, "alice", {}}, 0);
  b.release(*owner, Outcome::kFailure, 0);
  auto during = b.get(PickRequest{0, "alice", {}}, 10);
  EXPECT_NE(during->index, owner->index);
  b.release(*during, Outcome::kSuccess, 10);
  EXPECT_EQ(b.get(PickRequest{0, "alice", {}}, 2000)->index, owner->index) << "back after ejection";
}

TEST(Balancer, ReListKeepsStateOfStayingPeers) {
  auto list = peers(3);
  auto b = make(BalanceAlgorithm::kLeastConn, list);
  auto held = b.get({}, 0);
  std::string heldId = b.peerId(held->index);
  // Reorder and add a peer: the held one keeps its active count.
  std::vector<PeerInfo> next = {list[2], PeerInfo{"task-new:31000", 1, false, "", 0}, list[1],
                                list[0]};
  b.setPeers(next);
  size_t index = 0;
  for (; index < b.size(); ++index) {
    if (b.peerId(index) == heldId) break;
  }
  ASSERT_LT(index, b.size());
  EXPECT_EQ(b.active(index), 1);
  b.release(*held, Outcome::kSuccess, 0);  // stale index: found by uid
  EXPECT_EQ(b.active(index), 0);
  // Releasing a pick of a peer that left is harmless.
  b.setPeers({PeerInfo{"task-new:31000", 1, false, "", 0}});
  b.release(*held, Outcome::kFailure, 0);
  EXPECT_EQ(b.size(), 1u);
}

}  // namespace
}  // namespace corral::proxy
