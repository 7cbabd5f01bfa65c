// The incremental zone (ZoneBuilder) against a zone built from scratch:
// random sequences of app adds, changes and removes, leader and agent
// changes, and after every step each name must answer the same.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <random>

#include "conf/task_state.h"
#include "dns/registry_zone.h"
#include "dns/resolver.h"
#include "dns/wire.h"
#include "dns/zone.h"

namespace corral::dns {
namespace {

// What a name answers, made comparable: every RRset's encoded records in
// order, and for SRV the name of each target (slots differ between zones).
std::string describe(const Zone& zone, const Node& node) {
  std::string out;
  for (const RrSet& set : node.sets) {
    out += "type " + std::to_string(set.type) + ":";
    out.append(set.bodies.begin(), set.bodies.end());
    for (size_t i = 0; i < set.offsets.size(); ++i) out += "@" + std::to_string(set.offsets[i]);
    for (int32_t t : set.targets) {
      out += "->";
      if (t >= 0) out += zone.node(static_cast<size_t>(t)).name;
    }
    out += ";";
  }
  return out;
}

std::map<std::string, std::string> contents(const Zone& zone) {
  std::map<std::string, std::string> out;
  zone.forEachNode([&](const Node& n) { out[n.name] = describe(zone, n); });
  return out;
}

// Header counts of the answer to (name, type): independent of the random
// rotation of RRsets, dependent on existence, records and additional data.
std::array<uint16_t, 5> answerCounts(const Zone& zone, const std::string& dotted, uint16_t qtype) {
  auto query = buildQuery(7, dotted, qtype, true, 4096);
  std::vector<uint8_t> out(65535);
  auto r = answer(zone, query, Transport::kUdp, AnswerOptions{}, out);
  if (r.size < 12) return {0xffff, 0, 0, 0, 0};
  auto u16 = [&](size_t off) { return static_cast<uint16_t>((out[off] << 8) | out[off + 1]); };
  return {r.rcode, u16(6), u16(8), u16(10), static_cast<uint16_t>(r.size)};
}

void expectSameZone(const Zone& incremental, const Zone& scratch, const std::string& step) {
  auto a = contents(incremental);
  auto b = contents(scratch);
  ASSERT_EQ(a.size(), b.size()) << step;
  for (const auto& [name, content] : b) {
    auto it = a.find(name);
    ASSERT_TRUE(it != a.end()) << step << ": missing "
                               << nameToText(
                                      {reinterpret_cast<const uint8_t*>(name.data()), name.size()});
    ASSERT_EQ(it->second, content)
        << step << ": differs at "
        << nameToText({reinterpret_cast<const uint8_t*>(name.data()), name.size()});
  }
  EXPECT_EQ(incremental.stats().names, scratch.stats().names) << step;
  EXPECT_EQ(incremental.stats().records, scratch.stats().records) << step;
  EXPECT_EQ(incremental.stats().tasks, scratch.stats().tasks) << step;
  EXPECT_EQ(incremental.stats().skippedTasks, scratch.stats().skippedTasks) << step;
  EXPECT_EQ(incremental.stats().rejectedItems, scratch.stats().rejectedItems) << step;
  EXPECT_EQ(incremental.serial(), scratch.serial()) << step;
  // Every name through the resolver, plus a name that is never there.
  for (const auto& [name, content] : b) {
    std::string dotted = nameToText({reinterpret_cast<const uint8_t*>(name.data()), name.size()});
    for (uint16_t qtype : {kTypeA, kTypeAaaa, kTypeSrv, kTypeAny}) {
      ASSERT_EQ(answerCounts(incremental, dotted, qtype), answerCounts(scratch, dotted, qtype))
          << step << ": " << dotted << " type " << qtype;
    }
  }
  EXPECT_EQ(answerCounts(incremental, "nope.marathon.mesos", kTypeA),
            answerCounts(scratch, "nope.marathon.mesos", kTypeA));
}

// Random catalogs with the awkward cases: app ids whose labels collide,
// agents known by id or by hostname only, agents whose tasks disagree about
// their host, unhealthy and staging tasks, named and unnamed ports over
// tcp, udp, both and a bad protocol, IPv6 next to IPv4, and bad addresses.
class CatalogGen {
 public:
  explicit CatalogGen(uint32_t seed) : rng_(seed) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return pick(100) < percent; }

