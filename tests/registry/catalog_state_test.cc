// Socket-free tests of the registry's state machine: full loads and Marathon
// events in, snapshots and diffs out.
#include "registry/catalog_state.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace corral::registry {
namespace {

// Two apps as /v2/apps?embed=apps.tasks returns them (with fields we ignore).
const char* kApps = R"({"apps":[
  {"id":"/web","instances":2,"version":"v1","cmd":"python3 -m http.server $PORT0",
   "labels":{"HAPROXY_GROUP":"external"},
   "portDefinitions":[{"port":10000,"name":"http","protocol":"tcp","labels":{}}],
   "healthChecks":[{"protocol":"HTTP","path":"/"}],
   "tasks":[
     {"id":"web.1","appId":"/web","host":"10.0.0.1","slaveId":"S1","ports":[31000],
      "servicePorts":[10000],"state":"TASK_RUNNING","version":"v1",
      "ipAddresses":[{"ipAddress":"10.0.0.1","protocol":"IPv4"}],
      "healthCheckResults":[{"alive":true,"consecutiveFailures":0}],"stagedAt":"x"},
     {"id":"web.2","appId":"/web","host":"10.0.0.2","slaveId":"S2","ports":[31001],
      "servicePorts":[10000],"state":"TASK_RUNNING","version":"v1","healthCheckResults":[]},
     {"id":"web.0","appId":"/web","host":"10.0.0.2","slaveId":"S2","ports":[31002],
      "state":"TASK_FAILED","version":"v0"}]},
  {"id":"/db","instances":1,"version":"v1","portDefinitions":[],
   "tasks":[{"id":"db.1","appId":"/db","host":"10.0.0.3","slaveId":"S3","ports":[31005],
             "state":"TASK_RUNNING","version":"v1"}]}]})";

Json parse(const std::string& text) {
  auto j = parseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

// "/web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h web.2/RUNNING]" per app, ' '-joined.
std::string summary(const Snapshot& s) {
  std::string out;
  for (const auto& [id, app] : s.apps) {
    if (!out.empty()) out += ' ';
    out += id;
    if (!app->labels.empty()) {
      out += '{';
      for (const auto& [k, v] : app->labels)
        out += k + "=" + v + (k == app->labels.rbegin()->first ? "" : ",");
      out += '}';
    }
    for (const auto& pd : app->portDefinitions) out += ":" + std::to_string(pd.port);
    out += '[';
    for (size_t i = 0; i < app->tasks.size(); ++i) {
      const Task& t = app->tasks[i];
      if (i) out += ' ';
      std::string name(conf::toString(t.state));
      out += t.id + "/" + name.substr(name.rfind('_') + 1);
      if (t.healthy) out += *t.healthy ? "/h" : "/u";
    }
    out += ']';
  }
  return out;
}

std::string diffText(const Diff& d) {
  std::string out;
  for (const auto& id : d.added) out += (out.empty() ? "+" : " +") + id;
  for (const auto& id : d.changed) out += (out.empty() ? "~" : " ~") + id;
  for (const auto& id : d.removed) out += (out.empty() ? "-" : " -") + id;
  return out;
}

const char* kBase =
    "/db[db.1/RUNNING] /web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h web.2/RUNNING]";

TEST(CatalogState, InitialLoad) {
  CatalogState st;
  auto report = st.loadApps(kApps);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->apps, 2u);
  EXPECT_TRUE(report->bad.empty());
  auto [snap, diff] = st.build(1234);
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->version, 1u);
  EXPECT_EQ(snap->builtAtMs, 1234);
  EXPECT_EQ(summary(*snap), kBase);  // the failed task is not in the catalog
  EXPECT_EQ(diffText(diff), "+/db +/web");
  const App* web = snap->find("/web");
  ASSERT_TRUE(web);
  EXPECT_TRUE(web->hasHealthChecks);
  EXPECT_EQ(web->instances, 2);
  ASSERT_EQ(web->portDefinitions.size(), 1u);
  EXPECT_EQ(web->portDefinitions[0].name, "http");
  const Task* t = web->findTask("web.1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "10.0.0.1");
  EXPECT_EQ(t->agentId, "S1");
  EXPECT_EQ(t->ports, std::vector<int>{31000});
  EXPECT_EQ(t->servicePorts, std::vector<int>{10000});
  EXPECT_EQ(t->ip, "10.0.0.1");
  EXPECT_EQ(t->version, "v1");
  EXPECT_FALSE(web->findTask("web.2")->healthy.has_value());
  EXPECT_FALSE(snap->find("/db")->hasHealthChecks);
  // Nothing pending: no new snapshot.
  EXPECT_FALSE(st.dirty());
  EXPECT_FALSE(st.build(1).first);
}

