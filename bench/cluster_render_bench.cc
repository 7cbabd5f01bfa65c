// Micro benchmarks of the master's large answers and its event fan-out at
// 10,000 apps / 30,000 tasks, over the real master, service scheduler, app
// store, renderers and event bus. They are filled through the recovery path
// (Master::recover and ServiceScheduler::recover over a state map shaped as
// the durable store holds it), which is what a restarted master does; the
// macro benchmark (cluster_scale.py) measures the same answers over HTTP with
// tasks launched on real agents.
#include <benchmark/benchmark.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/http_client.h"
#include "base/http_server.h"
#include "base/json.h"
#include "base/loop.h"
#include "base/sse.h"
#include "core_cluster/api/marathon_events.h"
#include "core_cluster/api/marathon_json.h"
#include "core_cluster/events/event_bus.h"
#include "core_cluster/master/master.h"
#include "core_cluster/master/records.h"
#include "core_cluster/scheduler/service_scheduler.h"
#include "core_cluster/state/in_memory_state_store.h"

namespace {

using namespace corral;

constexpr int kAgents = 10;
constexpr const char* kVersion = "2026-12-02T00:00:00.000Z";

// A durable state of `apps` apps with `perApp` running, healthy tasks each on
// kAgents agents, as the master and the scheduler persist them.
state::StateMap clusterState(int apps, int perApp) {
  state::StateMap m;
  for (int a = 0; a < kAgents; ++a) {
    master::AgentRecord agent;
    agent.id = "bench-S" + std::to_string(a);
    agent.hostname = "127.0.20." + std::to_string(a + 2);
    agent.port = 5051;
    agent.total = *conf::parseResources("cpus:1000;mem:100000;disk:1000;ports:[20000-60000]");
    m["/agents/" + agent.id] = master::agentToJson(agent);
  }
  int port = 20000;
  for (int a = 0; a < apps; ++a) {
    std::string id = "/bench/app" + std::to_string(a);
    Json def{{"id", id},
             {"cmd", "exec sleep 3600"},
             {"instances", perApp},
             {"cpus", 0.01},
             {"mem", 16},
             {"portDefinitions", Json::array({Json{{"port", 10000 + a}, {"name", "http"}}})},
             {"labels", Json{{"HAPROXY_GROUP", "external"}, {"team", "bench"}}},
             {"healthChecks", Json::array({Json{{"protocol", "HTTP"}, {"path", "/health"}}})},
             {"version", kVersion}};
    m["/apps" + id] = Json{{"definition", def},
                           {"lastConfigChangeAt", kVersion},
                           {"lastScalingAt", kVersion},
                           {"versions", Json::array({kVersion})}};
    for (int t = 0; t < perApp; ++t) {
      master::TaskRecord task;
      task.id = "bench_app" + std::to_string(a) + "." + std::to_string(t) +
                "-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5";
      task.framework = "marathon";
      task.appId = id;
      task.version = kVersion;
      int agent = (a * perApp + t) % kAgents;
      task.agentId = "bench-S" + std::to_string(agent);
      task.host = "127.0.20." + std::to_string(agent + 2);
      task.ports = {port++ % 40000 + 20000};
      task.servicePorts = {10000 + a};
      task.cpus = 0.01;
      task.mem = 16;
      task.state = conf::TaskState::kRunning;
      task.healthy = true;
      task.stagedAtMs = 1764633600000 + t;
      task.startedAtMs = task.stagedAtMs + 50;
      task.firstSuccessMs = task.startedAtMs + 1000;
      task.lastSuccessMs = task.startedAtMs + 5000;
      m["/tasks/" + task.id] = master::taskToJson(task);
    }
  }
  return m;
}

// A master with its service scheduler, recovered from clusterState().
struct FilledCluster {
  FilledCluster(int apps, int perApp)
      : store(clusterState(apps, perApp)),
        bus(loop),
        master(loop, store),
        scheduler(loop, store, bus) {
    auto state = store.recover();
    ok = state.ok() && master.recover(*state).ok() && scheduler.recover(*state).ok();
    master.addScheduler(&scheduler);
  }
  Loop loop;
  state::InMemoryStateStore store;
  events::EventBus bus;
  master::Master master;
  scheduler::ServiceScheduler scheduler;
  bool ok = false;
};

// GET /v2/apps?embed=apps.tasks as V2Api renders it: every app with its
// counts, deployments and tasks. Arg 1 = with the per-app render cache warm
// (every request after the first), 0 = each definition rendered as a JSON tree.
void BM_AppsEmbedTasks(benchmark::State& state) {
  const int apps = static_cast<int>(state.range(0));
  const bool cached = state.range(1) != 0;
  FilledCluster c(apps, 3);
  if (!c.ok) return state.SkipWithError("recovery failed");
  api::AppRenderCache cache;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string list = "{\"apps\":[";
    bool first = true;
    for (const auto& [id, a] : c.scheduler.apps()) {
      if (!first) list += ',';
      first = false;
      api::appendAppJson(list, c.scheduler, a, true, true, true, false, cached ? &cache : nullptr);
    }
    list += "]}";
    bytes = list.size();
    benchmark::DoNotOptimize(list);
  }
  state.counters["apps"] = apps;
  state.counters["tasks"] = apps * 3;
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
}
BENCHMARK(BM_AppsEmbedTasks)
    ->ArgsProduct({{1000, 10000}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

// GET /v2/tasks: every task.
void BM_TasksList(benchmark::State& state) {
  const int apps = static_cast<int>(state.range(0));
  FilledCluster c(apps, 3);
  if (!c.ok) return state.SkipWithError("recovery failed");
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = api::tasksJsonText(c.scheduler, c.scheduler.tasksOf(""));
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["tasks"] = apps * 3;
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
}
BENCHMARK(BM_TasksList)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(5);

// One task status change as the scheduler announces it (status_update_event
// and instance_changed_event) with `subscribers` /v2/events streams open on
// loopback, in a master of 10,000 apps / 30,000 tasks: the master's time per
// change, whatever the cluster holds. The subscribers read between batches
// (not timed).
void BM_TaskEventFanout(benchmark::State& state) {
  const int subscribers = static_cast<int>(state.range(0));
  FilledCluster c(10000, 3);
  if (!c.ok) return state.SkipWithError("recovery failed");
  http::Server server(c.loop, [&c](http::Request& req, std::shared_ptr<http::Exchange> ex) {
    c.bus.attach(req, std::move(ex));
  });
  auto port = server.listen("127.0.0.1", 0);
  if (!port.ok()) return state.SkipWithError("cannot listen");
  struct Subscriber {
    std::unique_ptr<sse::Parser> parser;
    CancelHandle stream;
    uint64_t lastId = 0;  // of the last event read
  };
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (int i = 0; i < subscribers; ++i) {
    auto s = std::make_unique<Subscriber>();
    Subscriber* raw = s.get();
    s->parser = std::make_unique<sse::Parser>(
        [raw](const sse::Event& e) { raw->lastId = std::stoull(e.id); });
    http::Request req;
    req.target = "/v2/events";
    req.headers = {{"Accept", "text/event-stream"}};
    http::StreamCallbacks cbs;
    cbs.onHead = [](const http::Response&) {};
    cbs.onData = [raw](std::string_view chunk) { raw->parser->feed(chunk); };
    cbs.onEnd = [](Status) {};
    s->stream = http::openStream(c.loop, "127.0.0.1", *port, std::move(req), std::move(cbs));
    subs.push_back(std::move(s));
  }
  c.loop.runUntil([&] { return c.bus.subscriberCount() == static_cast<size_t>(subscribers); },
                  5000);
  auto tasks = c.scheduler.tasksOf("");
  const auto* def = &c.scheduler.apps().begin()->second.def;
  uint64_t published = 0;
  auto caughtUp = [&] {
    for (const auto& s : subs) {
      if (s->lastId < published) return false;
    }
    return true;
  };
  published = c.bus.lastId();
  c.loop.runUntil(caughtUp, 5000);
  size_t i = 0;
  for (auto _ : state) {
    const master::TaskRecord& t = *tasks[i++ % tasks.size()];
    api::publishTaskEvents(c.bus, t, conf::TaskState::kStarting, t.healthy, def);
    if (i % 64 == 0) {
      state.PauseTiming();
      published = c.bus.lastId();
      c.loop.runUntil(caughtUp, 5000);
      state.ResumeTiming();
    }
  }
  state.counters["subscribers"] = subscribers;
  state.counters["events_per_change"] = 2;
  subs.clear();
  server.close();
  c.bus.closeAll();
  c.loop.runUntil([] { return false; }, 50);
}
BENCHMARK(BM_TaskEventFanout)->Arg(0)->Arg(1)->Arg(10)->Unit(benchmark::kMicrosecond);

}  // namespace
