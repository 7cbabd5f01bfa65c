// The routing state of one proxy worker (one loop, no locks):
//  * the ProxySnapshot it serves, installed when the WorkerPool hands over a
//    newer one; a request keeps the state it was routed with (its
//    RouteDecision::keepAlive) until it ends;
//  * one BackendPicker per serving app port: a Balancer over that port's
//    task ports. Pickers outlive snapshots: a new snapshot whose backend set
//    for a port is the same object keeps the picker untouched, a changed set
//    re-lists its peers (balancer state of staying peers is kept), a port
//    gone from the snapshot drops its picker once no request holds it.
//    Installing a snapshot costs the same at 10 or 100,000 pickers: the
//    pickers of gone ports are swept a bounded number per install
//    (kSweepPerInstall, resuming where the last install stopped), so a
//    worker serving every route of a big table never stalls on a snapshot;
//    a gone port's picker just lives a few snapshots longer.
//  * RouteLookup implementations for the HTTP frontend (host and path) and
//    for a service port (its one route).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/balancer.h"
#include "proxy/proxy_snapshot.h"
#include "proxy/route_lookup.h"
#include "proxy/stats.h"

namespace corral {
class Loop;
}

namespace corral::proxy {

// Per-worker counters, read by the admin listener from another thread.
struct WorkerCounters {
  std::atomic<uint64_t> requests{0};  // HTTP requests routed and TCP connections taken
  std::atomic<uint64_t> noRoute{0};   // nothing matched host, path or port
  std::atomic<uint64_t> tcpConnections{0};
};

// Told (on the worker's loop) the id of a peer no picker of the worker lists
// any more, once no request holds it: the worker's idle connections to it
// can go now instead of after the pool's idle timeout.
using PeerGoneFn = std::function<void(uint64_t peerId)>;

// How many pickers of one worker list each peer. A peer can be in several
// (a blue/green pair's route and each colour's own, or two routes that share
// their first backend), so only the last one to let it go reports it.
class PeerRefs {
 public:
  void setOnGone(PeerGoneFn fn) { onGone_ = std::move(fn); }
  void add(uint64_t peerId) { ++refs_[peerId]; }
  void remove(uint64_t peerId);
  size_t size() const { return refs_.size(); }

 private:
  std::unordered_map<uint64_t, uint32_t> refs_;
  PeerGoneFn onGone_;
};

class BackendPicker : public PeerPicker {
 public:
  // refs, when not null, outlives the picker.
  BackendPicker(Loop& loop, const RouteTarget& target, const ProxySnapshot& snapshot, uint64_t seed,
                PeerRefs* refs = nullptr);
  ~BackendPicker() override;

  // Brings the peers up to date with `target` in `snapshot` (cheap when
  // nothing it depends on changed).
  void sync(const RouteTarget& target, const ProxySnapshot& snapshot);

  const Peer* pick(const PickContext& ctx) override;
  void release(const Peer& peer, PeerOutcome outcome) override;

  // Whether this picker still fits `target` (same balance settings).
  bool fits(const conf::RouteSpec& spec) const;

  // The route's exchanges on this worker (HttpSession writes them) and its
  // name in the access log ("/shop:0").
  RouteCounters& routeCounters() { return routeCounters_; }
  const std::string& name() const { return name_; }
  // In its worker's queue of routes whose counters /stats must copy.
  bool statsQueued = false;

 private:
  struct Slot {
    Peer peer;
    BackendCounters* counters = nullptr;
    std::shared_ptr<BackendCounters> ownCounters;  // keeps counters alive while in use
    int inUse = 0;
    bool gone = false;  // left the peer list: freed when no request holds it
  };
  int64_t nowMs();
  void dropSlot(std::unordered_map<uint64_t, std::unique_ptr<Slot>>::iterator it);
  // CORRAL_{n}_MAXCONN reached (only asked when the spec sets it).
  bool atLimit() const;