struct Ev {
  const char* type;
  std::string data;
};

struct EventCase {
  const char* name;
  std::vector<Ev> events;
  std::vector<ApplyOutcome> outcomes;
  std::string after;  // summary() of the catalog afterwards
  std::string diff;   // diffText() of the resulting snapshot; "" = no new snapshot
  std::vector<std::string> refetch = {};
};

constexpr auto A = ApplyOutcome::kApplied;
constexpr auto N = ApplyOutcome::kNoop;
constexpr auto I = ApplyOutcome::kIgnored;
constexpr auto B = ApplyOutcome::kBad;

std::string status(const std::string& task, const std::string& state,
                   const std::string& app = "/web", int port = 31002) {
  return R"({"taskId":")" + task + R"(","taskStatus":")" + state + R"(","appId":")" + app +
         R"(","host":"10.0.0.9","slaveId":"S9","ports":[)" + std::to_string(port) +
         R"(],"version":"v1","ipAddresses":[{"ipAddress":"10.0.0.9","protocol":"IPv4"}],)" +
         R"("message":"","eventType":"status_update_event","timestamp":"2024-01-01T00:00:00.000Z"})";
}

const std::vector<EventCase>& eventCases() {
  static const std::vector<EventCase> cases = {
      {"running task is added",
       {{"status_update_event", status("web.3", "TASK_RUNNING")}},
       {A},
       "/db[db.1/RUNNING] /web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h web.2/RUNNING "
       "web.3/RUNNING]",
       "~/web"},
      {"staging then running",
       {{"status_update_event", status("web.3", "TASK_STAGING")},
        {"status_update_event", status("web.3", "TASK_RUNNING")}},
       {A, A},
       "/db[db.1/RUNNING] /web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h web.2/RUNNING "
       "web.3/RUNNING]",
       "~/web"},
      {"terminal task is removed",
       {{"status_update_event", status("web.2", "TASK_KILLED")}},
       {A},
       "/db[db.1/RUNNING] /web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h]",
       "~/web"},
      {"every terminal state removes",
       {{"status_update_event", status("web.1", "TASK_FAILED")},
        {"status_update_event", status("web.2", "TASK_LOST")},
        {"status_update_event", status("db.1", "TASK_GONE_BY_OPERATOR", "/db")}},
       {A, A, A},
       "/db[] /web{HAPROXY_GROUP=external}:10000[]",
       "~/db ~/web"},
      {"kill of an unknown task is a no-op",
       {{"status_update_event", status("web.9", "TASK_KILLED")}},
       {N},
       kBase,
       ""},
      {"killing keeps the task with its state",
       {{"status_update_event", status("web.2", "TASK_KILLING", "/web", 31001)}},
       {A},
       "/db[db.1/RUNNING] /web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h web.2/KILLING]",
       "~/web"},
      {"a repeated identical update is a no-op",
       {{"status_update_event",
         R"({"taskId":"db.1","taskStatus":"TASK_RUNNING","appId":"/db","host":"10.0.0.3",
             "slaveId":"S3","ports":[31005],"version":"v1"})"}},
       {N},
       kBase,
       ""},
      {"up and down within one burst leaves no diff",
       {{"status_update_event", status("web.3", "TASK_RUNNING")},
        {"status_update_event", status("web.3", "TASK_KILLED")}},
       {A, A},
       kBase,
       ""},
      {"health flips",
       {{"health_status_changed_event",
         R"({"appId":"/web","taskId":"web.2","instanceId":"web.2","version":"v1","alive":false})"},
        {"health_status_changed_event",
         R"({"appId":"/web","taskId":"web.1","version":"v1","alive":false})"}},
       {A, A},
       "/db[db.1/RUNNING] /web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/u web.2/RUNNING/u]",
       "~/web"},
      {"instance health matches Marathon task ids by instance prefix",
       {{"status_update_event", status("web.instance-9._app.1", "TASK_RUNNING")},
        {"instance_health_changed_event",
         R"({"instanceId":"web.instance-9","runSpecId":"/web","healthy":true})"},
        {"instance_health_changed_event",
         R"({"instanceId":"web.instance","runSpecId":"/web","healthy":false})"}},
       {A, A, N},
       "/db[db.1/RUNNING] /web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h web.2/RUNNING "
       "web.instance-9._app.1/RUNNING/h]",
       "~/web"},
      {"same health again is a no-op",
       {{"health_status_changed_event", R"({"appId":"/web","taskId":"web.1","alive":true})"}},
       {N},
       kBase,
       ""},
      {"health of an unknown app or task is a no-op",
       {{"health_status_changed_event", R"({"appId":"/nope","taskId":"x.1","alive":true})"},
        {"health_status_changed_event", R"({"appId":"/web","taskId":"web.7","alive":true})"}},
       {N, N},
       kBase,
       ""},
      {"api_post_event adds a new app",
       {{"api_post_event",
         R"({"clientIp":"","uri":"/v2/apps/api","appDefinition":{"id":"/api","cmd":"x",
             "portDefinitions":[{"port":10002,"name":"grpc"}],"container":{"type":"DOCKER"}}})"}},
       {A},
       "/api:10002[] " + std::string(kBase),
       "+/api"},
      {"api_post_event changes labels and keeps tasks",
       {{"api_post_event",
         R"({"uri":"/v2/apps/web","appDefinition":{"id":"/web","version":"v1","instances":2,
             "labels":{"HAPROXY_GROUP":"internal"},"healthChecks":[{}],
             "portDefinitions":[{"port":10000,"name":"http","protocol":"tcp"}]}})"}},
       {A},
       "/db[db.1/RUNNING] /web{HAPROXY_GROUP=internal}:10000[web.1/RUNNING/h web.2/RUNNING]",
       "~/web"},
      {"api_post_event with the same definition is a no-op",
       {{"api_post_event",
         R"({"uri":"/v2/apps/db","appDefinition":{"id":"/db","version":"v1","instances":1,
             "portDefinitions":[]}})"}},
       {N},
       kBase,
       ""},
      {"api_post_event without a definition re-reads the app",
       {{"api_post_event", R"({"uri":"/v2/apps/shop/web"})"},
        {"api_post_event", R"({"uri":"/v2/groups/shop"})"}},
       {N, I},
       kBase,
       "",
       {"/shop/web"}},
      {"app_terminated_event removes the app",
       {{"app_terminated_event", R"({"appId":"/db"})"},
        {"app_terminated_event", R"({"appId":"/never"})"}},
       {A, N},
       "/web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h web.2/RUNNING]",
       "-/db"},
      {"a removed app comes back",
       {{"app_terminated_event", R"({"appId":"/db"})"},
        {"api_post_event", R"({"appDefinition":{"id":"/db","version":"v2"}})"}},
       {A, A},
       "/db[] /web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h web.2/RUNNING]",
       "~/db"},
      {"a task of an unknown app re-reads the app",
       {{"status_update_event", status("late.1", "TASK_RUNNING", "/late")}},
       {N},
       kBase,
       "",
       {"/late"}},
      {"a finished deployment re-reads the apps it touched",
       {{"deployment_success",
         R"({"id":"d1","plan":{"id":"d1","affectedApps":["/web"],
             "steps":[{"actions":[{"action":"ScaleApplication","app":"/db"}]}]}})"}},
       {N},
       kBase,
       "",
       {"/db", "/web"}},
      {"events the catalog does not use are ignored",
       {{"deployment_info", R"({"plan":{"affectedApps":["/web"]}})"},
        {"event_stream_attached", R"({"remoteAddress":"127.0.0.1"})"},
        {"failed_health_check_event", R"({"appId":"/web","taskId":"web.1"})"}},
       {I, I, I},
       kBase,
       ""},
      {"malformed events are skipped, the next one applies",
       {{"status_update_event", "{not json"},
        {"status_update_event", "[1,2]"},
        {"status_update_event", R"({"taskStatus":"TASK_RUNNING","appId":"/web"})"},
        {"status_update_event",
         R"({"taskId":"web.3","taskStatus":"TASK_RUNNING","appId":"/web","ports":"x"})"},
        {"health_status_changed_event", R"({"appId":"/web","taskId":"web.1","alive":"yes"})"},
        {"api_post_event", R"({"appDefinition":{"id":"/db","labels":{"a":5}}})"},
        {"api_post_event", R"({"appDefinition":{"labels":{}}})"},
        {"app_terminated_event", R"({})"},
        {"status_update_event", status("web.3", "TASK_RUNNING")}},
       {B, B, B, B, B, B, B, B, A},
       "/db[db.1/RUNNING] /web{HAPROXY_GROUP=external}:10000[web.1/RUNNING/h web.2/RUNNING "
       "web.3/RUNNING]",
       "~/web"},
  };
  return cases;
}

