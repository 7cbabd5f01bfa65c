#include "proxy/routing_builder.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "base/share_cpu.h"
#include "proxy/app_labels.h"
#include "registry/catalog.h"

namespace corral::proxy {

namespace {

// An IP literal, or the first IPv4/IPv6 address the name resolves to.
bool resolveHost(const std::string& host, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    return true;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return false;
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return true;
}

void setPort(sockaddr_storage* address, int port) {
  if (address->ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(address)->sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in*>(address)->sin_port = htons(static_cast<uint16_t>(port));
  }
}

bool sameRoutes(const std::vector<RouteSpecPtr>& a, const std::vector<RouteSpecPtr>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(*a[i] == *b[i])) return false;
  }
  return true;
}

}  // namespace

RoutingBuilder::RoutingBuilder(conf::ProxyLabelOptions options) : options_(std::move(options)) {
  auto empty = std::make_shared<ProxySnapshot>();
  empty->table = std::make_shared<const RouteTable>();
  current_ = std::move(empty);
}

bool RoutingBuilder::labelsChanged(const registry::App* before, const registry::App& after) const {
  return before == nullptr || before->labels != after.labels ||
         before->portDefinitions != after.portDefinitions ||
         before->hasHealthChecks != after.hasHealthChecks ||
         before->healthChecks != after.healthChecks;
}

std::shared_ptr<BackendCounters> RoutingBuilder::countersFor(const BackendKey& key) {
  auto& c = counters_[key];
  if (!c) c = std::make_shared<BackendCounters>();
  return c;
}

std::shared_ptr<const AppBackends> RoutingBuilder::backendsOf(
    const registry::App& app, const std::vector<RouteSpecPtr>& routed, size_t* eligible) {
  auto out = std::make_shared<AppBackends>();
  for (const RouteSpecPtr& spec : routed) {
    size_t index = static_cast<size_t>(spec->portIndex);
    if (out->ports.size() <= index) out->ports.resize(index + 1);
    auto set = std::make_shared<BackendSet>();
    set->key = BackendKey{app.id, spec->portIndex};
    set->counters = countersFor(set->key);
    set->instances = app.instances;
    set->targetInstances = spec->deploymentTargetInstances.value_or(1);
    for (const registry::Task& task : app.tasks) {
      // Only running tasks; with health checks, only those reported healthy.
      if (!task.running()) continue;
      if (app.hasHealthChecks && task.healthy != std::optional<bool>(true)) continue;
      if (index >= task.ports.size()) continue;
      const std::string& host = task.ip.empty() ? task.host : task.ip;
      auto it = resolved_.find(host);
      if (it == resolved_.end()) {
        sockaddr_storage address;
        if (!resolveHost(host, &address)) {
          log::warn("app {}: task {} has host '{}' that does not resolve; not routed", app.id,
                    task.id, host);
          continue;
        }
        it = resolved_.emplace(host, address).first;
      }
      int port = task.ports[index];
      PeerInfo info;
      info.id = task.id + ":" + std::to_string(port);
      Peer peer;
      peer.id = hashBytes(info.id);
      peer.address = it->second;
      setPort(&peer.address, port);
      set->peers.push_back(peer);
      set->infos.push_back(std::move(info));
      set->labels.push_back(host + ":" + std::to_string(port));
    }
    *eligible += set->peers.size();
    out->ports[index] = std::move(set);
  }
  return out;
}

