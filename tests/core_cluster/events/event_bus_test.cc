// The event bus: in-process subscribers, and /v2/events over a real HTTP
// server on 127.0.0.1 port 0 read with the SSE parser.
#include "core_cluster/events/event_bus.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "base/clock.h"
#include "base/sse.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::events {
namespace {

using corral::testing::bodyJson;
using corral::testing::fetchSync;

// One /v2/events client: status, parsed events, comments and the raw text.
struct SseClient {
  int status = 0;
  std::vector<sse::Event> events;
  int comments = 0;
  std::string raw;
  bool ended = false;
  std::unique_ptr<sse::Parser> parser;
  CancelHandle handle;

  std::vector<std::string> types() const {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.type);
    return out;
  }
};

// Ten distinct Marathon event types: unfiltered streams carry only Marathon's.
std::string marathonType(int i) {
  static const char* kTypes[] = {"api_post_event",         "status_update_event",
                                 "deployment_info",        "deployment_success",
                                 "deployment_failed",      "app_terminated_event",
                                 "group_change_success",   "add_health_check_event",
                                 "instance_changed_event", "health_status_changed_event"};
  return kTypes[(i - 1) % 10];
}

class EventBusTest : public ::testing::Test {
 protected:
  void start(EventBusOptions options = {}) {
    bus_ = std::make_unique<EventBus>(loop_, options);
    server_ = std::make_unique<http::Server>(
        loop_,
        [this](http::Request& req, std::shared_ptr<http::Exchange> ex) { bus_->attach(req, ex); });
    auto p = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(p.ok());
    port_ = *p;
  }
  void TearDown() override {
    for (auto& c : clients_) {
      c->handle.reset();
    }
    server_.reset();
    bus_.reset();
  }

  SseClient& connect(const std::string& target = "/v2/events",
                     http::Headers headers = {{"Accept", "text/event-stream"}}) {
    auto c = std::make_unique<SseClient>();
    SseClient* cp = c.get();
    cp->parser =
        std::make_unique<sse::Parser>([cp](const sse::Event& e) { cp->events.push_back(e); },
                                      [cp](std::string_view) { ++cp->comments; });
    http::Request req;
    req.target = target;
    req.headers = std::move(headers);
    http::StreamCallbacks cb;
    cb.onHead = [cp](const http::Response& head) { cp->status = head.status; };
    cb.onData = [cp](std::string_view chunk) {
      cp->raw.append(chunk);
      cp->parser->feed(chunk);
    };
    cb.onEnd = [cp](Status) { cp->ended = true; };
    cp->handle = http::openStream(loop_, "127.0.0.1", port_, std::move(req), std::move(cb));
    clients_.push_back(std::move(c));
    return *cp;
  }

  // Connects and waits for the stream to be attached.
  SseClient& attach(const std::string& target = "/v2/events", http::Headers extra = {}) {
    size_t before = bus_->subscriberCount();
    extra.emplace_back("Accept", "text/event-stream");
    SseClient& c = connect(target, std::move(extra));
    EXPECT_TRUE(
        loop_.runUntil([&] { return bus_->subscriberCount() > before && c.status != 0; }, 3000));
    return c;
  }

  void waitEvents(SseClient& c, size_t n) {
    EXPECT_TRUE(loop_.runUntil([&] { return c.events.size() >= n; }, 3000))
        << "have " << c.events.size() << " of " << n << "; raw: " << c.raw;
  }

  Loop loop_;
  std::unique_ptr<EventBus> bus_;
  std::unique_ptr<http::Server> server_;
  std::vector<std::unique_ptr<SseClient>> clients_;
  int port_ = 0;
};

TEST_F(EventBusTest, IdsIncreaseAndDataCarriesTypeAndTimestamp) {
  start();
  std::vector<StoredEvent> seen;
  uint64_t token = bus_->subscribe([&](const StoredEvent& e) { seen.push_back(e); });
  EXPECT_EQ(bus_->publish("a", Json{{"x", 1}}), 1u);
  EXPECT_EQ(bus_->publish("b", Json::object()), 2u);
  EXPECT_EQ(bus_->publish("c", Json{{"timestamp", "2020-01-01T00:00:00.000Z"}}), 3u);
  EXPECT_EQ(bus_->lastId(), 3u);
  ASSERT_EQ(seen.size(), 3u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i].id, i + 1);
  Json d = *parseJson(seen[0].data);
  EXPECT_EQ(d["eventType"], "a");
  EXPECT_EQ(d["x"], 1);
  EXPECT_GT(parseIsoTime(d["timestamp"].get<std::string>()), 0) << d.dump();
  EXPECT_EQ((*parseJson(seen[2].data))["timestamp"], "2020-01-01T00:00:00.000Z")
      << "a given timestamp is kept";
  bus_->unsubscribe(token);
  bus_->publish("d", Json::object());
  EXPECT_EQ(seen.size(), 3u);
  // Numbering continues after a restart.
  bus_->setNextId(100);
  EXPECT_EQ(bus_->publish("e", Json::object()), 100u);
}