TEST(CatalogState, EventTable) {
  for (const auto& c : eventCases()) {
    SCOPED_TRACE(c.name);
    CatalogState st;
    ASSERT_TRUE(st.loadApps(kApps).ok());
    auto first = st.build(1).first;
    ASSERT_TRUE(first);
    ASSERT_EQ(c.events.size(), c.outcomes.size());
    std::vector<std::string> refetch;
    for (size_t i = 0; i < c.events.size(); ++i) {
      ApplyResult r = st.applyEvent(c.events[i].type, std::string_view(c.events[i].data));
      EXPECT_EQ(static_cast<int>(r.outcome), static_cast<int>(c.outcomes[i]))
          << "event " << i << ": " << r.error;
      if (r.outcome == ApplyOutcome::kBad) {
        EXPECT_FALSE(r.error.empty());
      }
      refetch.insert(refetch.end(), r.refetch.begin(), r.refetch.end());
    }
    EXPECT_EQ(refetch, c.refetch);
    auto [snap, diff] = st.build(2);
    EXPECT_EQ(diffText(diff), c.diff);
    if (c.diff.empty()) {
      EXPECT_FALSE(snap);
      EXPECT_EQ(summary(*st.last()), c.after);
    } else {
      ASSERT_TRUE(snap);
      EXPECT_EQ(snap->version, 2u);
      EXPECT_EQ(summary(*snap), c.after);
    }
  }
}

