// Micro benchmarks (Google Benchmark) of the hot paths: building a DNS zone
// from a catalog snapshot, answering one query, and the registry -> zone input
// conversion. `build/bench/micro_bench --benchmark_min_time=0.2`.
#include <benchmark/benchmark.h>

#include <array>
#include <string>

#include "dns/registry_zone.h"
#include "dns/resolver.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "registry/catalog.h"

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

}  // namespace

BENCHMARK_MAIN();
