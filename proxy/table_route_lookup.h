// RouteLookup over the routing table and the balancers: one per worker.
// The control thread publishes RoutingSnapshots (a RouteTable plus the
// peers of every backend); the worker swaps one in with setSnapshot and
// routes each request with it. Balancer state (active counts, passive
// health, round-robin position) lives in per-worker pickers keyed by the
// serving route's stable BackendKey, so it survives any number of new
// snapshots: a picker only re-lists its peers when its spec, members or
// peer lists changed (peers whose id stays keep their state).
//
// A route's picker balances over the peers of all its members (blue/green:
// the draining colour's peers are marked draining and get no new requests
// while another peer can take them).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "proxy/balancer.h"
#include "proxy/route_lookup.h"
#include "proxy/route_table.h"
#include "proxy/stats.h"

namespace corral {
class Loop;
}

namespace corral::proxy {

// The peers of one backend (app and port index), e.g. from peersOf.
using PeerList = std::shared_ptr<const std::vector<PeerInfo>>;

struct RoutingSnapshot {
  std::shared_ptr<const RouteTable> table;
  // Every backend of the table has an entry (an empty or null list: no
  // peers); a backend without one is gone, and so is its balancer state.
  std::map<BackendKey, PeerList> peers;
};

class TablePicker;

class TableRouteLookup : public RouteLookup {
 public:
  explicit TableRouteLookup(Loop& loop, PassiveHealth health = {}, uint64_t seed = 1);
  ~TableRouteLookup() override;

  // The snapshot new requests are routed with (on the worker's loop
  // thread). Requests in flight keep the picker and peers they started
  // with. Pickers of backends the snapshot does not list are dropped.
  void setSnapshot(std::shared_ptr<const RoutingSnapshot> snapshot);

  bool lookup(const http::RequestHead& head, RouteDecision* out) override;
  // A service port's route (TCP mode listeners); null when none.
  PeerPicker* portPicker(int servicePort, std::shared_ptr<const void>* keepAlive);

  size_t pickerCount() const { return pickers_.size(); }
  // This worker's counters per backend still routed (for /stats).
  void forEachCounters(
      const std::function<void(const BackendKey&, const RouteCounters&)>& visit) const;

 private:
  TablePicker* pickerFor(const RouteTarget& target, std::shared_ptr<const void>* keepAlive);

  Loop& loop_;
  PassiveHealth health_;
  uint64_t seed_;
  std::shared_ptr<const RoutingSnapshot> snapshot_;
  uint64_t epoch_ = 0;  // counts snapshots: a picker synced in this epoch is current
  std::map<BackendKey, std::shared_ptr<TablePicker>> pickers_;
};

}  // namespace corral::proxy