TEST(CatalogState, UnchangedAppsShareTheirPointer) {
  CatalogState st;
  ASSERT_TRUE(st.loadApps(kApps).ok());
  auto s1 = st.build(1).first;
  st.applyEvent("status_update_event", std::string_view(status("web.3", "TASK_RUNNING")));
  auto s2 = st.build(2).first;
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(s1->apps.at("/db").get(), s2->apps.at("/db").get());
  EXPECT_NE(s1->apps.at("/web").get(), s2->apps.at("/web").get());
  // The old snapshot is untouched.
  EXPECT_EQ(s1->find("/web")->tasks.size(), 2u);
  EXPECT_EQ(s2->find("/web")->tasks.size(), 3u);
  // New task: service ports from the app, address from the event.
  const Task* t = s2->find("/web")->findTask("web.3");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->servicePorts, std::vector<int>{10000});
  EXPECT_EQ(t->ip, "10.0.0.9");
  EXPECT_EQ(t->agentId, "S9");
  EXPECT_EQ(t->appId, "/web");
}

// A change costs its app, not the catalog: the next snapshot shares the
// storage of every app chunk but the changed one with the snapshot before.
TEST(CatalogState, ASnapshotCopiesOnlyTheChunkOfTheChangedApp) {
  std::string body = R"({"apps":[)";
  for (int i = 0; i < 2000; ++i) {
    body += (i ? "," : "") + std::string(R"({"id":"/a)") + std::to_string(10000 + i) +
            R"(","tasks":[]})";
  }
  body += "]}";
  CatalogState st;
  ASSERT_TRUE(st.loadApps(body).ok());
  auto s1 = st.build(1).first;
  ASSERT_TRUE(s1);
  ASSERT_EQ(s1->apps.size(), 2000u);
  std::string ev = status("a11234.1", "TASK_RUNNING", "/a11234");
  ASSERT_TRUE(st.applyEvent("status_update_event", std::string_view(ev)).refetch.empty());
  auto [s2, diff] = st.build(2);
  ASSERT_TRUE(s2);
  EXPECT_EQ(diffText(diff), "~/a11234");
  ASSERT_EQ(s2->apps.chunkCount(), s1->apps.chunkCount());
  size_t copied = 0;
  for (size_t i = 0; i < s1->apps.chunkCount(); ++i) copied += !s2->apps.sharesChunk(s1->apps, i);
  EXPECT_EQ(copied, 1u);
  EXPECT_EQ(s1->find("/a11234")->tasks.size(), 0u);
  EXPECT_EQ(s2->find("/a11234")->tasks.size(), 1u);
}