  std::shared_ptr<const registry::App> app(const std::string& id) {
    auto app = std::make_shared<registry::App>();
    app->id = id;
    app->hasHealthChecks = chance(30);
    static const char* kPortNames[] = {"", "http", "admin", "x_y"};
    static const char* kProtocols[] = {"tcp", "udp", "tcp,udp", "", "sctp"};
    int ports = pick(3);
    for (int p = 0; p < ports; ++p) {
      app->portDefinitions.push_back(
          registry::PortDefinition{10000 + p, kPortNames[pick(4)], kProtocols[pick(5)], {}});
    }
    int tasks = pick(5);
    for (int t = 0; t < tasks; ++t) {
      registry::Task task;
      task.id = id.substr(1) + ".t" + std::to_string(serial_++);
      task.appId = id;
      int agent = pick(7);
      if (agent == 6) {
        task.host = "node" + std::to_string(pick(2));  // a name, not an address
      } else {
        task.host = "10.0." + std::to_string(chance(10) ? 9 : 0) + "." + std::to_string(agent);
      }
      task.agentId = chance(10) ? "" : "ag-S" + std::to_string(agent);
      int roll = pick(10);
      if (roll == 0) {
        task.state = conf::TaskState::kStaging;
      } else {
        task.state = conf::TaskState::kRunning;
      }
      if (chance(40)) task.healthy = chance(70);
      if (chance(50)) {
        task.ipAddresses.push_back("10.1." + std::to_string(pick(3)) + "." + std::to_string(t));
        if (chance(20)) task.ipAddresses.push_back("fd00::" + std::to_string(t + 1));
        if (chance(5)) task.ipAddresses.push_back("not-an-ip");
        task.ip = task.ipAddresses.front();
      }
      for (int p = 0; p < ports + (chance(10) ? 1 : 0); ++p) {
        task.ports.push_back(chance(5) ? 0 : 31000 + pick(50));
      }
      app->tasks.push_back(std::move(task));
    }
    return app;
  }

  std::vector<AgentInfo> knownAgents() {
    std::vector<AgentInfo> out;
    int n = pick(4);
    for (int i = 0; i < n; ++i) {
      int a = pick(9);
      std::string host = "10.0.0." + std::to_string(a);
      out.push_back(AgentInfo{"ag-S" + std::to_string(a), chance(20) ? "node0" : host,
                              chance(20) ? "" : host, static_cast<uint16_t>(5051 + pick(2))});
    }
    return out;
  }

