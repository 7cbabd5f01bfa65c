#include "proxy/table_route_lookup.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "base/http_request_parser.h"
#include "base/loop.h"

namespace corral::proxy {

namespace {

// The value of cookie `name` in a Cookie header ("" when absent).
std::string_view cookieValue(const http::RequestHead& head, std::string_view name) {
  std::string_view cookies = head.header("Cookie").value_or("");
  while (!cookies.empty()) {
    size_t semi = cookies.find(';');
    std::string_view pair = cookies.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  return {};
}

Outcome balancerOutcome(PeerOutcome outcome) {
  switch (outcome) {
    case PeerOutcome::kOk:
      return Outcome::kSuccess;
    case PeerOutcome::kAborted:
      return Outcome::kAborted;
    default:
      return Outcome::kFailure;
  }
}

// Where to connect; an address that is not an IP literal stays AF_UNSPEC
// (its connects fail and passive health ejects it: names are resolved by
// the snapshot's builder, never on the data plane).
sockaddr_storage addressOf(const PeerInfo& info) {
  sockaddr_storage out{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET, info.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(info.port));
  } else if (inet_pton(AF_INET6, info.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(info.port));
  }
  return out;
}

}  // namespace

// The balancer of one route on one worker, with the peers it hands out.
class TablePicker : public PeerPicker {
 public:
  TablePicker(Loop& loop, const BackendKey& key, PassiveHealth health, uint64_t seed)
      : loop_(loop),
        health_(health),
        seed_(seed),
        name_(key.appId + ":" + std::to_string(key.portIndex)) {}

  // Brings the picker up to `target` (cheap when nothing changed).
  void sync(const RouteTarget& target, const RoutingSnapshot& snapshot, uint64_t epoch) {
    if (syncedEpoch_ == epoch) return;
    syncedEpoch_ = epoch;
    std::vector<std::pair<PeerList, bool>> sources;
    for (const RouteMember& member : target.members) {
      auto it = snapshot.peers.find(member.key);
      sources.emplace_back(it == snapshot.peers.end() ? nullptr : it->second, member.draining);
    }
    if (spec_ == target.spec && sources == sources_) return;
    if (!balancer_ || !spec_ || spec_->balance != target.spec->balance ||
        spec_->sticky != target.spec->sticky) {
      balancer_.emplace(target.spec->balance, target.spec->sticky, health_, seed_);
    }
    // Sessions may still hold peers (and views into the spec) of the
    // current generation: it stays alive until their picks are released.
    if (outstanding_ > 0 && peers_) retired_.push_back({peers_, spec_});
    spec_ = target.spec;
    sources_ = std::move(sources);
    std::vector<PeerInfo> infos;
    for (const auto& [list, draining] : sources_) {
      if (!list) continue;
      for (PeerInfo info : *list) {
        info.draining = info.draining || draining;
        infos.push_back(std::move(info));
      }
    }
    balancer_->setPeers(infos);
    auto peers = std::make_shared<std::vector<Peer>>();
    peers->reserve(infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
      Peer peer;
      peer.id = hashBytes(infos[i].id);
      peer.address = addressOf(infos[i]);
      peers->push_back(peer);
    }
    peers_ = std::move(peers);
  }

  const Peer* pick(const PickContext& ctx) override {
    if (!balancer_ || balancer_->size() == 0) return nullptr;
    PickRequest request;
    request.clientAddressHash = hashBytes(ctx.clientIp);
    if (ctx.head != nullptr) {
      const conf::Balance& balance = spec_->balance;
      if (balance.algorithm == conf::BalanceAlgorithm::kHashHeader) {
        request.hashValue = ctx.head->header(balance.hashKey).value_or("");
      } else if (balance.algorithm == conf::BalanceAlgorithm::kHashCookie) {
        request.hashValue = cookieValue(*ctx.head, balance.hashKey);
      }
      if (spec_->sticky) request.stickyCookie = cookieValue(*ctx.head, kStickyCookieName);
    }
    int64_t now = static_cast<int64_t>(loop_.nowMs());
    // A retry must go to a peer not tried yet; a choice that repeats one
    // is handed back and the balancer asked again, a bounded number of
    // times (hash choices repeat: their retries end here).
    for (size_t attempt = 0; attempt < balancer_->size(); ++attempt) {
      std::optional<Pick> choice = balancer_->get(request, now);
      if (!choice) return nullptr;
      const Peer& peer = (*peers_)[choice->index];
      if (ctx.wasTried(peer.id)) {
        balancer_->release(*choice, Outcome::kAborted, now);
        continue;
      }
      if (choice->setCookie && ctx.setCookie != nullptr) {
        *ctx.setCookie = balancer_->stickyValue(choice->index);
      }
      ++outstanding_;
      return &peer;
    }
    return nullptr;
  }

