#include "dns/dns_service.h"

#include "base/cancel.h"

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/http_client.h"
#include "base/http_server.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "dns/http_api.h"
#include "registry/marathon_follower.h"
#include "reload/process_sockets.h"
#include "reload/snapshot_pipeline.h"

namespace corral::dns {
namespace {

// Active agents from a corral master's /v1/agents answer; nullopt when it is not one.
std::optional<std::vector<AgentInfo>> parseAgents(const std::string& body) {
  auto j = parseJson(body);
  if (!j.ok() || !j->is_object() || !j->contains("agents") || !(*j)["agents"].is_array()) {
    return std::nullopt;
  }
  std::vector<AgentInfo> agents;
  for (const auto& a : (*j)["agents"]) {
    if (!a.is_object() || a.value("status", "") != "ACTIVE") continue;
    agents.push_back(AgentInfo{a.value("id", ""), a.value("hostname", ""), a.value("hostname", ""),
                               static_cast<uint16_t>(a.value("port", 5051))});
  }
  return agents;
}

std::string agentsKey(const std::vector<AgentInfo>& agents) {
  std::string k;
  for (const auto& a : agents) k += a.id + "@" + a.ip + ";";
  return k;
}

}  // namespace

class DnsService::Impl {
 public:
  Impl(Loop& loop, DnsServiceConfig config)
      : loop_(loop), config_(std::move(config)), builder_(config_.naming), agentPoll_(loop) {}

  ~Impl() {
    stop();
    metrics::global().removeOwner(this);
  }

  Status start() {
    auto empty = builder_.update(registry::Snapshot{}, registry::Diff{});
    if (!empty.ok())
      return makeError(empty.error().kind, "cannot build the zone: " + empty.error().message);
    auto server = DnsServer::start(config_.server, *empty);
    if (!server.ok()) return server.error();
    server_ = std::move(*server);

    registry::FollowerOptions fo;
    fo.masters = config_.naming.masters;
    fo.authorization = config_.masterAuthorization;
    fo.tls = config_.masterTls;
    fo.metricsLabels = "consumer=\"dns\"";
    // A 1 ms window still merges a burst read at once and keeps event ->
    // answer well under the 10 ms goal (the 5 ms default alone took half of it).
    fo.coalesceMs = config_.registryCoalesceMs;
    auto follower = registry::MarathonFollower::create(loop_, fo);
    if (!follower.ok()) return follower.error();
    follower_ = std::move(*follower);

    pipeline_ = std::make_unique<reload::SnapshotPipeline>(
        loop_, reload::PipelineOptions{"corral_dns", "zone", nullptr},
        reload::SnapshotPipeline::typed<Zone>(
            [this](const registry::Snapshot& s, const registry::Diff& d) {
              return builder_.update(s, d);
            }),
        [this](const reload::AnySnapshot& zone) {
          publishedVersion_ = server_->publish(zone.as<Zone>());
          return publishedVersion_;
        });
    firstZone_ = *empty;
    metrics::global().gaugeFn(
        "corral_dns_zone_records", "Records in the published zone.",
        [this] { return static_cast<double>(zone()->stats().records); }, "", this);

    api_ = std::make_unique<HttpApi>(
        [this] { return zone(); }, apiConfig(),
        [this] { return metrics::global().render() + server_->metricsText(); });
    http_ = std::make_unique<http::Server>(
        loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          api_->handle(req, std::move(ex));
        });
    // Through reload's ProcessSockets: a takeover hands this port over too.
    auto socket = reload::ProcessSockets::get().controlListener(config_.httpHost, config_.httpPort);
    if (!socket.ok()) return socket.error();
    auto bound = http_->adopt(socket->release());
    if (!bound.ok()) return bound.error();
    httpPort_ = *bound;

    follower_->subscribe([this](std::shared_ptr<const registry::Snapshot> snap,
                                const registry::Diff& diff) { pipeline_->offer(snap, diff); });
    follower_->start();
    agentPoll_.start(100, config_.agentPollMs, [this] { pollAgents(); });
    log::info("Mesos-DNS HTTP API on {}:{}; the zone follows {}", config_.httpHost, httpPort_,
              fmt::format("{}", fmt::join(config_.naming.masters, ",")));
    return Status::Ok();
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    agentPoll_.stop();
    agentPollCall_.reset();
    if (follower_) follower_->stop();
    if (http_) http_->close();
    if (server_) server_->stop();
  }