 private:
  std::mt19937 rng_;
  int serial_ = 0;
};

// Ids chosen so that "/a/b" and "/b-a" (and "/b.a") share the label "b-a".
const std::vector<std::string> kAppIds = {"/a/b",      "/b-a",  "/b.a",   "/web",
                                          "/shop/web", "/db",   "/x/y/z", "/cache",
                                          "/9lives",   "/_bad", "/api",   "/api/v2"};

ZoneNaming namingFor(uint32_t seed) {
  ZoneNaming naming;
  naming.options.soa.serial = 42;  // the same serial in both zones
  naming.options.enforceRfc952 = seed % 3 == 2;
  naming.options.onlyHealthy = seed % 4 != 1;
  if (seed % 2 == 0) naming.masters = {"127.0.0.1:5050", "127.0.0.9:5050"};
  return naming;
}

void runSequence(uint32_t seed, int steps) {
  CatalogGen gen(seed);
  ZoneNaming naming = namingFor(seed);
  ZoneBuilder builder(naming);
  std::vector<AgentInfo> known;
  registry::Snapshot snap;
  snap.version = 1;
  snap.leader = "127.0.0.1:8080";
  for (int i = 0; i < 4; ++i) {
    const std::string& id =
        kAppIds[static_cast<size_t>(gen.pick(static_cast<int>(kAppIds.size())))];
    snap.apps[id] = gen.app(id);
  }
  registry::Diff none;
  auto first = builder.update(snap, none);
  ASSERT_TRUE(first.ok()) << first.error().message;

  for (int step = 0; step < steps; ++step) {
    registry::Snapshot next = snap;  // shares every App
    registry::Diff diff;
    int ops = gen.chance(10) ? 1 + gen.pick(8) : 1 + gen.pick(2);
    for (int op = 0; op < ops; ++op) {
      const std::string& id =
          kAppIds[static_cast<size_t>(gen.pick(static_cast<int>(kAppIds.size())))];
      bool present = next.apps.count(id) > 0;
      bool alreadyListed = false;
      for (auto* list : {&diff.added, &diff.changed, &diff.removed}) {
        if (std::find(list->begin(), list->end(), id) != list->end()) alreadyListed = true;
      }
      if (alreadyListed) continue;
      bool wasPresent = snap.apps.count(id) > 0;
      if (present && gen.chance(35)) {
        next.apps.erase(id);
        if (wasPresent) diff.removed.push_back(id);
      } else {
        next.apps[id] = gen.app(id);
        (wasPresent ? diff.changed : diff.added).push_back(id);
      }
    }
    if (gen.chance(5)) next.leader = gen.chance(50) ? "127.0.0.2:8080" : "127.0.0.1:8080";
    if (gen.chance(8)) {
      known = gen.knownAgents();
      builder.setKnownAgents(known);
    }
    // Now and then a snapshot that does not follow the last one: the
    // builder must not trust the diff then.
    bool jump = gen.chance(5);
    next.version = snap.version + (jump ? 3 : 1);
    if (jump) diff = registry::Diff{};
    for (auto* list : {&diff.added, &diff.changed, &diff.removed}) {
      std::sort(list->begin(), list->end());
    }
    auto incremental = builder.update(next, diff);
    ASSERT_TRUE(incremental.ok()) << incremental.error().message;
    auto scratch = buildZone(zoneInputFromSnapshot(next, naming, known));
    ASSERT_TRUE(scratch.ok()) << scratch.error().message;
    expectSameZone(**incremental, **scratch,
                   "seed " + std::to_string(seed) + " step " + std::to_string(step));
    if (::testing::Test::HasFatalFailure()) return;
    snap = std::move(next);
  }
}

TEST(ZoneIncremental, RandomChangesAnswerLikeAFromScratchBuild) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    runSequence(seed, 100);
    if (HasFatalFailure()) return;
  }
}

TEST(ZoneIncremental, RemovingEveryAppLeavesTheBaseZone) {
  CatalogGen gen(99);
  ZoneNaming naming = namingFor(0);
  ZoneBuilder builder(naming);
  registry::Snapshot snap;
  snap.version = 1;
  snap.leader = "127.0.0.1:8080";
  registry::Diff diff;
  for (const std::string& id : kAppIds) {
    snap.apps[id] = gen.app(id);
    diff.added.push_back(id);
  }
  ASSERT_TRUE(builder.update(snap, diff).ok());
  registry::Snapshot empty;
  empty.version = 2;
  empty.leader = snap.leader;
  registry::Diff gone;
  for (const auto& [id, app] : snap.apps) gone.removed.push_back(id);
  auto z = builder.update(empty, gone);
  ASSERT_TRUE(z.ok());
  auto scratch = buildZone(zoneInputFromSnapshot(empty, naming));
  ASSERT_TRUE(scratch.ok());
  expectSameZone(**z, **scratch, "all removed");
  EXPECT_EQ((*z)->stats().tasks, 0u);
  EXPECT_EQ((*z)->find(std::string("\x03_tcp\x08marathon\x05mesos", 21)), nullptr);
}

