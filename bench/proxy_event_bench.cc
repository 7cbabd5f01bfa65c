// What route changes cost the proxy's control loop at R routes, shaped as
// the reload benchmark's catalog (bench/reload/catalog.py: marathon-lb vhost
// and path labels, 1-3 tasks per app) and fed the same Marathon events (a
// task replaced: TASK_RUNNING for the new one, TASK_KILLED for the old one):
//  * BM_ProxyOneChange: one replacement, its two events parsed and applied,
//    one registry snapshot, one routing snapshot, the previous ones released.
//  * BM_ProxyBurst: 500 replacements on distinct apps, published every
//    `changes per snapshot` replacements: 500 is the whole burst in one
//    snapshot, 1 a snapshot per change (no coalescing).
// Counters: microseconds of this thread's CPU per change, and snapshots.
#include <benchmark/benchmark.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/json.h"
#include "base/share_cpu.h"
#include "proxy/routing_builder.h"
#include "registry/catalog.h"
#include "registry/catalog_state.h"

namespace {

using namespace corral;

double threadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

std::string ip(int k) {
  return "127." + std::to_string(1 + k / 62500) + "." + std::to_string(1 + (k / 250) % 250) + "." +
         std::to_string(1 + k % 250);
}

std::string taskId(int app, int k) { return "r" + std::to_string(app) + "." + ip(k) + "_20001"; }

std::string taskJson(int app, int k) {
  return "{\"id\":\"" + taskId(app, k) + "\",\"appId\":\"/r" + std::to_string(app) +
         "\",\"host\":\"" + ip(k) +
         "\",\"slaveId\":\"bench-agent-1\",\"ports\":[20001],\"servicePorts\":[" +
         std::to_string(21000 + app % 1000) +
         "],\"state\":\"TASK_RUNNING\",\"version\":\"2026-01-01T00:00:00.000Z\","
         "\"ipAddresses\":[{\"ipAddress\":\"" +
         ip(k) + "\",\"protocol\":\"IPv4\"}]}";
}

// The /v2/apps body of `routes` apps; app a has tasks 3a .. 3a + (a % 3).
std::string appsBody(int routes) {
  std::string body = "{\"apps\":[";
  for (int a = 0; a < routes; ++a) {
    if (a) body += ",";
    std::string id = "/r" + std::to_string(a);
    body += "{\"id\":\"" + id + "\",\"instances\":" + std::to_string(1 + a % 3) +
            ",\"labels\":{\"HAPROXY_GROUP\":\"external\",\"HAPROXY_0_VHOST\":\"r" +
            std::to_string(a) + ".bench.test\",\"HAPROXY_0_BIND_ADDR\":\"127.0.0.1\"" +
            (a % 2 ? ",\"HAPROXY_0_PATH\":\"/p" + std::to_string(a % 7) + "/\"" : std::string()) +
            "},\"portDefinitions\":[{\"port\":" + std::to_string(21000 + a % 1000) +
            ",\"protocol\":\"tcp\",\"name\":\"http\"}],\"healthChecks\":[],\"tasks\":[";
    for (int t = 0; t <= a % 3; ++t) {
      if (t) body += ",";
      body += taskJson(a, 3 * a + t);
    }
    body += "]}";
  }
  return body + "]}";
}

std::string statusEvent(int app, int k, const char* state) {
  return "{\"appId\":\"/r" + std::to_string(app) + "\",\"taskId\":\"" + taskId(app, k) +
         "\",\"taskStatus\":\"" + state + "\",\"host\":\"" + ip(k) +
         "\",\"slaveId\":\"bench-agent-1\",\"ports\":[20001],\"version\":\"2026-01-01T00:00:00."
         "000Z\",\"ipAddresses\":[{\"ipAddress\":\"" +
         ip(k) + "\",\"protocol\":\"IPv4\"}],\"eventType\":\"status_update_event\"}";
}

// The catalog loaded and built once, then replacements on rotating apps:
// each app's first task swaps between its original address and a spare one.
struct Fixture {
  explicit Fixture(int routes) : routes(routes), builder(conf::ProxyLabelOptions{}) {
    if (!catalog.loadApps(appsBody(routes)).ok()) return;
    auto [snap, diff] = catalog.build(1);
    auto built = builder.update(*snap, diff);
    ok = built.ok() && builder.current()->backends.size() == static_cast<size_t>(routes);
    held = snap;
    endBulkWork();  // the load is one loop turn, each change or burst another
  }
  // Replaces app `a`'s first task: two events.
  void replace(int a) {
    const int original = 3 * a, spare = 3 * routes + a;
    bool swapped = (flips[static_cast<size_t>(a)] ^= 1) == 0;
    int from = swapped ? spare : original, to = swapped ? original : spare;
    catalog.applyEvent("status_update_event", std::string_view(statusEvent(a, to, "TASK_RUNNING")));
    catalog.applyEvent("status_update_event",
                       std::string_view(statusEvent(a, from, "TASK_KILLED")));
  }
  bool publish(int64_t now) {
    auto [snap, diff] = catalog.build(now);
    if (!snap) return false;
    auto built = builder.update(*snap, diff);
    held = std::move(snap);  // the previous registry snapshot goes, as in the follower
    return built.ok();
  }

  int routes;
  bool ok = false;
  registry::CatalogState catalog;
  proxy::RoutingBuilder builder;
  std::shared_ptr<const registry::Snapshot> held;
  std::vector<char> flips = std::vector<char>(static_cast<size_t>(routes), 0);
};

void BM_ProxyOneChange(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  if (!f.ok) return state.SkipWithError("the catalog did not build");
  int64_t i = 0;
  double cpu = 0;
  for (auto _ : state) {
    double t = threadCpuUs();
    f.replace(static_cast<int>((i * 7919) % f.routes));
    if (!f.publish(i + 2)) return state.SkipWithError("the change did not build");
    cpu += threadCpuUs() - t;
    endBulkWork();
    ++i;
  }
  state.counters["cpu_us_per_change"] = cpu / static_cast<double>(std::max<int64_t>(1, i));
}
BENCHMARK(BM_ProxyOneChange)->Arg(100)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

void BM_ProxyBurst(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  if (!f.ok) return state.SkipWithError("the catalog did not build");
  const int perSnapshot = static_cast<int>(state.range(1));
  const int burst = std::min(500, f.routes);
  int64_t round = 0, snapshots = 0;
  double apply = 0, publish = 0;
  for (auto _ : state) {
    for (int c = 0; c < burst; ++c) {
      double t = threadCpuUs();
      f.replace(static_cast<int>((round * burst + c) * 7919 % f.routes));
      double applied = threadCpuUs();
      apply += applied - t;
      if ((c + 1) % perSnapshot == 0 || c + 1 == burst) {
        if (!f.publish(round + 2)) return state.SkipWithError("the burst did not build");
        publish += threadCpuUs() - applied;
        ++snapshots;
      }
    }
    endBulkWork();  // a burst is one turn of the control loop
    ++round;
  }
  const double changes = static_cast<double>(std::max<int64_t>(1, round) * burst);
  state.counters["cpu_us_per_change"] = (apply + publish) / changes;
  state.counters["apply_us"] = apply / changes;      // the events parsed and applied
  state.counters["publish_us"] = publish / changes;  // snapshots built, the old ones released
  state.counters["snapshots"] = static_cast<double>(snapshots) / static_cast<double>(round);
}
BENCHMARK(BM_ProxyBurst)
    ->ArgsProduct({{100, 10000, 100000}, {1, 25, 500}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