TEST(CatalogState, FullReloadDiffsAgainstThePreviousSnapshot) {
  CatalogState st;
  ASSERT_TRUE(st.loadApps(kApps).ok());
  auto s1 = st.build(1).first;
  // /db is gone, /web lost a task, /new appeared, and a bad app is skipped.
  Json body = parse(kApps);
  Json web = body["apps"][0];
  web["tasks"].erase(1);
  body["apps"] = Json::array(
      {web, Json{{"id", "/new"}, {"tasks", Json::array()}}, Json{{"id", "/bad"}, {"labels", 7}}});
  auto report = st.loadApps(dumpJson(body));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->apps, 2u);
  ASSERT_EQ(report->bad.size(), 1u);
  EXPECT_NE(report->bad[0].message.find("labels"), std::string::npos) << report->bad[0].message;
  auto [s2, diff] = st.build(2);
  ASSERT_TRUE(s2);
  EXPECT_EQ(diffText(diff), "+/new ~/web -/db");
  // Reloading the same thing again changes nothing and keeps every pointer.
  ASSERT_TRUE(st.loadApps(dumpJson(body)).ok());
  auto [s3, diff3] = st.build(3);
  EXPECT_FALSE(s3);
  EXPECT_TRUE(diff3.empty());
}

TEST(CatalogState, BadAppInReloadKeepsItsLastGoodVersion) {
  CatalogState st;
  ASSERT_TRUE(st.loadApps(kApps).ok());
  auto s1 = st.build(1).first;
  Json body = parse(kApps);
  body["apps"][1]["portDefinitions"] = "nonsense";
  auto report = st.loadApps(dumpJson(body));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->bad.size(), 1u);
  EXPECT_FALSE(st.build(2).first);  // /db kept as it was, /web unchanged
  EXPECT_EQ(st.last()->apps.at("/db").get(), s1->apps.at("/db").get());
}

TEST(CatalogState, LoadRejectsABadEnvelope) {
  CatalogState st;
  EXPECT_FALSE(st.loadApps("[]").ok());
  EXPECT_FALSE(st.loadApps(R"({"apps":{}})").ok());
  EXPECT_FALSE(st.loadApps("not json").ok());
  EXPECT_FALSE(st.dirty());
}

TEST(CatalogState, AnAnswerMalformedAtItsEndChangesNothing) {
  // The apps are read one at a time; one that parses before the text turns
  // out truncated must not be applied, nor the rest of the catalog removed.
  CatalogState st;
  ASSERT_TRUE(st.loadApps(kApps).ok());
  auto s1 = st.build(1).first;
  std::string truncated = R"({"apps":[{"id":"/new","tasks":[]},{"id":"/other")";
  auto report = st.loadApps(truncated);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("malformed JSON"), std::string::npos)
      << report.error().message;
  EXPECT_FALSE(st.dirty());
  EXPECT_EQ(st.peek("/new"), nullptr);
  EXPECT_NE(st.peek("/db"), nullptr);
}

