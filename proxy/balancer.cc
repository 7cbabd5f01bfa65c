#include "proxy/balancer.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

namespace corral::proxy {

uint64_t hashBytes(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

namespace {

// Maglev table sizes: primes, chosen at >= 100 slots per peer so a change of
// one peer moves about 1/n of the keys and little else.
constexpr std::array<uint32_t, 10> kTableSizes = {251,  509,   1021,  2039,  4093,
                                                  8191, 16381, 32749, 65521, 131071};

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

}  // namespace

Balancer::Balancer(conf::Balance balance, bool sticky, PassiveHealth health, uint64_t seed)
    : balance_(std::move(balance)), sticky_(sticky), health_(health), random_(mix(seed) | 1) {}

uint64_t Balancer::nextRandom() {  // xorshift64*
  random_ ^= random_ >> 12;
  random_ ^= random_ << 25;
  random_ ^= random_ >> 27;
  return random_ * 0x2545f4914f6cdd1dULL;
}

void Balancer::setPeers(const std::vector<PeerInfo>& peers) {
  std::vector<PeerState> next;
  next.reserve(peers.size());
  std::unordered_map<uint64_t, size_t> byUid;
  for (const PeerInfo& info : peers) {
    uint64_t uid = hashBytes(info.id);
    if (byUid.count(uid)) continue;  // a duplicate id names the same peer
    PeerState state;
    if (auto it = byUid_.find(uid); it != byUid_.end()) state = peers_[it->second];
    state.info = info;
    state.info.weight = std::max(1, info.weight);
    state.uid = uid;
    byUid.emplace(uid, next.size());
    next.push_back(std::move(state));
  }
  peers_ = std::move(next);
  byUid_ = std::move(byUid);
  scratch_.reserve(peers_.size());
  buildLookupTable();
}

// Maglev (Eisenbud et al., NSDI 2016): each peer walks its own permutation
// of the table and claims the next free slot, in turns (weight turns each).
void Balancer::buildLookupTable() {
  lookup_.clear();
  bool hashing = balance_.algorithm == conf::BalanceAlgorithm::kSource ||
                 balance_.algorithm == conf::BalanceAlgorithm::kHashHeader ||
                 balance_.algorithm == conf::BalanceAlgorithm::kHashCookie;
  if (!hashing || peers_.empty()) return;
  uint32_t size = kTableSizes.back();
  for (uint32_t candidate : kTableSizes) {
    if (candidate >= 100 * peers_.size()) {
      size = candidate;
      break;
    }
  }
  constexpr uint32_t kEmpty = UINT32_MAX;
  lookup_.assign(size, kEmpty);
  std::vector<uint64_t> offset(peers_.size()), skip(peers_.size()), next(peers_.size(), 0);
  for (size_t i = 0; i < peers_.size(); ++i) {
    offset[i] = mix(peers_[i].uid) % size;
    skip[i] = mix(peers_[i].uid ^ 0x5bd1e995ULL) % (size - 1) + 1;
  }
  size_t filled = 0;
  while (filled < size) {
    for (size_t i = 0; i < peers_.size() && filled < size; ++i) {
      for (int turn = 0; turn < peers_[i].info.weight && filled < size; ++turn) {
        uint64_t slot = (offset[i] + next[i] * skip[i]) % size;
        while (lookup_[slot] != kEmpty) {
          ++next[i];
          slot = (offset[i] + next[i] * skip[i]) % size;
        }
        lookup_[slot] = static_cast<uint32_t>(i);
        ++next[i];
        ++filled;
      }
    }
  }
}

bool Balancer::eligible(const PeerState& peer, int level, int64_t nowMs) const {
  if (level >= 2) return true;
  if (peer.ejectedUntilMs > nowMs) return false;
  return level >= 1 || !peer.info.draining;
}

int Balancer::eligibleLevel(int64_t nowMs) const {
  bool healthy = false;
  for (const PeerState& peer : peers_) {
    if (peer.ejectedUntilMs > nowMs) continue;
    if (!peer.info.draining) return 0;
    healthy = true;
  }
  return healthy ? 1 : 2;
}

// nginx's smooth weighted round robin: every peer gains its weight, the
// richest is chosen and pays the total. Spreads a 5:1:1 as a,a,b,a,c,a,a.
size_t Balancer::pickRoundRobin(int level, int64_t nowMs) {
  int64_t total = 0;
  PeerState* best = nullptr;
  size_t bestIndex = 0;
  for (size_t i = 0; i < peers_.size(); ++i) {
    PeerState& peer = peers_[i];
    if (!eligible(peer, level, nowMs)) continue;
    peer.currentWeight += peer.info.weight;
    total += peer.info.weight;
    if (!best || peer.currentWeight > best->currentWeight) {
      best = &peer;
      bestIndex = i;
    }
  }
  best->currentWeight -= total;
  return bestIndex;
}

// Fewest active per unit of weight; ties rotate so equal peers share.
size_t Balancer::pickLeastConn(int level, int64_t nowMs) {
  size_t count = peers_.size();
  size_t best = count;
  for (size_t k = 0; k < count; ++k) {
    size_t i = (cursor_ + k) % count;
    const PeerState& peer = peers_[i];
    if (!eligible(peer, level, nowMs)) continue;
    if (best == count || int64_t{peer.active} * peers_[best].info.weight <
                             int64_t{peers_[best].active} * peer.info.weight) {
      best = i;
    }
  }
  cursor_ = (best + 1) % count;
  return best;
}

// Power of two random choices: the less loaded of two random peers; nearly
// as good as leastconn without its herd behaviour across workers.
size_t Balancer::pickRandomTwo(int level, int64_t nowMs) {
  scratch_.clear();
  for (size_t i = 0; i < peers_.size(); ++i) {
    if (eligible(peers_[i], level, nowMs)) scratch_.push_back(i);
  }
  if (scratch_.size() == 1) return scratch_[0];
  size_t a = scratch_[nextRandom() % scratch_.size()];
  size_t b = scratch_[nextRandom() % (scratch_.size() - 1)];
  if (b == a) b = scratch_.back();
  const PeerState& pa = peers_[a];
  const PeerState& pb = peers_[b];
  return int64_t{pb.active} * pa.info.weight < int64_t{pa.active} * pb.info.weight ? b : a;
}

// The Maglev slot of the key; an ineligible owner passes the key on to the
// next slots' owners (few keys move while a peer is ejected).
size_t Balancer::pickHash(uint64_t hash, int level, int64_t nowMs) {
  size_t size = lookup_.size();
  size_t slot = mix(hash) % size;
  for (size_t probe = 0; probe < size; ++probe) {
    size_t index = lookup_[(slot + probe) % size];
    if (eligible(peers_[index], level, nowMs)) return index;
  }
  return lookup_[slot];
}

std::optional<Pick> Balancer::get(const PickRequest& request, int64_t nowMs) {
  if (peers_.empty()) return std::nullopt;
  int level = eligibleLevel(nowMs);
  Pick pick;
  bool chosen = false;
  if (sticky_ && !request.stickyCookie.empty()) {
    uint64_t uid = 0;
    const char* begin = request.stickyCookie.data();
    const char* end = begin + request.stickyCookie.size();
    auto [ptr, ec] = std::from_chars(begin, end, uid, 16);
    if (ec == std::errc() && ptr == end) {
      // A sticky client stays on a draining peer; only an ejected one moves it.
      auto it = byUid_.find(uid);
      if (it != byUid_.end() && eligible(peers_[it->second], std::max(level, 1), nowMs)) {
        pick.index = it->second;
        chosen = true;
      }
    }
  }
  if (!chosen) {
    switch (balance_.algorithm) {
      case conf::BalanceAlgorithm::kRoundRobin:
        pick.index = pickRoundRobin(level, nowMs);
        break;
      case conf::BalanceAlgorithm::kLeastConn:
        pick.index = pickLeastConn(level, nowMs);
        break;
      case conf::BalanceAlgorithm::kRandomTwo:
        pick.index = pickRandomTwo(level, nowMs);
        break;
      case conf::BalanceAlgorithm::kSource:
        pick.index = pickHash(request.clientAddressHash, level, nowMs);
        break;
      case conf::BalanceAlgorithm::kHashHeader:
      case conf::BalanceAlgorithm::kHashCookie:
        // Without the key there is nothing to be consistent about.
        pick.index = request.hashValue.empty()
                         ? pickRoundRobin(level, nowMs)
                         : pickHash(hashBytes(request.hashValue), level, nowMs);
        break;
    }
    pick.setCookie = sticky_;
  }
  PeerState& peer = peers_[pick.index];
  pick.uid = peer.uid;
  ++peer.active;
  return pick;
}

void Balancer::release(const Pick& pick, Outcome outcome, int64_t nowMs) {
  size_t index = pick.index;
  if (index >= peers_.size() || peers_[index].uid != pick.uid) {
    auto it = byUid_.find(pick.uid);
    if (it == byUid_.end()) return;  // the peer left the list meanwhile
    index = it->second;
  }
  PeerState& peer = peers_[index];
  if (peer.active > 0) --peer.active;
  switch (outcome) {
    case Outcome::kAborted:
      return;
    case Outcome::kSuccess:
      peer.fails = 0;
      if (peer.ejections > 0 && nowMs - peer.lastEjectedAtMs > health_.maxEjectMs) {
        peer.ejections = 0;
      }
      return;
    case Outcome::kFailure:
      if (++peer.fails < health_.maxFails) return;
      peer.fails = 0;
      ++peer.ejections;
      int64_t duration = health_.baseEjectMs;
      for (int i = 1; i < peer.ejections && duration < health_.maxEjectMs; ++i) duration *= 2;
      peer.ejectedUntilMs = nowMs + std::min(duration, health_.maxEjectMs);
      peer.lastEjectedAtMs = nowMs;
      return;
  }
}

std::string Balancer::stickyValue(size_t index) const {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(peers_[index].uid));
  return std::string(text, 16);
}

}  // namespace corral::proxy
