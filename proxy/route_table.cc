#include "proxy/route_table.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace corral::proxy {

namespace {

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
};

constexpr size_t kMaxHostLength = 253;

// Writes the normalised host into `out` (kMaxHostLength bytes); returns its
// length, 0 when `host` cannot be a host name.
size_t normalizeHostInto(std::string_view host, char* out) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return 0;
    host = host.substr(0, close + 1);  // an IPv6 literal keeps its brackets
  } else if (size_t colon = host.find(':'); colon != std::string_view::npos) {
    if (host.find(':', colon + 1) != std::string_view::npos) return 0;
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > kMaxHostLength) return 0;
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return host.size();
}

bool candidateBefore(const RouteSpecPtr& a, const RouteSpecPtr& b) {
  if (a->backendWeight != b->backendWeight) return a->backendWeight > b->backendWeight;
  if (a->appId != b->appId) return a->appId < b->appId;
  return a->portIndex < b->portIndex;
}

RouteTarget targetOf(const std::vector<RouteSpecPtr>& candidates) {
  RouteTarget target;
  const RouteSpecPtr& winner = candidates.front();
  target.spec = winner;
  target.members.push_back(RouteMember{BackendKey{winner->appId, winner->portIndex}, false});
  if (winner->deploymentGroup.empty()) return target;
  // Blue/green: every app of the winner's deployment group on this slot
  // serves; all but the most recently started one drain.
  std::string newest = winner->deploymentStartedAt;
  for (size_t i = 1; i < candidates.size(); ++i) {
    const auto& c = candidates[i];
    if (c->deploymentGroup != winner->deploymentGroup || c->portIndex != winner->portIndex) {
      continue;
    }
    target.members.push_back(RouteMember{BackendKey{c->appId, c->portIndex}, false});
    newest = std::max(newest, c->deploymentStartedAt);
  }
  if (target.members.size() > 1) {
    for (size_t m = 0, i = 0; i < candidates.size() && m < target.members.size(); ++i) {
      const auto& c = candidates[i];
      if (c->appId != target.members[m].key.appId ||
          c->portIndex != target.members[m].key.portIndex) {
        continue;
      }
      target.members[m].draining = c->deploymentStartedAt < newest;
      ++m;
    }
  }
  return target;
}

}  // namespace

struct HostRoutes {
  // "" is the slot of routes without a path.
  std::unordered_map<std::string, PathSlot, TransparentHash, std::equal_to<>> byPath;
  std::map<size_t, size_t, std::greater<>> lengthCounts;  // path length -> slots
  std::vector<size_t> prefixLengths;  // distinct non-empty path lengths, longest first

  const RouteTarget* match(std::string_view path) const {
    for (size_t length : prefixLengths) {
      if (length > path.size()) continue;
      auto it = byPath.find(path.substr(0, length));
      if (it != byPath.end()) return &it->second.target;
    }
    auto it = byPath.find(std::string_view());
    return it == byPath.end() ? nullptr : &it->second.target;
  }

  PathSlot& slot(const std::string& path) {
    auto [it, created] = byPath.try_emplace(path);
    if (created && !path.empty() && lengthCounts[path.size()]++ == 0) reindex();
    return it->second;
  }
  void eraseSlot(const std::string& path) {
    byPath.erase(path);
    if (!path.empty() && --lengthCounts[path.size()] == 0) {
      lengthCounts.erase(path.size());
      reindex();
    }
  }
  void reindex() {
    prefixLengths.clear();
    for (const auto& [length, count] : lengthCounts) prefixLengths.push_back(length);
  }
};

struct RouteTable::AppEntry {
  std::vector<RouteSpecPtr> routes;
};

RouteTable::RouteTable() = default;
RouteTable::~RouteTable() = default;

std::string RouteTable::normalizeHost(std::string_view host) {
  char buffer[kMaxHostLength];
  return std::string(buffer, normalizeHostInto(host, buffer));
}

const RouteTarget* RouteTable::lookupHttp(std::string_view host, std::string_view path) const {
  path = path.substr(0, path.find('?'));
  char buffer[kMaxHostLength];
  if (size_t length = normalizeHostInto(host, buffer)) {
    if (const auto* routes = hosts_.find(std::string_view(buffer, length))) {
      if (const RouteTarget* target = (*routes)->match(path)) return target;
    }
  }
  return hostless_ ? hostless_->match(path) : nullptr;
}