// A change touches only its app's names: every other node is the very same
// object in the old and the new zone (shared, not copied).
TEST(ZoneIncremental, UnchangedNamesAreSharedBetweenZones) {
  CatalogGen gen(7);
  ZoneBuilder builder(namingFor(1));
  registry::Snapshot snap;
  snap.version = 1;
  snap.leader = "127.0.0.1:8080";
  for (int i = 0; i < 50; ++i) {
    std::string id = "/app" + std::to_string(i);
    auto app = std::make_shared<registry::App>();
    app->id = id;
    app->portDefinitions = {registry::PortDefinition{10000, "http", "tcp", {}}};
    registry::Task t;
    t.id = "app" + std::to_string(i) + ".1";
    t.appId = id;
    t.host = "10.0.0.1";
    t.agentId = "ag-S1";
    t.state = conf::TaskState::kRunning;
    t.ports = {31000 + i};
    app->tasks.push_back(t);
    snap.apps[id] = app;
  }
  auto before = builder.update(snap, registry::Diff{});
  ASSERT_TRUE(before.ok());
  registry::Snapshot next = snap;
  next.version = 2;
  auto changed = std::make_shared<registry::App>(*snap.apps["/app7"]);
  changed->tasks[0].ip = "10.9.9.9";
  next.apps["/app7"] = changed;
  auto after = builder.update(next, registry::Diff{{}, {"/app7"}, {}});
  ASSERT_TRUE(after.ok());
  size_t same = 0, different = 0;
  (*after)->forEachNode(
      [&](const Node& n) { (&n == (*before)->find(n.name) ? same : different)++; });
  // app7's own names whose records changed: its app and task names (A).
  // Its SRV records name the task and its port, which did not change, and
  // under .slave the agent address did not either.
  EXPECT_EQ(different, 2u);
  EXPECT_GT(same, 200u);
  EXPECT_EQ((*after)->hostAddresses("app7.marathon.mesos"), std::vector<std::string>{"10.9.9.9"});
  EXPECT_EQ((*before)->hostAddresses("app7.marathon.mesos"), std::vector<std::string>{"10.0.0.1"});
}

// An app of `tasks` running tasks spread over three agents.
std::shared_ptr<registry::App> appWithTasks(const std::string& id, int tasks, int port = 31000) {
  auto app = std::make_shared<registry::App>();
  app->id = id;
  app->portDefinitions = {registry::PortDefinition{10000, "http", "tcp", {}}};
  for (int k = 0; k < tasks; ++k) {
    registry::Task t;
    t.id = id.substr(1) + "." + std::to_string(k);
    t.appId = id;
    t.host = "10.0.0." + std::to_string(1 + k % 3);
    t.agentId = "ag-S" + std::to_string(k % 3);
    t.state = conf::TaskState::kRunning;
    t.ports = {port + k};
    app->tasks.push_back(t);
  }
  return app;
}

// A task added to a big app re-encodes the app's names, but every name
// whose records stay the same (the other tasks' own names) keeps its node:
// the index is patched only where an answer changes.
TEST(ZoneIncremental, NamesWhoseRecordsDidNotChangeKeepTheirNode) {
  ZoneBuilder builder(namingFor(1));
  registry::Snapshot snap;
  snap.version = 1;
  snap.leader = "127.0.0.1:8080";
  for (int i = 0; i < 20; ++i) {
    std::string id = "/app" + std::to_string(i);
    snap.apps[id] = appWithTasks(id, 10, 31000 + 100 * i);
  }
  auto before = builder.update(snap, registry::Diff{});
  ASSERT_TRUE(before.ok());
  registry::Snapshot next = snap;
  next.version = 2;
  auto grown = appWithTasks("/app7", 11, 31700);
  next.apps["/app7"] = grown;
  auto after = builder.update(next, registry::Diff{{}, {"/app7"}, {}});
  ASSERT_TRUE(after.ok());
  size_t same = 0, rebuilt = 0, added = 0;
  (*after)->forEachNode([&](const Node& n) {
    const Node* old = (*before)->find(n.name);
    if (old == nullptr) {
      ++added;
    } else if (old == &n) {
      ++same;
    } else {
      ++rebuilt;
      EXPECT_NE(describe(**before, *old), describe(**after, n))
          << nameToText({reinterpret_cast<const uint8_t*>(n.name.data()), n.name.size()})
          << " was rebuilt with the same records";
    }
  });
  // New: the task's name and its name under .slave. Rebuilt: the app's four
  // SRV names. The app's A names (.marathon and .slave) keep their three
  // agent addresses (the new task runs on one of them, duplicates are
  // dropped), the other ten tasks' names keep theirs.
  EXPECT_EQ(added, 2u);
  EXPECT_EQ(rebuilt, 4u);
  EXPECT_GT(same, 400u);
  auto scratch = buildZone(zoneInputFromSnapshot(next, namingFor(1)));
  ASSERT_TRUE(scratch.ok());
  expectSameZone(**after, **scratch, "grown");
}

