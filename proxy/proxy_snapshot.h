// What `corral proxy` publishes to its workers: the routing table plus, for
// every routed app port, the task ports that may take requests. Immutable
// once published; consecutive snapshots share the table when no route
// changed and every app's backends that did not change (persistent maps), so
// a worker can tell an unchanged backend by pointer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/balancer.h"
#include "proxy/persistent_map.h"
#include "proxy/route_lookup.h"
#include "proxy/route_table.h"

namespace corral::proxy {

// Counters of one app port, shared by every worker and every snapshot (the
// builder hands the same object to each new BackendSet of that port), read
// by the admin listener.
struct BackendCounters {
  std::atomic<uint64_t> requests{0};  // peers handed out (requests and TCP connections)
  std::atomic<uint64_t> failures{0};  // connect refused or timed out, bad or late responses
  std::atomic<uint64_t> noPeer{0};    // nothing eligible: the client got a 503
  std::atomic<int64_t> active{0};     // picked and not yet released
};

// The eligible task ports of one app port: running, and healthy when the app
// has health checks. peers[i] and infos[i] describe the same task port.
struct BackendSet {
  BackendKey key;
  std::vector<Peer> peers;          // Peer::id == hashBytes(infos[i].id)
  std::vector<PeerInfo> infos;      // id "taskId:port"
  std::vector<std::string> labels;  // "host:port", for /routes
  std::shared_ptr<BackendCounters> counters;
  // Blue/green: the app's configured instances and its
  // HAPROXY_DEPLOYMENT_TARGET_INSTANCES (1 without it), which bound how
  // many tasks of an older colour drain (BackendPicker::sync).
  int instances = 0;
  int targetInstances = 1;
};

struct AppBackends {
  std::vector<std::shared_ptr<const BackendSet>> ports;  // by port index
};

using BackendMap = PersistentMap<std::string, std::shared_ptr<const AppBackends>, StringKeyHash>;

struct ProxySnapshot {
  std::shared_ptr<const RouteTable> table;
  BackendMap backends;
  uint64_t generation = 0;  // registry version it was built from

  // Null when the app port has no backend set (not routed or gone).
  const BackendSet* backend(const BackendKey& key) const {
    const auto* app = backends.find(key.appId);
    if (app == nullptr || key.portIndex < 0 ||
        static_cast<size_t>(key.portIndex) >= (*app)->ports.size()) {
      return nullptr;
    }
    return (*app)->ports[key.portIndex].get();
  }
};

}  // namespace corral::proxy