TEST_F(EventBusTest, StreamsEventsWithIdTypeAndData) {
  start();
  SseClient& c = attach();
  EXPECT_EQ(c.status, 200);
  bus_->publish("status_update_event", Json{{"taskId", "t1"}});
  waitEvents(c, 2);
  ASSERT_EQ(c.types(), (std::vector<std::string>{"event_stream_attached", "status_update_event"}));
  EXPECT_EQ(c.events[0].id, "1");
  EXPECT_EQ(c.events[1].id, "2");
  Json d = *parseJson(c.events[1].data);
  EXPECT_EQ(d["eventType"], "status_update_event");
  EXPECT_EQ(d["taskId"], "t1");
  EXPECT_TRUE(d.contains("timestamp"));
  EXPECT_EQ((*parseJson(c.events[0].data))["remoteAddress"], "127.0.0.1");
}

TEST_F(EventBusTest, RequiresAcceptEventStream) {
  start();
  auto r = fetchSync(loop_, port_, "GET", "/v2/events");
  EXPECT_EQ(r.status, 406);
  EXPECT_NE(bodyJson(r).value("message", "").find("text/event-stream"), std::string::npos);
  r = fetchSync(loop_, port_, "GET", "/v2/events", "", {{"Accept", "application/json"}});
  EXPECT_EQ(r.status, 406);
  EXPECT_EQ(bus_->subscriberCount(), 0u);
}

TEST_F(EventBusTest, EventTypeFiltersAreRepeatable) {
  start();
  SseClient& c = attach("/v2/events?event_type=app_terminated_event&event_type=deployment_info");
  SseClient& all = attach();
  for (const char* t : {"api_post_event", "app_terminated_event", "deployment_info",
                        "api_post_event", "deployment_info"}) {
    bus_->publish(t, Json::object());
  }
  waitEvents(c, 3);
  waitEvents(all, 6);
  EXPECT_EQ(c.types(), (std::vector<std::string>{"app_terminated_event", "deployment_info",
                                                 "deployment_info"}));
  EXPECT_EQ(all.types(), (std::vector<std::string>{"event_stream_attached", "api_post_event",
                                                   "app_terminated_event", "deployment_info",
                                                   "api_post_event", "deployment_info"}));
}

TEST_F(EventBusTest, LastEventIdReplaysWhatWasMissed) {
  start();
  for (int i = 1; i <= 5; ++i) bus_->publish(marathonType(i), Json::object());
  SseClient& c = attach("/v2/events", {{"Last-Event-ID", "2"}});
  waitEvents(c, 4);
  EXPECT_EQ(c.types(), (std::vector<std::string>{marathonType(3), marathonType(4), marathonType(5),
                                                 "event_stream_attached"}));
  EXPECT_EQ(c.events[0].id, "3");
  EXPECT_EQ(c.raw.find("resync-required"), std::string::npos);

  // Up to date: nothing replayed, no resync.
  SseClient& d = attach("/v2/events", {{"Last-Event-ID", std::to_string(bus_->lastId())}});
  waitEvents(d, 1);
  EXPECT_EQ(d.types(), (std::vector<std::string>{"event_stream_attached"}));
  EXPECT_EQ(d.raw.find("resync-required"), std::string::npos);
}

TEST_F(EventBusTest, LastEventIdTooOldAsksForResync) {
  start(EventBusOptions{.retainEvents = 3});
  for (int i = 1; i <= 10; ++i) bus_->publish(marathonType(i), Json::object());
  // 8, 9, 10 are held: 7 can resume, 6 cannot.
  SseClient& ok = attach("/v2/events", {{"Last-Event-ID", "7"}});
  waitEvents(ok, 4);
  EXPECT_EQ(ok.types(), (std::vector<std::string>{marathonType(8), marathonType(9),
                                                  marathonType(10), "event_stream_attached"}));

  SseClient& c = attach("/v2/events", {{"Last-Event-ID", "6"}});
  waitEvents(c, 1);
  EXPECT_NE(c.raw.find(": resync-required\n\n"), std::string::npos) << c.raw;
  EXPECT_GE(c.comments, 1);
  EXPECT_EQ(c.types(), (std::vector<std::string>{"event_stream_attached"}));
}

