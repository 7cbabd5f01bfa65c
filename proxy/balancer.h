// Picks the task for a request or connection: `get` a peer, then `release` it
// with the outcome (nginx's get/free). The outcome feeds passive health: a
// peer that refuses or times out `maxFails` times in a row is ejected for a
// time that doubles with each ejection (Envoy's outlier detection).
//
// One Balancer per backend per worker: plain state, no locks, no allocation
// per pick. Peers are identified by a stable id (task id and port); a new
// peer list keeps the counters and health of the ids that stay.
//
// Eligibility, in order of preference: healthy and not draining; else
// healthy (draining peers take work rather than fail it); else every peer
// (panic: when all are ejected, trying one beats refusing everything).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/proxy_labels.h"

namespace corral::proxy {

// marathon-lb's sticky cookie (its BACKEND_STICKY_OPTIONS template).
inline constexpr std::string_view kStickyCookieName = "mesosphere_server_id";

struct PeerInfo {
  std::string id;  // stable, e.g. "shop.1234:31002"
  int weight = 1;  // >= 1
  bool draining = false;
  std::string host;  // where to connect (the balancer itself never reads it)
  int port = 0;
};

struct PassiveHealth {
  int maxFails = 3;              // consecutive failures that eject
  int64_t baseEjectMs = 5'000;   // first ejection; doubles each time
  int64_t maxEjectMs = 300'000;  // cap; a success after this long resets the doubling
};

enum class Outcome {
  kSuccess,  // the peer answered (any status)
  kFailure,  // connect refused or timed out, or no response in time
  kAborted,  // the client went away first: says nothing about the peer
};

// What a pick may look at. Empty views mean "absent".
struct PickRequest {
  uint64_t clientAddressHash = 0;  // for source: hashBytes() of the client address
  std::string_view hashValue;      // header/cookie value for the hash algorithms
  std::string_view stickyCookie;   // value of kStickyCookieName
};

struct Pick {
  size_t index = 0;
  uint64_t uid = 0;        // the peer's stable id hash (release finds it after a re-list)
  bool setCookie = false;  // sticky: answer with Set-Cookie: mesosphere_server_id=stickyValue()
};

// FNV-1a 64: stable across processes (sticky cookies name the same peer on
// every worker and after a restart).
uint64_t hashBytes(std::string_view bytes);

class Balancer {
 public:
  Balancer(conf::Balance balance, bool sticky, PassiveHealth health, uint64_t seed);

  // Replaces the peer list; peers whose id stays keep their state.
  void setPeers(const std::vector<PeerInfo>& peers);

  // nullopt only when there are no peers.
  std::optional<Pick> get(const PickRequest& request, int64_t nowMs);
  void release(const Pick& pick, Outcome outcome, int64_t nowMs);

  size_t size() const { return peers_.size(); }
  const std::string& peerId(size_t index) const { return peers_[index].info.id; }
  int active(size_t index) const { return peers_[index].active; }
  bool ejected(size_t index, int64_t nowMs) const { return peers_[index].ejectedUntilMs > nowMs; }
  int ejections(size_t index) const { return peers_[index].ejections; }
  // The sticky cookie value naming a peer (16 hex digits of its uid).
  std::string stickyValue(size_t index) const;

 private:
  struct PeerState {
    PeerInfo info;
    uint64_t uid = 0;
    int active = 0;
    int64_t currentWeight = 0;  // smooth weighted round robin
    int fails = 0;
    int ejections = 0;
    int64_t ejectedUntilMs = 0;
    int64_t lastEjectedAtMs = 0;
  };

  // 0: healthy, not draining; 1: healthy; 2: any.
  int eligibleLevel(int64_t nowMs) const;
  bool eligible(const PeerState& peer, int level, int64_t nowMs) const;
  size_t pickRoundRobin(int level, int64_t nowMs);
  size_t pickLeastConn(int level, int64_t nowMs);
  size_t pickRandomTwo(int level, int64_t nowMs);
  size_t pickHash(uint64_t hash, int level, int64_t nowMs);
  void buildLookupTable();
  uint64_t nextRandom();

  conf::Balance balance_;
  bool sticky_;
  PassiveHealth health_;
  uint64_t random_;
  std::vector<PeerState> peers_;
  std::unordered_map<uint64_t, size_t> byUid_;
  std::vector<uint32_t> lookup_;  // Maglev table: slot -> peer index
  size_t cursor_ = 0;             // leastconn tie rotation
  std::vector<size_t> scratch_;   // random-two candidates, reused
};

}  // namespace corral::proxy
