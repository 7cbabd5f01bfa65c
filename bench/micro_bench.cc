// Micro benchmarks (Google Benchmark) of the hot paths: building a DNS zone
// from a catalog snapshot, answering one query, the registry -> zone input
// conversion, and the proxy's routing table (build, lookup, one-app update)
// and balancers. `build/bench/micro_bench --benchmark_min_time=0.2`.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "base/json.h"
#include "base/share_cpu.h"
#include "base/sse.h"
#include "dns/registry_zone.h"
#include "dns/resolver.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "proxy/balancer.h"
#include "proxy/route_table.h"
#include "registry/catalog.h"
#include "registry/catalog_state.h"

namespace {

using namespace corral;

// A catalog of `apps` apps with `tasks` running tasks each on 10 agents.
registry::Snapshot catalog(int apps, int tasks) {
  registry::Snapshot s;
  s.version = 1;
  s.leader = "127.0.0.1:8080";
  int port = 31000;
  for (int a = 0; a < apps; ++a) {
    auto app = std::make_shared<registry::App>();
    app->id = "/app" + std::to_string(a);
    app->portDefinitions.push_back(registry::PortDefinition{10000 + a, "http", "tcp", {}});
    app->instances = tasks;
    for (int t = 0; t < tasks; ++t) {
      registry::Task task;
      task.id = "app" + std::to_string(a) + ".task-" + std::to_string(t);
      task.appId = app->id;
      int agent = (a * tasks + t) % 10;
      task.host = "127.0.1." + std::to_string(agent + 2);
      task.agentId = "agent-S" + std::to_string(agent);
      task.ports = {port++ % 60000 + 1};
      task.state = conf::TaskState::kRunning;
      task.ip = task.host;
      app->tasks.push_back(task);
    }
    s.apps[app->id] = app;
  }
  return s;
}

void BM_ZoneBuild(benchmark::State& state) {
  int tasks = static_cast<int>(state.range(0));
  auto snap = catalog(tasks / 3, 3);
  dns::ZoneNaming naming;
  for (auto _ : state) {
    auto zone = dns::buildZone(dns::zoneInputFromSnapshot(snap, naming));
    benchmark::DoNotOptimize(zone);
  }
  state.counters["tasks"] = tasks;
  state.counters["tasks/s"] =
      benchmark::Counter(static_cast<double>(tasks), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ZoneBuild)->Arg(300)->Arg(3000)->Arg(30000)->Unit(benchmark::kMillisecond);

// One app changed (its task moves) in a catalog of `tasks` tasks: what an
// event costs the incremental zone (ZoneBuilder::update with a one-app diff).
void BM_ZoneUpdateOneApp(benchmark::State& state) {
  int tasks = static_cast<int>(state.range(0));
  auto snap = catalog(tasks / 3, 3);
  dns::ZoneBuilder builder(dns::ZoneNaming{});
  if (!builder.update(snap, registry::Diff{}).ok()) {
    state.SkipWithError("initial build failed");
    return;
  }
  uint64_t version = snap.version;
  int flip = 0;
  for (auto _ : state) {
    auto app = std::make_shared<registry::App>(*snap.apps["/app7"]);
    app->tasks[0].ip = (++flip % 2) ? "127.0.9.1" : "127.0.9.2";
    snap.apps["/app7"] = app;
    snap.version = ++version;
    auto zone = builder.update(snap, registry::Diff{{}, {"/app7"}, {}});
    benchmark::DoNotOptimize(zone);
  }
  state.counters["tasks"] = tasks;
}
BENCHMARK(BM_ZoneUpdateOneApp)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(30000)
    ->Arg(100000)
    ->Unit(benchmark::kMicrosecond);

// 500 apps changed in one diff (a coalesced burst) in a catalog of `tasks`
// tasks: each of those apps gains a task, then loses it again.
void BM_ZoneUpdateBurst500(benchmark::State& state) {
  int tasks = static_cast<int>(state.range(0));
  auto snap = catalog(tasks / 10, 10);
  dns::ZoneBuilder builder(dns::ZoneNaming{});
  if (!builder.update(snap, registry::Diff{}).ok()) {
    state.SkipWithError("initial build failed");
    return;
  }
  const auto base = snap.apps;
  registry::Diff diff;
  for (int a = 0; a < 500 && a < tasks / 10; ++a)
    diff.changed.push_back("/app" + std::to_string(a));
  std::sort(diff.changed.begin(), diff.changed.end());
  bool grow = true;
  for (auto _ : state) {
    for (const std::string& id : diff.changed) {
      if (grow) {
        auto app = std::make_shared<registry::App>(*base.at(id));
        registry::Task extra = app->tasks.front();
        extra.id += "-extra";
        extra.ip = "127.0.9.9";
        app->tasks.push_back(extra);
        snap.apps[id] = app;
      } else {
        snap.apps[id] = base.at(id);
      }
    }
    grow = !grow;
    ++snap.version;
    auto zone = builder.update(snap, diff);
    benchmark::DoNotOptimize(zone);
  }
  state.counters["tasks"] = tasks;
}
BENCHMARK(BM_ZoneUpdateBurst500)
    ->Arg(10000)
    ->Arg(30000)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond);

// What one scheduler event costs corral dns's control thread at a catalog
// of `tasks` tasks (10 per app, 50 agents, as bench/dns_event_bench.py):
// the event's JSON parsed and applied to the registry, the next registry
// snapshot built, the zone updated by its diff, and the previous snapshot
// and zone released. Alternately a new task and its end on a rotating app.
void BM_EventToZone(benchmark::State& state) {
  const int tasks = static_cast<int>(state.range(0));
  const int perApp = 10;
  std::string body = "{\"apps\":[";
  for (int a = 0, n = 0; a < tasks / perApp; ++a) {
    if (a) body += ",";
    std::string id = "/bench/app" + std::to_string(a);
    body += "{\"id\":\"" + id +
            "\",\"instances\":10,\"portDefinitions\":[{\"port\":10000,\"name\":\"http\"}],"
            "\"tasks\":[";
    for (int t = 0; t < perApp; ++t, ++n) {
      if (t) body += ",";
      std::string host = "127.0.20." + std::to_string(n % 50 + 1);
      body += "{\"id\":\"app" + std::to_string(a) + ".t" + std::to_string(t) + "\",\"host\":\"" +
              host + "\",\"slaveId\":\"agent-S" + std::to_string(n % 50) + "\",\"ports\":[" +
              std::to_string(20000 + n % 40000) +
              "],\"state\":\"TASK_RUNNING\",\"ipAddresses\":[{\"ipAddress\":\"" + host + "\"}]}";
    }
    body += "]}";
  }
  body += "]}";
  registry::CatalogState catalog;
  if (!catalog.loadApps(body).ok()) {
    state.SkipWithError("the catalog did not load");
    return;
  }
  auto [first, all] = catalog.build(1);
  dns::ZoneBuilder builder(dns::ZoneNaming{});
  if (!builder.update(*first, all).ok()) {
    state.SkipWithError("initial build failed");
    return;
  }
  std::shared_ptr<const registry::Snapshot> held = first;
  std::shared_ptr<const dns::Zone> zone;
  // Each event is a loop turn of its own, as in the server: the load's bulk
  // work ends here (base/share_cpu.h), and each iteration ends it again.
  endBulkWork();
  int64_t i = 0;
  // Where the time goes: this thread's CPU time per phase, in microseconds.
  std::array<double, 5> phase{};
  auto cpuUs = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  auto lap = [&cpuUs, t = cpuUs()](double& into) mutable {
    double now = cpuUs();
    into += now - t;
    t = now;
  };
  for (auto _ : state) {
    lap(phase[4]);
    const int64_t app = (i / 2 * 7919) % (tasks / perApp);
    const bool up = i % 2 == 0;
    std::string data = "{\"appId\":\"/bench/app" + std::to_string(app) + "\",\"taskId\":\"app" +
                       std::to_string(app) + ".event\",\"taskStatus\":\"" +
                       (up ? "TASK_RUNNING" : "TASK_KILLED") +
                       "\",\"host\":\"127.0.20.1\",\"slaveId\":\"agent-S0\",\"ports\":[31000],"
                       "\"ipAddresses\":[{\"ipAddress\":\"10.1.2.3\"}]}";
    ++i;
    catalog.applyEvent("status_update_event", std::string_view(data));
    lap(phase[0]);
    auto [snap, diff] = catalog.build(i + 1);
    lap(phase[1]);
    if (!snap) {
      state.SkipWithError("the event changed nothing");
      return;
    }
    auto next = builder.update(*snap, diff);
    lap(phase[2]);
    if (!next.ok()) {
      state.SkipWithError(next.error().message.c_str());
      return;
    }
    held = std::move(snap);  // releases the snapshot before, as the pipeline does
    zone = std::move(*next);
    lap(phase[3]);
    endBulkWork();
  }
  state.counters["tasks"] = tasks;
  const double n = static_cast<double>(std::max<int64_t>(1, i));
  state.counters["apply_us"] = phase[0] / n;
  state.counters["snapshot_us"] = phase[1] / n;
  state.counters["zone_us"] = phase[2] / n;
  state.counters["release_us"] = phase[3] / n;
}
BENCHMARK(BM_EventToZone)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(30000)
    ->Arg(100000)
    ->Unit(benchmark::kMicrosecond);

void BM_Answer(benchmark::State& state, const char* name, uint16_t qtype) {
  auto snap = catalog(1000, 3);
  dns::ZoneNaming naming;
  auto zone = dns::buildZone(dns::zoneInputFromSnapshot(snap, naming));
  if (!zone.ok()) {
    state.SkipWithError(zone.error().message.c_str());
    return;
  }
  auto query = dns::buildQuery(1, name, qtype, true, 1232);
  std::array<uint8_t, 65535> out;
  dns::AnswerOptions options;
  for (auto _ : state) {
    auto r = dns::answer(**zone, query, dns::Transport::kUdp, options, out);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK_CAPTURE(BM_Answer, a_record, "app500.marathon.mesos", dns::kTypeA);
BENCHMARK_CAPTURE(BM_Answer, srv_with_additional, "_app500._tcp.marathon.mesos", dns::kTypeSrv);
BENCHMARK_CAPTURE(BM_Answer, nxdomain, "nope.marathon.mesos", dns::kTypeA);

// ---- proxy routing table ---------------------------------------------------

// `routes` routes: one app per route, each on its own vhost with a path, plus
// a service port; every tenth host also serves a second app on a longer path.
std::vector<proxy::AppRoutes> proxyApps(int routes) {
  std::vector<proxy::AppRoutes> apps;
  apps.reserve(static_cast<size_t>(routes));
  for (int i = 0; i < routes; ++i) {
    conf::RouteSpec spec;
    spec.appId = "/app" + std::to_string(i);
    spec.servicePort = 10000 + i % 50000;
    spec.mode = conf::RouteMode::kHttp;
    spec.vhosts = {"h" + std::to_string(i / 2) + ".example.test"};
    spec.paths = {i % 2 ? "/api/v2" : "/api"};
    apps.push_back(proxy::AppRoutes{spec.appId, {std::make_shared<const conf::RouteSpec>(spec)}});
  }
  return apps;
}

void BM_RouteTableBuild(benchmark::State& state) {
  auto apps = proxyApps(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto table = proxy::RouteTable::update(proxy::RouteTable(), apps, 1);
    benchmark::DoNotOptimize(table);
  }
  state.counters["routes/s"] = benchmark::Counter(static_cast<double>(state.range(0)),
                                                  benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_RouteTableBuild)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// One HTTP lookup (host hash + longest prefix), cycling over `hot` hosts
// spread through the table: with 64 hot hosts the probes stay in cache and
// show the algorithm (constant probes); with 4096 the table's memory is
// touched too, so the figure also shows cache misses growing with its size.
void BM_RouteLookup(benchmark::State& state) {
  int routes = static_cast<int>(state.range(0));
  size_t hot = static_cast<size_t>(state.range(1));
  auto table = proxy::RouteTable::update(proxy::RouteTable(), proxyApps(routes), 1);
  std::vector<std::string> hosts;
  for (size_t i = 0; i < hot; ++i) {
    hosts.push_back("H" + std::to_string((i * 7919) % static_cast<size_t>(routes / 2)) +
                    ".Example.test:8000");
  }
  size_t next = 0, found = 0;
  for (auto _ : state) {
    const proxy::RouteTarget* target = table->lookupHttp(hosts[next], "/api/v2/users?id=7");
    found += target != nullptr;
    next = (next + 1) % hot;
  }
  if (found != static_cast<size_t>(state.iterations())) state.SkipWithError("a lookup missed");
}
BENCHMARK(BM_RouteLookup)->ArgsProduct({{1000, 10000, 100000}, {64, 4096}});

// Replacing one app's routes (its vhost moves) in a table of N routes: the
// new table shares everything else.
void BM_RouteUpdateOneApp(benchmark::State& state) {
  int routes = static_cast<int>(state.range(0));
  auto base = proxy::RouteTable::update(proxy::RouteTable(), proxyApps(routes), 1);
  conf::RouteSpec spec;
  spec.appId = "/app" + std::to_string(routes / 2);
  spec.servicePort = 10000 + (routes / 2) % 50000;
  spec.mode = conf::RouteMode::kHttp;
  spec.vhosts = {"moved.example.test"};
  proxy::AppRoutes change{spec.appId, {std::make_shared<const conf::RouteSpec>(spec)}};
  size_t copied = 0;
  for (auto _ : state) {
    auto next = proxy::RouteTable::update(*base, {&change, 1}, 2);
    copied = next->buildStats().copiedNodes;
    benchmark::DoNotOptimize(next);
  }
  state.counters["nodes_copied"] = static_cast<double>(copied);
}
BENCHMARK(BM_RouteUpdateOneApp)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// ---- proxy balancers ---------------------------------------------------------

void BM_BalancerPick(benchmark::State& state, conf::BalanceAlgorithm algorithm) {
  proxy::Balancer balancer(conf::Balance{algorithm, "X-User"}, false, proxy::PassiveHealth{}, 1);
  std::vector<proxy::PeerInfo> peers;
  for (int i = 0; i < state.range(0); ++i)
    peers.push_back({"task-" + std::to_string(i), 1, false, "127.0.0.1", 31000 + i});
  balancer.setPeers(peers);
  std::array<std::string, 64> users;
  for (size_t i = 0; i < users.size(); ++i) users[i] = "user-" + std::to_string(i);
  size_t next = 0;
  for (auto _ : state) {
    proxy::PickRequest request{next * 0x9e3779b97f4a7c15ULL, users[next & 63], {}};
    auto pick = balancer.get(request, 0);
    balancer.release(*pick, proxy::Outcome::kSuccess, 0);
    ++next;
  }
}
BENCHMARK_CAPTURE(BM_BalancerPick, roundrobin, conf::BalanceAlgorithm::kRoundRobin)
    ->Arg(10)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_BalancerPick, leastconn, conf::BalanceAlgorithm::kLeastConn)
    ->Arg(10)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_BalancerPick, random_two, conf::BalanceAlgorithm::kRandomTwo)
    ->Arg(10)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_BalancerPick, maglev_header, conf::BalanceAlgorithm::kHashHeader)
    ->Arg(10)
    ->Arg(100);

// The control thread reads a burst's event stream through the SSE parser: a
// burst of 500 status updates (~400 bytes each, as Marathon sends them) in
// 64 KiB reads.
void BM_SseParseBurst500(benchmark::State& state) {
  std::string stream;
  for (int i = 0; i < 500; ++i) {
    std::string data =
        "{\"eventType\":\"status_update_event\",\"timestamp\":\"2026-12-03T07:00:00.000Z\","
        "\"slaveId\":\"agent-S1\",\"taskId\":\"bench_app" +
        std::to_string(i) +
        ".instance-1\",\"taskStatus\":\"TASK_RUNNING\",\"message\":\"\",\"appId\":\"/bench/app" +
        std::to_string(i) +
        "\",\"host\":\"127.0.20.1\",\"ipAddresses\":[{\"ipAddress\":\"127.0.20.1\","
        "\"protocol\":\"IPv4\"}],\"ports\":[31000],\"version\":\"2026-12-03T07:00:00.000Z\"}";
    stream += sse::format(std::to_string(i), "status_update_event", data);
  }
  size_t events = 0;
  sse::Parser parser([&](const sse::Event&) { ++events; });
  for (auto _ : state) {
    for (size_t at = 0; at < stream.size(); at += 65536) {
      parser.feed(std::string_view(stream).substr(at, 65536));
    }
  }
  if (events != 500 * static_cast<size_t>(state.iterations())) state.SkipWithError("events lost");
  state.SetBytesProcessed(static_cast<int64_t>(stream.size()) * state.iterations());
}
BENCHMARK(BM_SseParseBurst500)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