TEST_F(EventBusTest, ResumeIsConfirmedBeforeTheReplay) {
  start();
  for (int i = 1; i <= 3; ++i) bus_->publish(marathonType(i), Json::object());
  SseClient& c = attach("/v2/events", {{"Last-Event-ID", "1"}});
  waitEvents(c, 3);
  EXPECT_EQ(c.raw.rfind(": resumed 1\n\n", 0), 0u) << c.raw;
}

// Only ids this process issued and still holds resume: one from before a
// restart (below the first id), one ahead of the last id (another master, a
// clock stepped back) or garbage asks for a resync, never a silent empty replay.
TEST_F(EventBusTest, UnknownLastEventIdAsksForResync) {
  start();
  bus_->setNextId(1000);
  for (int i = 1; i <= 3; ++i) bus_->publish(marathonType(i), Json::object());  // 1000..1002
  SseClient& ok = attach("/v2/events", {{"Last-Event-ID", "1000"}});
  waitEvents(ok, 3);
  EXPECT_EQ(ok.types(),
            (std::vector<std::string>{marathonType(2), marathonType(3), "event_stream_attached"}));
  for (const char* id : {"999", "5", "100000", "abc", "1001x", "-1"}) {
    SseClient& c = attach("/v2/events", {{"Last-Event-ID", id}});
    waitEvents(c, 1);
    EXPECT_NE(c.raw.find(": resync-required\n\n"), std::string::npos) << id << ": " << c.raw;
    EXPECT_EQ(c.raw.find("resumed"), std::string::npos) << id;
    EXPECT_EQ(c.types(), (std::vector<std::string>{"event_stream_attached"})) << id;
  }
}

TEST_F(EventBusTest, HeartbeatComment) {
  start(EventBusOptions{.heartbeatMs = 30});
  SseClient& c = attach();
  EXPECT_TRUE(loop_.runUntil([&] { return c.comments >= 2; }, 3000));
  EXPECT_NE(c.raw.find(":\n\n"), std::string::npos);
}

TEST_F(EventBusTest, SlowConsumerIsCutOffAndForgotten) {
  start(EventBusOptions{.maxSubscriberBufferBytes = 4096});
  SseClient& slow = attach();
  SseClient& picky = attach("/v2/events?event_type=rare");
  std::string big(1024, 'x');
  // A burst larger than the bound before the consumer could read any of it.
  for (int i = 0; i < 20; ++i) bus_->publish("status_update_event", Json{{"pad", big}});
  EXPECT_EQ(bus_->subscriberCount(), 1u) << "the lagging stream is dropped, the filtered one stays";
  EXPECT_TRUE(loop_.runUntil([&] { return slow.ended; }, 3000));
  EXPECT_LT(slow.events.size(), 20u);
  bus_->publish("rare", Json::object());
  waitEvents(picky, 1);
  EXPECT_EQ(picky.types(), (std::vector<std::string>{"rare"}));
}

TEST_F(EventBusTest, DetachIsPublishedWhenAClientLeaves) {
  start();
  SseClient& watcher = attach("/v2/events?event_type=event_stream_detached");
  SseClient& leaver = attach();
  leaver.handle.reset();
  waitEvents(watcher, 1);
  EXPECT_EQ(watcher.types(), (std::vector<std::string>{"event_stream_detached"}));
  EXPECT_TRUE(loop_.runUntil([&] { return bus_->subscriberCount() == 1; }, 3000));
}

TEST_F(EventBusTest, CorralOnlyTypesGoOnlyToStreamsThatAskForThem) {
  start();
  SseClient& all = attach();
  SseClient& asks = attach("/v2/events?event_type=launch_queue_waiting_event");
  bus_->publish("launch_queue_waiting_event", Json{{"appId", "/web"}, {"count", 1}});
  bus_->publish("status_update_event", Json{{"taskId", "t1"}});
  waitEvents(asks, 1);
  waitEvents(all, 3);
  EXPECT_EQ(asks.types(), (std::vector<std::string>{"launch_queue_waiting_event"}));
  // Both attachments are Marathon events: `all` sees its own and the other's.
  EXPECT_EQ(all.types(), (std::vector<std::string>{"event_stream_attached", "event_stream_attached",
                                                   "status_update_event"}));
}

