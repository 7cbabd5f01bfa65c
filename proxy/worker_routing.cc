#include "proxy/worker_routing.h"

#include <algorithm>
#include <limits>

#include "base/http_request_parser.h"
#include "base/loop.h"

namespace corral::proxy {

namespace {

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string_view cookieValue(const http::RequestHead& head, std::string_view name) {
  std::optional<std::string_view> header = head.header("Cookie");
  if (!header) return {};
  std::string_view rest = *header;
  while (!rest.empty()) {
    size_t end = rest.find(';');
    std::string_view pair = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return {};
}

Outcome outcomeOf(PeerOutcome outcome) {
  switch (outcome) {
    case PeerOutcome::kOk:
      return Outcome::kSuccess;
    case PeerOutcome::kAborted:
      return Outcome::kAborted;
    default:
      return Outcome::kFailure;
  }
}

}  // namespace

// ---- BackendPicker ----

namespace {

// Blue/green, marathon-lb's rule: of an older colour (member m), as many
// task ports drain as the newer colours have up (running, and healthy when
// checked), bounded so that the two together keep the newer colour's
// HAPROXY_DEPLOYMENT_TARGET_INSTANCES: min(its task ports, up,
// max(0, up + its instances - target)). Its first tasks by id drain first;
// the others keep taking requests until the newer colour has enough.
size_t drainCount(const RouteTarget& target, const std::vector<const BackendSet*>& sets, size_t m) {
  size_t up = 0;
  int targetInstances = 1;
  bool first = true;
  for (size_t i = 0; i < sets.size(); ++i) {
    if (target.members[i].draining || sets[i] == nullptr) continue;
    up += sets[i]->peers.size();
    if (first) targetInstances = sets[i]->targetInstances;
    first = false;
  }
  int64_t drainable =
      std::max<int64_t>(0, static_cast<int64_t>(up) + sets[m]->instances - targetInstances);
  return std::min({sets[m]->peers.size(), up, static_cast<size_t>(drainable)});
}

}  // namespace

void PeerRefs::remove(uint64_t peerId) {
  auto it = refs_.find(peerId);
  if (it == refs_.end() || --it->second > 0) return;
  refs_.erase(it);
  if (onGone_) onGone_(peerId);
}

BackendPicker::BackendPicker(Loop& loop, const RouteTarget& target, const ProxySnapshot& snapshot,
                             uint64_t seed, PeerRefs* refs)
    : loop_(loop),
      refs_(refs),
      balance_(target.spec->balance),
      sticky_(target.spec->sticky),
      balancer_(target.spec->balance, target.spec->sticky, PassiveHealth{}, seed),
      name_(target.members[0].key.appId + ":" + std::to_string(target.members[0].key.portIndex)) {
  sync(target, snapshot);
}

BackendPicker::~BackendPicker() {
  if (refs_ == nullptr) return;
  for (const auto& [id, slot] : slots_) refs_->remove(id);
}

bool BackendPicker::atLimit() const {
  // Requests and connections in progress on every worker (the counters are
  // shared), so the limit holds for the proxy as a whole.
  int64_t active = 0;
  for (const auto& counters : memberCounters_) {
    active += counters->active.load(std::memory_order_relaxed);
  }
  return active >= *spec_->maxConn;
}

int64_t BackendPicker::nowMs() { return static_cast<int64_t>(loop_.nowMs()); }

void BackendPicker::dropSlot(std::unordered_map<uint64_t, std::unique_ptr<Slot>>::iterator it) {
  uint64_t id = it->first;
  slots_.erase(it);
  if (refs_ != nullptr) refs_->remove(id);
}

bool BackendPicker::fits(const conf::RouteSpec& spec) const {
  return spec.balance == balance_ && spec.sticky == sticky_;
}

void BackendPicker::sync(const RouteTarget& target, const ProxySnapshot& snapshot) {
  std::vector<const BackendSet*> sets;
  sets.reserve(target.members.size());
  for (const RouteMember& m : target.members) sets.push_back(snapshot.backend(m.key));
  spec_ = target.spec;
  if (sets == sets_) return;
  sets_ = sets;
  memberCounters_.clear();
  for (const BackendSet* set : sets) {
    if (set != nullptr) memberCounters_.push_back(set->counters);
  }
  primaryOwned_ = sets[0] ? sets[0]->counters : nullptr;
  primary_ = primaryOwned_.get();
  for (auto& [id, slot] : slots_) slot->gone = true;
  std::vector<PeerInfo> infos;
  for (size_t m = 0; m < sets.size(); ++m) {
    const BackendSet* set = sets[m];
    if (set == nullptr) continue;
    size_t draining = target.members[m].draining ? drainCount(target, sets, m) : 0;
    for (size_t i = 0; i < set->peers.size(); ++i) {
      PeerInfo info = set->infos[i];
      // A peer drains when its set says so or its colour is the older one
      // (the first `draining` peers of an old blue/green colour).
      info.draining = info.draining || i < draining;
      infos.push_back(std::move(info));
      auto& slot = slots_[set->peers[i].id];
      if (!slot) {
        slot = std::make_unique<Slot>();
        if (refs_ != nullptr) refs_->add(set->peers[i].id);
      }
      slot->peer = set->peers[i];
      slot->ownCounters = set->counters;
      slot->counters = set->counters.get();
      slot->gone = false;
    }
  }
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->second->gone && it->second->inUse == 0) {
      dropSlot(it++);
    } else {
      ++it;
    }
  }
  balancer_.setPeers(infos);
}