const RouteTarget* RouteTable::lookupPort(int servicePort) const {
  const auto* slot = ports_.find(servicePort);
  return slot ? &(*slot)->target : nullptr;
}

namespace {

using PathSpecs = std::vector<std::pair<std::string, RouteSpecPtr>>;

// Candidates stay sorted (candidateBefore): adding one costs a search and a
// move of pointers, never a sort of a slot many apps share.
void insertSorted(std::vector<RouteSpecPtr>& candidates, const RouteSpecPtr& spec) {
  candidates.insert(std::upper_bound(candidates.begin(), candidates.end(), spec, candidateBefore),
                    spec);
}

// Replaces `appId`'s candidates in `routes`: removed from the paths it had
// (`before`), added at the paths it has now (`after`). Costs what the app
// touches, not the size of the host.
size_t replaceInHost(HostRoutes& routes, const std::string& appId, const PathSpecs& before,
                     const PathSpecs& after) {
  std::set<std::string> touched;
  for (const auto& [path, _] : before) {
    auto it = routes.byPath.find(path);
    if (it == routes.byPath.end()) continue;
    auto& c = it->second.candidates;
    c.erase(std::remove_if(c.begin(), c.end(),
                           [&](const RouteSpecPtr& s) { return s->appId == appId; }),
            c.end());
    touched.insert(path);
  }
  for (const auto& [path, spec] : after) {
    insertSorted(routes.slot(path).candidates, spec);
    touched.insert(path);
  }
  size_t rebuilt = 0;
  for (const std::string& path : touched) {
    auto it = routes.byPath.find(path);
    if (it->second.candidates.empty()) {
      routes.eraseSlot(path);
      continue;
    }
    it->second.target = targetOf(it->second.candidates);
    ++rebuilt;
  }
  return rebuilt;
}

// The (path, spec) pairs an app's routes contribute under each key.
using Contributions = std::map<std::string, PathSpecs>;

void collect(const std::vector<RouteSpecPtr>& routes, Contributions& hosts, PathSpecs& hostless,
             std::map<int, std::vector<RouteSpecPtr>>& ports) {
  for (const RouteSpecPtr& spec : routes) {
    ports[spec->servicePort].push_back(spec);
    if (spec->mode != conf::RouteMode::kHttp) continue;
    std::vector<std::string> paths = spec->paths;
    if (paths.empty()) paths.push_back("");
    for (const std::string& vhost : spec->vhosts) {
      for (const std::string& path : paths) hosts[vhost].emplace_back(path, spec);
    }
    if (spec->httpDefault) {
      for (const std::string& path : paths) hostless.emplace_back(path, spec);
    }
  }
}

}  // namespace