Result<std::shared_ptr<const ProxySnapshot>> RoutingBuilder::update(
    const registry::Snapshot& snapshot, const registry::Diff& diff) {
  const ProxySnapshot& previous = *current_;
  auto next = std::make_shared<ProxySnapshot>();
  next->backends = previous.backends;
  next->generation = snapshot.version;
  std::vector<AppRoutes> tableChanges;
  // One batch for every backend set this update writes: the map nodes it
  // creates are filled in place, so the first snapshot of 100,000 routes
  // costs one node per new leaf instead of a path copy per app.
  uint64_t batch = newPersistentBatch();

  std::set<std::string> regroup;  // apps whose table routes must be computed again
  auto leaveGroup = [&](const std::string& id, const std::string& group) {
    if (group.empty()) return;
    auto members = groups_.find(group);
    if (members == groups_.end()) return;
    members->second.erase(id);
    regroup.insert(members->second.begin(), members->second.end());
    if (members->second.empty()) groups_.erase(members);
  };
  auto remove = [&](const std::string& id) {
    auto it = apps_.find(id);
    if (it == apps_.end()) return;
    leaveGroup(id, it->second.deploymentGroup);
    apps_.erase(it);
    regroup.erase(id);
    reports_.erase(id);
    next->backends = next->backends.erase(id);
    tableChanges.push_back(AppRoutes{id, {}});
  };
  auto upsert = [&](const std::string& id) {
    const registry::App* app = snapshot.find(id);
    if (app == nullptr) {
      remove(id);
      return;
    }
    AppState& state = apps_[id];
    AppReport& report = reports_[id];
    if (labelsChanged(state.app.get(), *app)) {
      AppRouting routing = routeApp(*app, options_);
      // Each issue once per change of the app's issues: a task update alone
      // does not repeat them.
      std::vector<std::string> before, after;
      for (const auto& i : report.issues) before.push_back(i.toString());
      for (const auto& i : routing.issues) after.push_back(i.toString());
      if (before != after) {
        for (const auto& issue : routing.issues) {
          if (issue.rejects()) {
            log::warn("rejected: {}", issue.toString());
          } else {
            log::warn("{}: {}", labelIssueKindName(issue.kind), issue.toString());
          }
        }
      }
      report.specs = std::move(routing.all);
      report.issues = std::move(routing.issues);
      std::string group = routing.routes.routes.empty()
                              ? std::string()
                              : routing.routes.routes.front()->deploymentGroup;
      if (!sameRoutes(state.parsed, routing.routes.routes) || group != state.deploymentGroup) {
        state.parsed = std::move(routing.routes.routes);
        leaveGroup(id, state.deploymentGroup);
        state.deploymentGroup = group;
        if (!group.empty()) {
          auto& members = groups_[group];
          members.insert(id);
          regroup.insert(members.begin(), members.end());
        }
        regroup.insert(id);
      }
    }
    state.app = snapshot.apps.find(id)->second;
    report.tasks = app->tasks.size();
    report.eligible = 0;
    if (state.parsed.empty()) {
      next->backends = next->backends.erase(id);
    } else {
      next->backends =
          next->backends.set(id, backendsOf(*app, state.parsed, &report.eligible), nullptr, batch);
    }
  };

  // A burst's hundreds of apps give way to the workers now and then.
  for (const std::string& id : diff.removed) {
    shareCpu();
    remove(id);
  }
  for (const std::string& id : diff.added) {
    shareCpu();
    upsert(id);
  }
  for (const std::string& id : diff.changed) {
    shareCpu();
    upsert(id);
  }
  for (const std::string& id : regroup) {
    auto it = apps_.find(id);
    if (it == apps_.end()) continue;
    std::vector<RouteSpecPtr> routed = groupRouted(id);
    if (sameRoutes(it->second.routed, routed)) continue;
    it->second.routed = routed;
    tableChanges.push_back(AppRoutes{id, std::move(routed)});
  }

  next->table = tableChanges.empty()
                    ? previous.table
                    : RouteTable::update(*previous.table, tableChanges, snapshot.version);
  current_ = next;
  return std::shared_ptr<const ProxySnapshot>(std::move(next));
}

std::vector<RouteSpecPtr> RoutingBuilder::groupRouted(const std::string& id) const {
  const AppState& state = apps_.at(id);
  if (state.deploymentGroup.empty()) return state.parsed;
  // The colour that started first (no start time counts as earliest, as in
  // marathon-lb), then the lowest app id.
  const std::string* oldest = nullptr;
  const std::string* oldestStart = nullptr;
  for (const std::string& member : groups_.at(state.deploymentGroup)) {
    const AppState& other = apps_.at(member);
    if (other.parsed.empty()) continue;
    const std::string& start = other.parsed.front()->deploymentStartedAt;
    if (oldest == nullptr || start < *oldestStart) {
      oldest = &member;
      oldestStart = &start;
    }
  }
  if (oldest == nullptr || *oldest == id) return state.parsed;
  const std::vector<RouteSpecPtr>& first = apps_.at(*oldest).parsed;
  std::vector<RouteSpecPtr> out;
  out.reserve(state.parsed.size());
  for (const RouteSpecPtr& spec : state.parsed) {
    auto same = std::find_if(first.begin(), first.end(), [&](const RouteSpecPtr& s) {
      return s->portIndex == spec->portIndex;
    });
    if (same == first.end() || (*same)->servicePort == spec->servicePort) {
      out.push_back(spec);
      continue;
    }
    auto moved = std::make_shared<conf::RouteSpec>(*spec);
    moved->servicePort = (*same)->servicePort;
    out.push_back(std::move(moved));
  }
  return out;
}

std::map<conf::LabelIssueKind, size_t> RoutingBuilder::issueCounts() const {
  std::map<conf::LabelIssueKind, size_t> counts;
  for (const auto& [id, report] : reports_) {
    for (const auto& issue : report.issues) ++counts[issue.kind];
  }
  return counts;
}

}  // namespace corral::proxy