  std::shared_ptr<const Zone> zone() const {
    auto z = pipeline_ ? pipeline_->lastGood<Zone>() : nullptr;
    return z ? z : firstZone_;
  }

  uint16_t dnsPort() const { return server_ ? server_->port() : 0; }
  // Answering from the loaded catalog: the published zone was built from a
  // synced registry snapshot (generation > 0), not only the empty first zone;
  // a takeover answers nothing before this.
  bool ready() const {
    return !stopped_ && follower_->current()->version > 0 && pipeline_->generation() > 0 &&
           publishedVersion_ > 0 && server_->applied(publishedVersion_);
  }
  int httpPort() const { return httpPort_; }

 private:
  Json apiConfig() const {
    const ServerConfig& sc = config_.server;
    const ZoneNaming& n = config_.naming;
    Json c;
    c["domain"] = n.domain;
    c["listener"] = sc.address;
    c["port"] = dnsPort();
    c["httpport"] = config_.httpPort;
    c["masters"] = n.masters;
    c["resolvers"] = sc.resolvers;
    c["recurseOn"] = sc.forwarding;
    c["ttl"] = n.options.ttl;
    c["enforceRFC952"] = n.options.enforceRfc952;
    c["frameworkName"] = n.framework;
    c["refreshSeconds"] = 0;  // event driven: no polling
    return c;
  }

  // Agents without tasks: a corral master lists every agent at /v1/agents; a
  // real Marathon answers 404 and then agents come from the tasks only.
  void pollAgents() {
    if (!agentListAvailable_ || stopped_) return;
    std::string source =
        follower_->source().empty() ? config_.naming.masters.front() : follower_->source();
    std::string host;
    int port;
    if (!http::splitHostPort(source, 8080, &host, &port)) return;
    http::Request req;
    req.target = "/v1/agents";
    if (!config_.masterAuthorization.empty()) {
      req.headers.emplace_back("Authorization", config_.masterAuthorization);
    }
    // Raw `this`: agentPollCall_ is this object's cancel handle for the call
    // (a newer poll replaces, and so cancels, an older one still in flight).
    http::ClientOptions copts;
    copts.tls = config_.masterTls;
    agentPollCall_ = http::fetch(
        loop_, host, port, req,
        [this, source](Result<http::Response> r) {
          if (!r.ok() || stopped_) return;
          if (r->status == 404) {
            agentListAvailable_ = false;
            return;
          }
          auto agents = parseAgents(r->body);
          if (!agents || agentsKey(*agents) == knownAgentsKey_) return;
          knownAgentsKey_ = agentsKey(*agents);
          log::info("{} active agent(s) known from {}", agents->size(), source);
          builder_.setKnownAgents(std::move(*agents));
          pipeline_->rebuild();
        },
        copts);
  }

  Loop& loop_;
  DnsServiceConfig config_;
  ZoneBuilder builder_;  // re-encodes only the apps a diff touches
  std::unique_ptr<DnsServer> server_;
  std::unique_ptr<registry::MarathonFollower> follower_;
  std::unique_ptr<reload::SnapshotPipeline> pipeline_;
  std::shared_ptr<const Zone> firstZone_;  // served until the first snapshot
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<http::Server> http_;
  int httpPort_ = 0;
  Timer agentPoll_;
  CancelHandle agentPollCall_;  // the /v1/agents request in flight
  bool agentListAvailable_ = true;
  std::string knownAgentsKey_;
  uint64_t publishedVersion_ = 0;  // of the last zone handed to the workers
  bool stopped_ = false;
};

DnsService::DnsService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnsService::~DnsService() = default;

Result<std::unique_ptr<DnsService>> DnsService::start(Loop& loop, DnsServiceConfig config) {
  if (config.naming.masters.empty())
    return makeError(ErrorKind::kInvalid, "no master to follow", "/masters");
  auto impl = std::make_unique<Impl>(loop, std::move(config));
  Status s = impl->start();
  if (!s.ok()) return s.error();
  return std::unique_ptr<DnsService>(new DnsService(std::move(impl)));
}

void DnsService::stop() { impl_->stop(); }
uint16_t DnsService::dnsPort() const { return impl_->dnsPort(); }
bool DnsService::ready() const { return impl_->ready(); }
int DnsService::httpPort() const { return impl_->httpPort(); }
std::shared_ptr<const Zone> DnsService::zone() const { return impl_->zone(); }

}  // namespace corral::dns