std::shared_ptr<const RouteTable> RouteTable::update(const RouteTable& previous,
                                                     std::span<const AppRoutes> changes,
                                                     uint64_t generation) {
  auto table = std::make_shared<RouteTable>();
  table->apps_ = previous.apps_;
  table->hosts_ = previous.hosts_;
  table->ports_ = previous.ports_;
  table->hostless_ = previous.hostless_;
  table->generation_ = generation;
  BuildStats& stats = table->stats_;
  uint64_t batch = newPersistentBatch();
  std::unordered_set<const HostRoutes*> fresh;  // host entries this update created
  // Port slots this update rebuilds, finished after the last change: many
  // apps may share one port, so the first snapshot (every app added) and a
  // mass removal must not re-rank that slot once per app.
  struct PortEdit {
    std::set<std::string> removed;    // apps whose candidates in the table go
    std::vector<RouteSpecPtr> added;  // candidates to add
    std::set<std::string> addedApps;  // the apps of `added`
  };
  std::map<int, PortEdit> portEdits;

  for (const AppRoutes& change : changes) {
    ++stats.changedApps;
    std::vector<RouteSpecPtr> routes;
    for (const RouteSpecPtr& spec : change.routes) {
      if (spec && spec->routed() && spec->appId == change.appId) routes.push_back(spec);
    }
    Contributions oldHosts, newHosts;
    PathSpecs oldHostless, newHostless;
    std::map<int, std::vector<RouteSpecPtr>> oldPorts, newPorts;
    if (const auto* old = table->apps_.find(change.appId)) {
      collect((*old)->routes, oldHosts, oldHostless, oldPorts);
    }
    collect(routes, newHosts, newHostless, newPorts);

    // Hosts the app was or is on.
    std::set<std::string> hosts;
    for (const auto& [host, _] : oldHosts) hosts.insert(host);
    for (const auto& [host, _] : newHosts) hosts.insert(host);
    static const PathSpecs kNone;
    auto pathsOn = [](const Contributions& contributions,
                      const std::string& host) -> const PathSpecs& {
      auto it = contributions.find(host);
      return it == contributions.end() ? kNone : it->second;
    };
    for (const std::string& host : hosts) {
      const auto* existing = table->hosts_.find(host);
      HostRoutes* entry = nullptr;
      std::shared_ptr<HostRoutes> copy;
      if (existing && fresh.count(existing->get())) {
        entry = const_cast<HostRoutes*>(existing->get());  // made by this update: unpublished
      } else {
        copy = existing ? std::make_shared<HostRoutes>(**existing) : std::make_shared<HostRoutes>();
        fresh.insert(copy.get());
        entry = copy.get();
      }
      stats.rebuiltSlots +=
          replaceInHost(*entry, change.appId, pathsOn(oldHosts, host), pathsOn(newHosts, host));
      if (entry->byPath.empty()) {
        table->hosts_ = table->hosts_.erase(host, &stats.copiedNodes);
      } else if (copy) {
        table->hosts_ = table->hosts_.set(host, std::move(copy), &stats.copiedNodes, batch);
      }
    }
    if (!oldHostless.empty() || !newHostless.empty()) {
      std::shared_ptr<const HostRoutes> entry = table->hostless_;
      if (!entry || !fresh.count(entry.get())) {
        entry = entry ? std::make_shared<HostRoutes>(*entry) : std::make_shared<HostRoutes>();
        fresh.insert(entry.get());
      }
      auto* routes = const_cast<HostRoutes*>(entry.get());  // made by this update: unpublished
      stats.rebuiltSlots += replaceInHost(*routes, change.appId, oldHostless, newHostless);
      table->hostless_ = routes->byPath.empty() ? nullptr : std::move(entry);
    }

    // Service ports: each touched port's slot is copied once per update and
    // finished after the last change (many apps may share one port: the
    // first snapshot must not re-rank it once per app).
    for (const auto& [port, _] : oldPorts) {
      PortEdit& edit = portEdits[port];
      edit.removed.insert(change.appId);
      // An app changed twice in one update: its first new candidates go too.
      if (edit.addedApps.erase(change.appId)) {
        std::erase_if(edit.added, [&](const RouteSpecPtr& s) { return s->appId == change.appId; });
      }
    }
    for (const auto& [port, specs] : newPorts) {
      PortEdit& edit = portEdits[port];
      edit.added.insert(edit.added.end(), specs.begin(), specs.end());
      edit.addedApps.insert(change.appId);
    }

    if (routes.empty()) {
      table->apps_ = table->apps_.erase(change.appId, &stats.copiedNodes);
    } else {
      auto entry = std::make_shared<AppEntry>();
      entry->routes = std::move(routes);
      table->apps_ = table->apps_.set(change.appId, std::move(entry), &stats.copiedNodes, batch);
    }
  }
  for (auto& [port, edit] : portEdits) {
    // One pass over the slot's candidates, however many apps changed on it.
    std::vector<RouteSpecPtr> candidates;
    if (const auto* existing = table->ports_.find(port)) {
      candidates.reserve((*existing)->candidates.size() + edit.added.size());
      for (const RouteSpecPtr& spec : (*existing)->candidates) {
        if (!edit.removed.count(spec->appId)) candidates.push_back(spec);
      }
    }
    if (candidates.empty() && edit.added.empty()) {
      table->ports_ = table->ports_.erase(port, &stats.copiedNodes);
      continue;
    }
    std::sort(edit.added.begin(), edit.added.end(), candidateBefore);
    size_t kept = candidates.size();
    candidates.insert(candidates.end(), edit.added.begin(), edit.added.end());
    std::inplace_merge(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(kept),
                       candidates.end(), candidateBefore);
    auto slot = std::make_shared<PathSlot>();
    slot->target = targetOf(candidates);
    slot->candidates = std::move(candidates);
    table->ports_ = table->ports_.set(port, std::move(slot), &stats.copiedNodes, batch);
    ++stats.rebuiltSlots;
  }
  return table;
}

}  // namespace corral::proxy