TEST(CatalogState, LeaderAndEventTimesAreInTheSnapshot) {
  CatalogState st;
  st.setLeader("10.0.0.1:8080");
  auto s1 = st.build(5).first;
  ASSERT_TRUE(s1);  // the leader alone is a change
  EXPECT_EQ(s1->leader, "10.0.0.1:8080");
  EXPECT_TRUE(s1->apps.empty());
  st.setLeader("10.0.0.1:8080");
  EXPECT_FALSE(st.dirty());
  ASSERT_TRUE(st.loadApps(kApps).ok());
  st.applyEvent("status_update_event", std::string_view(status("web.3", "TASK_RUNNING")));
  st.noteEventArrival(100);
  st.noteEventArrival(120);
  st.setLastEventId("42");
  auto s2 = st.build(130).first;
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->firstEventArrivedMs, 100);
  EXPECT_EQ(s2->lastEventArrivedMs, 120);
  EXPECT_EQ(s2->lastEventId, "42");
  EXPECT_EQ(s2->version, 2u);
  st.applyEvent("app_terminated_event", std::string_view(R"({"appId":"/db"})"));
  auto s3 = st.build(140).first;
  ASSERT_TRUE(s3);
  EXPECT_EQ(s3->firstEventArrivedMs, 0);  // reset per snapshot
}

TEST(CatalogState, UpsertAndRemoveFromARefetch) {
  CatalogState st;
  ASSERT_TRUE(st.loadApps(kApps).ok());
  st.build(1);
  auto app = parseApp(parse(R"({"id":"/late","tasks":[{"id":"late.1","host":"h","ports":[1],
                                 "state":"TASK_RUNNING"}]})"));
  ASSERT_TRUE(app.ok());
  st.upsertApp(*app);
  st.removeApp("/db");
  st.removeApp("/never");
  auto [snap, diff] = st.build(2);
  ASSERT_TRUE(snap);
  EXPECT_EQ(diffText(diff), "+/late -/db");
  EXPECT_EQ(snap->find("/late")->tasks.at(0).appId, "/late");
  // Added then removed before a build: nothing to report.
  st.upsertApp(*app);
  st.removeApp("/late");
  auto [s3, d3] = st.build(3);
  ASSERT_TRUE(s3);
  EXPECT_EQ(diffText(d3), "-/late");
}

TEST(ParseApp, TaskStatesAreTypedAndTerminalOnesLeave) {
  auto app = parseApp(parse(R"({"id":"/s","tasks":[
      {"id":"s.run","state":"TASK_RUNNING"},{"id":"s.kill","state":"TASK_KILLING"},
      {"id":"s.gone","state":"TASK_GONE_BY_OPERATOR"},{"id":"s.done","state":"TASK_FINISHED"},
      {"id":"s.new","state":"TASK_FROM_A_NEWER_MARATHON"}]})"));
  ASSERT_TRUE(app.ok()) << app.error().message;
  ASSERT_EQ(app->tasks.size(), 3u);
  EXPECT_EQ(app->findTask("s.run")->state, conf::TaskState::kRunning);
  EXPECT_TRUE(app->findTask("s.run")->running());
  EXPECT_EQ(app->findTask("s.kill")->state, conf::TaskState::kKilling);
  EXPECT_FALSE(app->findTask("s.kill")->running());
  // A state we do not know is kept, typed unknown, and never counted as running.
  EXPECT_EQ(app->findTask("s.new")->state, conf::TaskState::kUnknown);
  EXPECT_FALSE(app->findTask("s.new")->running());
}

