// Routing snapshots made by hand for the worker-side tests: route specs and
// each backend's task ports, without the registry or the RoutingBuilder.
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "proxy/proxy_snapshot.h"

namespace corral::proxy::test {

// An HTTP route of `app`'s port 0 on vhost `host`.
inline std::shared_ptr<conf::RouteSpec> httpSpec(const std::string& app, const std::string& host) {
  auto spec = std::make_shared<conf::RouteSpec>();
  spec->appId = app;
  spec->servicePort = 10000;
  spec->mode = conf::RouteMode::kHttp;
  spec->vhosts = {host};
  return spec;
}

// A TCP route of `app`'s port 0 on `servicePort`.
inline std::shared_ptr<conf::RouteSpec> tcpSpec(const std::string& app, int servicePort) {
  auto spec = std::make_shared<conf::RouteSpec>();
  spec->appId = app;
  spec->servicePort = servicePort;
  spec->mode = conf::RouteMode::kTcp;
  return spec;
}

inline int portOf(const Peer* peer) {
  return ntohs(reinterpret_cast<const sockaddr_in*>(&peer->address)->sin_port);
}

// Publishes snapshots the way the builder does: the table is updated from
// the previous one, and each backend keeps its counters across snapshots.
class SnapshotMaker {
 public:
  // `count` tasks of `key.appId` on 127.0.0.1, ports firstPort...
  std::shared_ptr<BackendSet> backend(const BackendKey& key, int count, int firstPort) {
    auto set = std::make_shared<BackendSet>();
    set->key = key;
    auto& counters = counters_[key];
    if (!counters) counters = std::make_shared<BackendCounters>();
    set->counters = counters;
    for (int i = 0; i < count; ++i) {
      PeerInfo info;
      info.id = key.appId + ".task" + std::to_string(i) + ":" + std::to_string(firstPort + i);
      Peer peer;
      peer.id = hashBytes(info.id);
      uv_ip4_addr("127.0.0.1", firstPort + i, reinterpret_cast<sockaddr_in*>(&peer.address));
      set->peers.push_back(peer);
      set->labels.push_back("127.0.0.1:" + std::to_string(firstPort + i));
      set->infos.push_back(std::move(info));
    }
    return set;
  }

  // A snapshot routing exactly `specs` (apps left out are removed) with
  // `sets` as the backends.
  std::shared_ptr<const ProxySnapshot> publish(std::vector<RouteSpecPtr> specs,
                                               std::vector<std::shared_ptr<BackendSet>> sets) {
    std::map<std::string, AppRoutes> apps;
    for (const std::string& gone : apps_) apps[gone] = AppRoutes{gone, {}};
    apps_.clear();
    for (const RouteSpecPtr& spec : specs) {
      apps[spec->appId].appId = spec->appId;
      apps[spec->appId].routes.push_back(spec);
      apps_.insert(spec->appId);
    }
    std::vector<AppRoutes> changes;
    for (auto& [id, routes] : apps) changes.push_back(std::move(routes));
    table_ = RouteTable::update(*table_, changes, table_->generation() + 1);
    auto snapshot = std::make_shared<ProxySnapshot>();
    snapshot->table = table_;
    snapshot->generation = table_->generation();
    std::map<std::string, std::shared_ptr<AppBackends>> backends;
    for (const auto& set : sets) {
      auto& app = backends[set->key.appId];
      if (!app) app = std::make_shared<AppBackends>();
      if (app->ports.size() <= static_cast<size_t>(set->key.portIndex)) {
        app->ports.resize(static_cast<size_t>(set->key.portIndex) + 1);
      }
      app->ports[static_cast<size_t>(set->key.portIndex)] = set;
    }
    for (auto& [id, app] : backends) snapshot->backends = snapshot->backends.set(id, app);
    return snapshot;
  }

  const BackendCounters& counters(const BackendKey& key) { return *counters_.at(key); }

 private:
  std::shared_ptr<const RouteTable> table_ = std::make_shared<RouteTable>();
  std::set<std::string> apps_;
  std::map<BackendKey, std::shared_ptr<BackendCounters>> counters_;
};

}  // namespace corral::proxy::test