  void release(const Peer& peer, PeerOutcome outcome) override {
    // The balancer finds the peer by its uid, even after a re-list.
    if (balancer_) {
      balancer_->release(Pick{0, peer.id, false}, balancerOutcome(outcome),
                         static_cast<int64_t>(loop_.nowMs()));
    }
    if (outstanding_ > 0 && --outstanding_ == 0) retired_.clear();
  }

  const conf::RouteSpec& spec() const { return *spec_; }
  RouteCounters& counters() { return counters_; }
  const std::string& name() const { return name_; }
  const Balancer* balancer() const { return balancer_ ? &*balancer_ : nullptr; }

 private:
  struct Generation {
    std::shared_ptr<const std::vector<Peer>> peers;
    RouteSpecPtr spec;
  };

  Loop& loop_;
  PassiveHealth health_;
  uint64_t seed_;
  uint64_t syncedEpoch_ = 0;
  RouteSpecPtr spec_;
  std::vector<std::pair<PeerList, bool>> sources_;  // each member's peers, draining
  std::optional<Balancer> balancer_;
  std::shared_ptr<const std::vector<Peer>> peers_;  // index = balancer index
  std::vector<Generation> retired_;
  size_t outstanding_ = 0;  // picks not released yet
  std::string name_;
  RouteCounters counters_;
};

TableRouteLookup::TableRouteLookup(Loop& loop, PassiveHealth health, uint64_t seed)
    : loop_(loop), health_(health), seed_(seed) {}

TableRouteLookup::~TableRouteLookup() = default;

void TableRouteLookup::setSnapshot(std::shared_ptr<const RoutingSnapshot> snapshot) {
  snapshot_ = std::move(snapshot);
  ++epoch_;
  // Pickers of backends the snapshot no longer lists go; sessions that
  // hold one keep it alive through their RouteDecision.
  for (auto it = pickers_.begin(); it != pickers_.end();) {
    bool listed = snapshot_ && snapshot_->peers.count(it->first) > 0;
    it = listed ? std::next(it) : pickers_.erase(it);
  }
}

TablePicker* TableRouteLookup::pickerFor(const RouteTarget& target,
                                         std::shared_ptr<const void>* keepAlive) {
  if (target.members.empty() || !target.spec) return nullptr;
  auto& slot = pickers_[target.members[0].key];
  if (!slot) slot = std::make_shared<TablePicker>(loop_, target.members[0].key, health_, seed_);
  slot->sync(target, *snapshot_, epoch_);
  *keepAlive = slot;
  return slot.get();
}

bool TableRouteLookup::lookup(const http::RequestHead& head, RouteDecision* out) {
  if (!snapshot_ || !snapshot_->table) return false;
  std::string_view target = head.target();
  std::string_view path = target.substr(0, target.find('?'));
  const RouteTarget* route = snapshot_->table->lookupHttp(head.header("Host").value_or(""), path);
  if (route == nullptr) return false;
  TablePicker* picker = pickerFor(*route, &out->keepAlive);
  if (picker == nullptr) return false;
  const conf::RouteSpec& spec = picker->spec();
  out->picker = picker;
  out->counters = &picker->counters();
  out->name = picker->name();
  if (!spec.proxyPassPath.empty()) {
    // marathon-lb's PROXYPASS: the prefix goes, Host becomes the vhost.
    out->stripPrefix = spec.proxyPassPath;
    if (!spec.vhosts.empty()) out->hostRewrite = spec.vhosts.front();
  }
  out->flags = 0;
  if (spec.redirectToHttps) out->flags |= RouteDecision::kRedirectToHttps;
  if (spec.useHsts) out->flags |= RouteDecision::kHsts;
  out->allowedNetworks = spec.allowedNetworks.empty() ? nullptr : &spec.allowedNetworks;
  out->auth = spec.auth ? &*spec.auth : nullptr;
  if (spec.retries) out->maxConnectAttempts = 1 + *spec.retries;
  if (spec.timeouts.connectMs)
    out->connectTimeoutMs = static_cast<uint64_t>(*spec.timeouts.connectMs);
  if (spec.timeouts.serverMs)
    out->responseTimeoutMs = static_cast<uint64_t>(*spec.timeouts.serverMs);
  return true;
}

void TableRouteLookup::forEachCounters(
    const std::function<void(const BackendKey&, const RouteCounters&)>& visit) const {
  for (const auto& [key, picker] : pickers_) visit(key, picker->counters());
}

PeerPicker* TableRouteLookup::portPicker(int servicePort, std::shared_ptr<const void>* keepAlive) {
  if (!snapshot_ || !snapshot_->table) return nullptr;
  const RouteTarget* route = snapshot_->table->lookupPort(servicePort);
  return route ? pickerFor(*route, keepAlive) : nullptr;
}

}  // namespace corral::proxy