TEST(ParseApp, IsLenientAboutWhatItDoesNotUse) {
  // Legacy "ports", tasks without state (older Marathon), relative id, unknown fields.
  auto app = parseApp(parse(R"({"id":"legacy","ports":[10010,10011],"instances":1.0,
      "container":{"docker":{"image":"x"}},"constraints":[["hostname","UNIQUE"]],
      "tasks":[{"id":"legacy.a","host":"h1","ports":[1,2],"startedAt":"2024-01-01T00:00:00Z"},
               {"id":"legacy.b","host":"h2","ports":[3,4],"startedAt":null}]})"));
  ASSERT_TRUE(app.ok()) << app.error().message;
  EXPECT_EQ(app->id, "/legacy");
  EXPECT_EQ(app->instances, 1);
  ASSERT_EQ(app->portDefinitions.size(), 2u);
  EXPECT_EQ(app->portDefinitions[1].port, 10011);
  ASSERT_EQ(app->tasks.size(), 2u);
  EXPECT_EQ(app->tasks[0].state, conf::TaskState::kRunning);
  EXPECT_EQ(app->tasks[1].state, conf::TaskState::kStaging);
  EXPECT_EQ(app->tasks[0].appId, "/legacy");
}

TEST(ParseApp, ErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* mentions;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"labels":{}})", "/id"},
           {R"({"id":5})", "/id"},
           {R"({"id":"/a","portDefinitions":[{"port":"80"}]})", "portDefinitions(0)/port"},
           {R"({"id":"/a","tasks":[{"id":"t","ports":[1,"x"]}]})", "ports(1)"},
           {R"({"id":"/a","tasks":[{"id":"t","healthCheckResults":[{"alive":1}]}]})", "alive"},
           {R"({"id":"/a","healthChecks":{}})", "healthChecks"},
           {R"({"id":"/a","healthChecks":[5]})", "healthChecks(0)"},
           {R"({"id":"/a","healthChecks":[{"protocol":7}]})", "healthChecks(0)/protocol"},
           {R"({"id":"/a","healthChecks":[{"portIndex":"1"}]})", "healthChecks(0)/portIndex"},
       }) {
    auto app = parseApp(parse(c.json));
    ASSERT_FALSE(app.ok()) << c.json;
    EXPECT_NE(app.error().message.find(c.mentions), std::string::npos)
        << c.json << " -> " << app.error().message;
  }
}

TEST(ParseApp, HealthCheckProtocolsAndPorts) {
  auto app = parseApp(parse(R"({"id":"/h","healthChecks":[
      {"protocol":"MESOS_HTTPS","portIndex":1},{"protocol":"TCP","port":8080},
      {"protocol":"COMMAND","command":{"value":"true"}},{"path":"/"},
      {"protocol":"HTTP","portIndex":null}]})"));
  ASSERT_TRUE(app.ok()) << app.error().message;
  ASSERT_EQ(app->healthChecks.size(), 5u);
  EXPECT_TRUE(app->hasHealthChecks);
  EXPECT_TRUE(app->healthChecks[0].http);
  EXPECT_EQ(app->healthChecks[0].portIndex, std::optional<int>(1));
  EXPECT_FALSE(app->healthChecks[1].http);
  EXPECT_EQ(app->healthChecks[1].port, std::optional<int>(8080));
  EXPECT_FALSE(app->healthChecks[1].portIndex) << "a fixed port has no index";
  EXPECT_FALSE(app->healthChecks[2].http);
  EXPECT_FALSE(app->healthChecks[2].portIndex) << "a command targets no port";
  EXPECT_TRUE(app->healthChecks[3].http) << "Marathon's default protocol is HTTP";
  EXPECT_EQ(app->healthChecks[3].portIndex, std::optional<int>(0)) << "and its default port 0";
  EXPECT_EQ(app->healthChecks[4].portIndex, std::optional<int>(0));
}

TEST(ParseTask, HealthyOnlyWhenEveryCheckIs) {
  auto t = parseTask(parse(R"({"id":"t","healthCheckResults":[{"alive":true},{"alive":false}]})"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->healthy, std::optional<bool>(false));
  t = parseTask(parse(R"({"id":"t","healthCheckResults":[{"alive":true},{"alive":true}]})"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->healthy, std::optional<bool>(true));
}

}  // namespace
}  // namespace corral::registry