// The plan a corral deployment publishes, with the fields Marathon's lacks.
Json corralPlan() {
  return *parseJson(R"({"id":"d1","version":"2026-01-01T00:00:00.000Z",
    "affectedApps":["/web"],"affectedPods":[],"currentStep":1,"totalSteps":1,
    "currentActions":[{"action":"StartApplication","app":"/web","readinessCheckResults":[]}],
    "steps":[{"actions":[{"action":"StartApplication","app":"/web"}]}]})");
}

TEST_F(EventBusTest, DeploymentPlansHaveMarathonsFieldsOnly) {
  start();
  std::vector<Json> seen;
  bus_->subscribe([&](const StoredEvent& e) { seen.push_back(*parseJson(e.data)); });
  Json info;
  info["plan"] = corralPlan();
  info["currentStep"] =
      Json{{"actions",
            Json::array({Json{
                {"action", "StartApplication"}, {"app", "/web"}, {"readinessCheckResults", 1}}})}};
  bus_->publish("deployment_info", info);
  bus_->publish("deployment_success", Json{{"plan", corralPlan()}});
  ASSERT_EQ(seen.size(), 2u);
  const Json& plan = seen[0]["plan"];
  std::set<std::string> keys;
  for (auto it = plan.begin(); it != plan.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys, (std::set<std::string>{"id", "version", "original", "target", "steps"}));
  EXPECT_EQ(plan["steps"],
            *parseJson(R"([{"actions":[{"action":"StartApplication","app":"/web"}]}])"));
  EXPECT_EQ(plan["original"]["id"], "/");
  EXPECT_EQ(plan["original"]["apps"], Json::array()) << "a started app was not there before";
  EXPECT_EQ(plan["target"]["apps"], Json::array({Json{{"id", "/web"}}}));
  EXPECT_EQ(seen[0]["currentStep"],
            *parseJson(R"({"actions":[{"action":"StartApplication","app":"/web"}]})"));
  EXPECT_EQ(seen[1]["id"], "d1") << "deployment_success names its deployment";
  EXPECT_FALSE(seen[1]["plan"].contains("affectedApps"));
}

TEST_F(EventBusTest, ApiEventsCarryTheCallersAddress) {
  start();
  std::vector<Json> seen;
  bus_->subscribe([&](const StoredEvent& e) { seen.push_back(*parseJson(e.data)); });
  {
    ApiCaller caller(*bus_, "127.0.0.9");
    bus_->publish("api_post_event", Json{{"clientIp", ""}, {"uri", "/v2/apps/web"}});
    bus_->publish("api_post_event", Json{{"clientIp", "10.0.0.1"}});
    bus_->publish("status_update_event", Json::object());
  }
  bus_->publish("api_post_event", Json{{"clientIp", ""}});
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0]["clientIp"], "127.0.0.9");
  EXPECT_EQ(seen[1]["clientIp"], "10.0.0.1") << "a given address is kept";
  EXPECT_FALSE(seen[2].contains("clientIp")) << "only API events carry it";
  EXPECT_EQ(seen[3]["clientIp"], "") << "outside a request there is no caller";
}

TEST_F(EventBusTest, PlanGroupTreesAreKeptWhenGiven) {
  start();
  std::vector<Json> seen;
  bus_->subscribe([&](const StoredEvent& e) { seen.push_back(*parseJson(e.data)); });
  Json plan = corralPlan();
  plan["target"] = Json{{"id", "/"}, {"apps", Json::array({Json{{"id", "/web"}, {"cmd", "x"}}})}};
  bus_->publish("deployment_step_success", Json{{"plan", plan}});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0]["plan"]["target"], plan["target"]);
  EXPECT_EQ(seen[0]["plan"]["original"]["apps"], Json::array());
}

TEST_F(EventBusTest, MalformedPlansAreLeftAlone) {
  start();
  std::vector<Json> seen;
  bus_->subscribe([&](const StoredEvent& e) { seen.push_back(*parseJson(e.data)); });
  bus_->publish("deployment_info", Json{{"plan", "not an object"}});
  bus_->publish("deployment_info", Json{{"plan", Json{{"steps", Json::array({1, "x"})}}}});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0]["plan"], "not an object");
  EXPECT_EQ(seen[1]["plan"]["steps"], *parseJson(R"([{"actions":[]},{"actions":[]}])"));
}

TEST_F(EventBusTest, CloseAllEndsEveryStream) {
  start();
  SseClient& a = attach();
  SseClient& b = attach();
  bus_->closeAll();
  EXPECT_EQ(bus_->subscriberCount(), 0u);
  EXPECT_TRUE(loop_.runUntil([&] { return a.ended && b.ended; }, 3000));
}

}  // namespace
}  // namespace corral::events