// Names leave the index one at a time (the shards are patched in place, the
// names after a freed slot moving back): every other name stays findable.
TEST(ZoneIncremental, RemovingAppsOneByOneKeepsEveryOtherNameFindable) {
  ZoneNaming naming = namingFor(1);
  ZoneBuilder builder(naming);
  registry::Snapshot snap;
  snap.version = 1;
  snap.leader = "127.0.0.1:8080";
  std::vector<std::string> ids;
  for (int i = 0; i < 400; ++i) {
    ids.push_back("/app" + std::to_string(i));
    snap.apps[ids.back()] = appWithTasks(ids.back(), 2, 31000 + 2 * i);
  }
  ASSERT_TRUE(builder.update(snap, registry::Diff{}).ok());
  std::mt19937 rng(11);
  std::shuffle(ids.begin(), ids.end(), rng);
  for (size_t step = 0; step < ids.size(); ++step) {
    registry::Snapshot next = snap;
    next.version = snap.version + 1;
    next.apps.erase(ids[step]);
    auto z = builder.update(next, registry::Diff{{}, {}, {ids[step]}});
    ASSERT_TRUE(z.ok());
    for (size_t k = 0; k < ids.size(); ++k) {
      std::string name = ids[k].substr(1) + ".marathon.mesos";
      ASSERT_EQ((*z)->hostAddresses(name).empty(), k <= step) << "step " << step << " " << name;
    }
    if (step % 40 == 0) {
      auto scratch = buildZone(zoneInputFromSnapshot(next, naming));
      ASSERT_TRUE(scratch.ok());
      expectSameZone(**z, **scratch, "step " + std::to_string(step));
      if (HasFatalFailure()) return;
    }
    snap = std::move(next);
  }
}

TEST(ZoneIncremental, KnownAgentsChangeTheSlaveNames) {
  ZoneNaming naming = namingFor(1);
  ZoneBuilder builder(naming);
  registry::Snapshot snap;
  snap.version = 1;
  ASSERT_TRUE(builder.update(snap, registry::Diff{}).ok());
  builder.setKnownAgents({AgentInfo{"ag-S1", "10.0.0.1", "10.0.0.1", 5051}});
  auto z = builder.update(snap, registry::Diff{});
  ASSERT_TRUE(z.ok());
  EXPECT_EQ((*z)->hostAddresses("slave.mesos"), std::vector<std::string>{"10.0.0.1"});
  builder.setKnownAgents({});
  z = builder.update(snap, registry::Diff{});
  ASSERT_TRUE(z.ok());
  EXPECT_TRUE((*z)->hostAddresses("slave.mesos").empty());
}

TEST(ZoneIncremental, BadDomainIsAnErrorAndTheNextCallRetries) {
  ZoneNaming naming;
  naming.domain = "..";
  ZoneBuilder builder(naming);
  registry::Snapshot snap;
  snap.version = 1;
  EXPECT_FALSE(builder.update(snap, registry::Diff{}).ok());
  EXPECT_FALSE(builder.update(snap, registry::Diff{}).ok());
}

}  // namespace
}  // namespace corral::dns
