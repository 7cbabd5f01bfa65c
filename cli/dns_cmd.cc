// `corral dns`: an authoritative DNS server (Mesos-DNS names) fed by the
// scheduler's event stream, with Mesos-DNS's HTTP API and /metrics.
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "base/http_client.h"
#include "base/http_server.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cli/commands.h"
#include "dns/dns_server.h"
#include "dns/http_api.h"
#include "dns/registry_zone.h"
#include "registry/marathon_follower.h"

namespace corral::cli {

namespace {

struct DnsFlags {
  std::string listen = "0.0.0.0:53";
  std::string httpListen = "0.0.0.0:8123";
  std::vector<std::string> masters{"127.0.0.1:8080"};
  std::string domain = "mesos";
  std::string frameworkName = "marathon";
  uint32_t ttl = 5;
  std::vector<std::string> resolvers;
  bool noForward = false;
  bool enforceRfc952 = false;
  bool includeUnhealthy = false;
  int workers = 0;
};

int runDns(const DnsFlags& f) {
  log::setComponent("dns");
  std::string host, httpHost;
  int port, httpPort;
  if (!http::splitHostPort(f.listen, 53, &host, &port)) {
    log::error("--listen: expected ip:port, got '{}'", f.listen);
    return 2;
  }
  if (!http::splitHostPort(f.httpListen, 8123, &httpHost, &httpPort)) {
    log::error("--http-listen: expected ip:port, got '{}'", f.httpListen);
    return 2;
  }
  dns::ZoneNaming naming;
  naming.domain = f.domain;
  naming.framework = f.frameworkName;
  naming.options.ttl = f.ttl;
  naming.options.enforceRfc952 = f.enforceRfc952;
  naming.options.onlyHealthy = !f.includeUnhealthy;
  naming.masters = f.masters;
  if (host != "0.0.0.0" && host != "::") naming.options.nameServerIps.push_back(host);

  auto empty = dns::buildZone(dns::zoneInputFromSnapshot(registry::Snapshot{}, naming));
  if (!empty.ok()) {
    log::error("cannot build the zone: {}", empty.error().message);
    return 1;
  }
  dns::ServerConfig sc;
  sc.address = host;
  sc.port = static_cast<uint16_t>(port);
  sc.workers = f.workers > 0 ? f.workers : std::max(1u, std::thread::hardware_concurrency());
  sc.resolvers = f.resolvers;
  sc.forwarding = !f.noForward && !f.resolvers.empty();
  auto server = dns::DnsServer::start(sc, *empty);
  if (!server.ok()) {
    log::error("{}", server.error().message);
    return 1;
  }
  std::mutex zoneMu;
  std::shared_ptr<const dns::Zone> zone = *empty;

  Loop loop;
  registry::FollowerOptions fo;
  fo.masters = f.masters;
  fo.metricsLabels = "consumer=\"dns\"";
  // A zone is updated in well under a millisecond: a 1 ms window still merges
  // a burst read at once, and keeps event -> answer under the 10 ms goal
  // (the 5 ms default alone took half of it).
  fo.coalesceMs = 1;
  auto follower = registry::MarathonFollower::create(loop, fo);
  if (!follower.ok()) {
    log::error("{}", follower.error().message);
    return 2;
  }
  auto& reg = metrics::global();
  auto& updates = reg.counter("corral_dns_zone_updates_total", "Zones built and published.");
  auto& rejected = reg.counter("corral_dns_zone_rejected_total",
                               "Snapshots that could not be turned into a zone (last good kept).");
  auto& eventToZone = reg.histogram(
      "corral_dns_event_to_zone_seconds",
      "Time from a scheduler event arriving to the zone that reflects it being published.",
      {0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1});
  auto& buildSeconds = reg.histogram("corral_dns_zone_build_seconds", "Time to build a zone.",
                                     {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1});
  reg.gaugeFn("corral_dns_zone_records", "Records in the published zone.", [&] {
    std::lock_guard<std::mutex> lock(zoneMu);
    return static_cast<double>(zone ? zone->stats().records : 0);
  });
  // Agents without tasks: a corral master lists every agent at /v1/agents.
  std::vector<dns::AgentInfo> knownAgents;
  std::shared_ptr<const registry::Snapshot> lastSnap;
  // Re-encodes only the apps in the diff (and the agent names when agents change).
  dns::ZoneBuilder zoneBuilder(naming);
  auto rebuild = [&](const registry::Snapshot& snap, const registry::Diff& diff) {
    auto t0 = std::chrono::steady_clock::now();
    auto built = zoneBuilder.update(snap, diff);
    if (!built.ok()) {
      rejected.inc();
      log::error("snapshot {} rejected, keeping the last good zone: {}", snap.version,
                 built.error().message);
      return;
    }
    (*server)->publish(*built);
    {
      std::lock_guard<std::mutex> lock(zoneMu);
      zone = *built;
    }
    double buildS = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    updates.inc();
    buildSeconds.observe(buildS);
    if (snap.firstEventArrivedMs > 0) {
      eventToZone.observe(static_cast<double>(wallMs() - snap.firstEventArrivedMs) / 1000.0);
    }
    log::info("zone updated from snapshot {}: {} apps, {} records, built in {:.2f} ms",
              snap.version, snap.apps.size(), (*built)->stats().records, buildS * 1000);
  };
  (*follower)->subscribe(
      [&](std::shared_ptr<const registry::Snapshot> snap, const registry::Diff& diff) {
        lastSnap = snap;
        rebuild(*snap, diff);
      });
  Timer agentPoll(loop);
  bool agentListAvailable = true;
  auto pollAgents = [&] {
    std::string source = (*follower)->source().empty() ? f.masters.front() : (*follower)->source();
    std::string h;
    int p;
    if (!agentListAvailable || !http::splitHostPort(source, 8080, &h, &p)) return;
    http::Request req;
    req.target = "/v1/agents";
    // `source` is copied: this runs after pollAgents has returned.
    http::fetch(loop, h, p, req, [&, source](Result<http::Response> r) {
      if (!r.ok()) return;
      if (r->status == 404) {
        agentListAvailable = false;  // a real Marathon: agents come from tasks only
        return;
      }
      auto j = parseJson(r->body);
      if (!j.ok() || !j->contains("agents") || !(*j)["agents"].is_array()) return;
      std::vector<dns::AgentInfo> agents;
      for (const auto& a : (*j)["agents"]) {
        if (!a.is_object() || a.value("status", "") != "ACTIVE") continue;
        agents.push_back(dns::AgentInfo{a.value("id", ""), a.value("hostname", ""),
                                        a.value("hostname", ""),
                                        static_cast<uint16_t>(a.value("port", 5051))});
      }
      auto key = [](const std::vector<dns::AgentInfo>& v) {
        std::string k;
        for (const auto& a : v) k += a.id + "@" + a.ip + ";";
        return k;
      };
      if (key(agents) == key(knownAgents)) return;
      knownAgents = agents;
      zoneBuilder.setKnownAgents(std::move(agents));
      log::info("{} active agent(s) known from {}", knownAgents.size(), source);
      if (lastSnap) rebuild(*lastSnap, registry::Diff{});
    });
  };
  agentPoll.start(100, 5000, pollAgents);
  Json config;
  config["domain"] = f.domain;
  config["listener"] = host;
  config["port"] = port;
  config["httpport"] = httpPort;
  config["masters"] = f.masters;
  config["resolvers"] = f.resolvers;
  config["recurseOn"] = sc.forwarding;
  config["ttl"] = f.ttl;
  config["enforceRFC952"] = f.enforceRfc952;
  config["frameworkName"] = f.frameworkName;
  config["refreshSeconds"] = 0;  // event driven: no polling
  dns::HttpApi api(
      [&] {
        std::lock_guard<std::mutex> lock(zoneMu);
        return zone;
      },
      config, [&] { return metrics::global().render() + (*server)->metricsText(); });
  http::Server httpServer(
      loop, [&](http::Request& req, std::shared_ptr<http::Exchange> ex) { api.handle(req, ex); });
  auto bound = httpServer.listen(httpHost, httpPort);
  if (!bound.ok()) {
    log::error("{}", bound.error().message);
    (*server)->stop();
    return 1;
  }
  (*follower)->start();
  log::info("Mesos-DNS HTTP API on {}:{}; the zone follows {}", httpHost, *bound,
            fmt::format("{}", fmt::join(f.masters, ",")));
  SignalWatcher signals(loop, {SIGTERM, SIGINT}, [&](int sig) {
    log::info("signal {}: shutting down", sig);
    (*follower)->stop();
    httpServer.close();
    loop.stop();
  });
  loop.run();
  (*server)->stop();
  log::info("dns stopped");
  return 0;
}

}  // namespace

void addDnsCommand(CLI::App& app, int& exitCode) {
  auto f = std::make_shared<DnsFlags>();
  auto* cmd =
      app.add_subcommand("dns", "Authoritative DNS (Mesos-DNS names) fed by the event stream");
  cmd->add_option("--listen", f->listen, "UDP+TCP address")->capture_default_str();
  cmd->add_option("--http-listen", f->httpListen, "Mesos-DNS HTTP API and /metrics")
      ->capture_default_str();
  cmd->add_option("--master", f->masters, "Marathon/corral master host:port (repeatable)")
      ->capture_default_str();
  cmd->add_option("--domain", f->domain, "Authoritative domain")->capture_default_str();
  cmd->add_option("--framework-name", f->frameworkName, "Scheduler name in names")
      ->capture_default_str();
  cmd->add_option("--ttl", f->ttl, "TTL of every record")->capture_default_str();
  cmd->add_option("--resolvers", f->resolvers, "Upstream resolvers for other names (ip[:port])");
  cmd->add_flag("--no-forward", f->noForward, "Answer REFUSED for names outside the domain");
  cmd->add_flag("--enforce-rfc952", f->enforceRfc952,
                "Labels start with a letter, at most 24 octets");
  cmd->add_flag("--include-unhealthy", f->includeUnhealthy,
                "Also list tasks failing health checks");
  cmd->add_option("--workers", f->workers, "UDP/TCP worker loops (default: one per core)");
  cmd->callback([f, &exitCode] { exitCode = runDns(*f); });
}

}  // namespace corral::cli