const Peer* BackendPicker::pick(const PickContext& ctx) {
  if (spec_->maxConn && atLimit()) {
    if (ctx.atLimit != nullptr) *ctx.atLimit = true;
    return nullptr;
  }
  PickRequest request;
  request.clientAddressHash = hashBytes(ctx.clientIp);
  if (ctx.head != nullptr) {
    if (balance_.algorithm == conf::BalanceAlgorithm::kHashHeader) {
      request.hashValue = ctx.head->header(balance_.hashKey).value_or("");
    } else if (balance_.algorithm == conf::BalanceAlgorithm::kHashCookie) {
      request.hashValue = cookieValue(*ctx.head, balance_.hashKey);
    }
    if (sticky_) request.stickyCookie = cookieValue(*ctx.head, kStickyCookieName);
  }
  int64_t now = nowMs();
  // A retry must go to a task not tried yet: ask again, at most once per peer.
  for (size_t attempt = 0; attempt <= balancer_.size(); ++attempt) {
    std::optional<Pick> pick = balancer_.get(request, now);
    if (!pick) break;
    auto it = slots_.find(pick->uid);
    if (ctx.wasTried(pick->uid) || it == slots_.end()) {
      balancer_.release(*pick, Outcome::kAborted, now);
      continue;
    }
    Slot& slot = *it->second;
    // Sticky: a client without a valid cookie is told which task it got.
    if (pick->setCookie && ctx.setCookie != nullptr) {
      *ctx.setCookie = balancer_.stickyValue(pick->index);
    }
    ++slot.inUse;
    slot.counters->requests.fetch_add(1, std::memory_order_relaxed);
    slot.counters->active.fetch_add(1, std::memory_order_relaxed);
    return &slot.peer;
  }
  if (primary_ != nullptr) primary_->noPeer.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void BackendPicker::release(const Peer& peer, PeerOutcome outcome) {
  Pick pick;
  pick.index = std::numeric_limits<size_t>::max();  // found again by uid
  pick.uid = peer.id;
  balancer_.release(pick, outcomeOf(outcome), nowMs());
  auto it = slots_.find(peer.id);
  if (it == slots_.end()) return;
  Slot& slot = *it->second;
  slot.counters->active.fetch_sub(1, std::memory_order_relaxed);
  if (outcomeOf(outcome) == Outcome::kFailure) {
    slot.counters->failures.fetch_add(1, std::memory_order_relaxed);
  }
  if (--slot.inUse == 0 && slot.gone) dropSlot(it);
}

// ---- WorkerRouting ----

WorkerRouting::WorkerRouting(Loop& loop, int workerIndex) : loop_(loop), index_(workerIndex) {
  state_ = std::make_shared<WorkerState>();
  auto empty = std::make_shared<ProxySnapshot>();
  empty->table = std::make_shared<const RouteTable>();
  state_->snapshot = std::move(empty);
}

void WorkerRouting::install(std::shared_ptr<const ProxySnapshot> snapshot) {
  if (!snapshot) return;
  auto state = std::make_shared<WorkerState>();
  state->snapshot = std::move(snapshot);
  // Requests routed before keep the old state (and its pickers) alive.
  state_ = std::move(state);
  // A bounded sweep from where the last one stopped, wrapping around once.
  auto it = pickers_.lower_bound(sweepFrom_);
  size_t budget = std::min(kSweepPerInstall, pickers_.size());
  for (size_t seen = 0; seen < budget; ++seen) {
    if (it == pickers_.end()) it = pickers_.begin();
    if (state_->snapshot->backend(it->first) == nullptr) {
      dropped_.push_back(it->first);
      it = pickers_.erase(it);
    } else {
      ++it;
    }
  }
  sweepFrom_ = it == pickers_.end() ? BackendKey{} : it->first;
}

BackendPicker* WorkerRouting::pickerFor(const RouteTarget& target,
                                        std::shared_ptr<const void>* hold) {
  *hold = state_;
  auto cached = state_->cache.find(&target);
  if (cached != state_->cache.end()) {
    queueStats(*cached->second, target.members[0].key);
    return cached->second.get();
  }
  auto& picker = pickers_[target.members[0].key];
  if (!picker || !picker->fits(*target.spec)) {
    uint64_t seed = hashBytes(target.members[0].key.appId) ^ (static_cast<uint64_t>(index_) << 32) ^
                    static_cast<uint64_t>(target.members[0].key.portIndex);
    auto fresh =
        std::make_shared<BackendPicker>(loop_, target, *state_->snapshot, seed, &peerRefs_);
    if (picker) {
      // The route's totals go on; exchanges in flight end on the old picker.
      fresh->routeCounters() = picker->routeCounters();
      fresh->routeCounters().active = 0;
    }
    picker = std::move(fresh);
  } else {
    picker->sync(target, *state_->snapshot);
  }
  state_->cache.emplace(&target, picker);
  queueStats(*picker, target.members[0].key);
  return picker.get();
}

void WorkerRouting::queueStats(BackendPicker& picker, const BackendKey& key) {
  if (picker.statsQueued) return;
  picker.statsQueued = true;
  statsQueue_.push_back(key);
}

void WorkerRouting::decide(const RouteTarget& target, RouteDecision* out) {
  const conf::RouteSpec& spec = *target.spec;
  BackendPicker* picker = pickerFor(target, &out->keepAlive);
  out->picker = picker;
  out->counters = &picker->routeCounters();
  out->name = picker->name();
  if (!spec.proxyPassPath.empty()) {
    out->stripPrefix = spec.proxyPassPath;
    out->addPrefix = std::string_view();
    // marathon-lb's PROXYPASS also sets Host to the app's vhost.
    if (!spec.vhosts.empty()) out->hostRewrite = spec.vhosts.front();
  }
  if (spec.redirectToHttps) out->flags |= RouteDecision::kRedirectToHttps;
  if (spec.useHsts) out->flags |= RouteDecision::kHsts;
  // Views into the spec: it lives as long as the snapshot keepAlive holds.
  out->allowedNetworks = spec.allowedNetworks.empty() ? nullptr : &spec.allowedNetworks;
  out->auth = spec.auth ? &*spec.auth : nullptr;
  if (spec.retries) out->maxConnectAttempts = *spec.retries + 1;
  if (spec.timeouts.connectMs)
    out->connectTimeoutMs = static_cast<uint64_t>(*spec.timeouts.connectMs);
  if (spec.timeouts.serverMs)
    out->responseTimeoutMs = static_cast<uint64_t>(*spec.timeouts.serverMs);
  if (spec.timeouts.idleMs) out->idleTimeoutMs = static_cast<uint64_t>(*spec.timeouts.idleMs);
  if (spec.timeouts.tunnelMs) out->tunnelIdleMs = static_cast<uint64_t>(*spec.timeouts.tunnelMs);
  out->retryIdempotent = spec.retryIdempotent;
}

void WorkerRouting::publishRouteStats(size_t budget) {
  std::vector<std::pair<BackendKey, RouteCounters>> moved;
  for (size_t n = statsQueue_.size(); n > 0 && budget > 0; --n, --budget) {
    BackendKey key = std::move(statsQueue_.front());
    statsQueue_.pop_front();
    auto it = pickers_.find(key);
    if (it == pickers_.end()) continue;  // dropped: see below
    BackendPicker& picker = *it->second;
    moved.emplace_back(key, picker.routeCounters());
    if (picker.routeCounters().active > 0) {
      statsQueue_.push_back(std::move(key));  // in flight: its end moves the counters again
    } else {
      picker.statsQueued = false;
    }
  }
  std::vector<BackendKey> gone;
  for (const BackendKey& key : dropped_) {
    if (!pickers_.count(key)) gone.push_back(key);  // else routed again since
  }
  dropped_.clear();
  if (moved.empty() && gone.empty()) return;
  std::lock_guard<std::mutex> lock(statsMutex_);
  for (auto& [key, counters] : moved) published_[key] = counters;
  for (const BackendKey& key : gone) published_.erase(key);
}

std::map<BackendKey, RouteCounters> WorkerRouting::routeStats() const {
  std::lock_guard<std::mutex> lock(statsMutex_);
  return published_;
}

void WorkerRouting::forEachCounters(
    const std::function<void(const BackendKey&, const RouteCounters&)>& visit) const {
  for (const auto& [key, picker] : pickers_) visit(key, picker->routeCounters());
}

// ---- lookups ----

bool FrontendLookup::lookup(const http::RequestHead& head, RouteDecision* out) {
  std::string_view host = head.header("Host").value_or(std::string_view());
  const RouteTarget* target = routing_.snapshot().table->lookupHttp(host, head.target());
  if (target == nullptr) {
    routing_.counters().noRoute.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  routing_.counters().requests.fetch_add(1, std::memory_order_relaxed);
  routing_.decide(*target, out);
  return true;
}

bool PortLookup::lookup(const http::RequestHead&, RouteDecision* out) {
  const RouteTarget* target = routing_.snapshot().table->lookupPort(port_);
  if (target == nullptr || target->spec->mode != conf::RouteMode::kHttp) {
    routing_.counters().noRoute.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  routing_.counters().requests.fetch_add(1, std::memory_order_relaxed);
  routing_.decide(*target, out);
  return true;
}

}  // namespace corral::proxy