  Loop& loop_;
  PeerRefs* refs_;
  conf::Balance balance_;
  bool sticky_;
  Balancer balancer_;
  std::vector<const BackendSet*> sets_;  // what the peers were last built from
  std::vector<std::shared_ptr<BackendCounters>> memberCounters_;  // of sets_
  RouteSpecPtr spec_;
  std::unordered_map<uint64_t, std::unique_ptr<Slot>> slots_;
  BackendCounters* primary_ = nullptr;  // counters of members[0], for noPeer
  std::shared_ptr<BackendCounters> primaryOwned_;
  RouteCounters routeCounters_;
  std::string name_;
};

// One snapshot as a worker serves it. Held by every request routed with it.
struct WorkerState {
  std::shared_ptr<const ProxySnapshot> snapshot;
  // Serving target -> picker, filled on first use under this snapshot.
  std::unordered_map<const RouteTarget*, std::shared_ptr<BackendPicker>> cache;
};

class WorkerRouting {
 public:
  WorkerRouting(Loop& loop, int workerIndex);

  // A newer snapshot from the pool.
  void install(std::shared_ptr<const ProxySnapshot> snapshot);
  // Who is told of peers that left every route (see PeerGoneFn).
  void setOnPeerGone(PeerGoneFn fn) { peerRefs_.setOnGone(std::move(fn)); }
  const ProxySnapshot& snapshot() const { return *state_->snapshot; }

  // Fills a RouteDecision for `target` under the current snapshot.
  void decide(const RouteTarget& target, RouteDecision* out);
  // The picker for a TCP connection, kept alive by *hold.
  BackendPicker* pickerFor(const RouteTarget& target, std::shared_ptr<const void>* hold);

  WorkerCounters& counters() { return counters_; }
  // This worker's exchange counters per backend still routed (for /stats).
  void forEachCounters(
      const std::function<void(const BackendKey&, const RouteCounters&)>& visit) const;
  size_t pickerCount() const { return pickers_.size(); }
  // Pickers looked at per install for a port gone from the snapshot.
  static constexpr size_t kSweepPerInstall = 512;

  // Per-route exchange counters are plain (one writer, no atomics on the
  // request path); publishRouteStats copies them, on the worker's loop, to
  // where routeStats reads them from any thread. A route is queued when a
  // request or connection is routed to it (once until it is copied; again
  // while exchanges are in flight), and each call copies at most `budget`
  // queued routes, plus removes the gone ones: a call never walks every
  // route (it used to compare every route's counters each 0.5 s: 100k map
  // entries a call at 100k routes).
  static constexpr size_t kStatsPerPublish = 256;
  void publishRouteStats(size_t budget = kStatsPerPublish);
  size_t statsQueued() const { return statsQueue_.size(); }
  std::map<BackendKey, RouteCounters> routeStats() const;

 private:
  Loop& loop_;
  int index_;
  mutable std::mutex statsMutex_;
  std::map<BackendKey, RouteCounters> published_;
  PeerRefs peerRefs_;  // before the pickers: they let go of peers as they end
  std::shared_ptr<WorkerState> state_;
  std::map<BackendKey, std::shared_ptr<BackendPicker>> pickers_;
  BackendKey sweepFrom_;  // where the next install's sweep starts
  void queueStats(BackendPicker& picker, const BackendKey& key);
  // Routes whose counters /stats has not copied yet, and the keys of pickers
  // dropped since the last publish.
  std::deque<BackendKey> statsQueue_;
  std::vector<BackendKey> dropped_;
  WorkerCounters counters_;
};

// The HTTP frontend (--http-listen): host and path.
class FrontendLookup : public RouteLookup {
 public:
  explicit FrontendLookup(WorkerRouting& routing) : routing_(routing) {}
  bool lookup(const http::RequestHead& head, RouteDecision* out) override;

 private:
  WorkerRouting& routing_;
};

// An HTTP-mode service port: every request goes to the port's route.
class PortLookup : public RouteLookup {
 public:
  PortLookup(WorkerRouting& routing, int port) : routing_(routing), port_(port) {}
  bool lookup(const http::RequestHead& head, RouteDecision* out) override;

 private:
  WorkerRouting& routing_;
  int port_;
};

}  // namespace corral::proxy
