// The follower against a fake Marathon on loopback (port 0): initial load,
// incremental events, coalescing, resume, resync, failover, dead streams and
// bad input. Every wait is bounded; every loop ends with no live handle.
#include "registry/marathon_follower.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/metrics.h"
#include "tests/registry/fake_marathon.h"

namespace corral::registry {
namespace {

using testing::FakeMarathon;
using testing::makeApp;
using testing::statusEvent;

constexpr uint64_t kWaitMs = 20000;

// The value of one sample of the global registry ("" labels = none); NaN when absent.
double metricValue(const std::string& name, const std::string& labels) {
  std::string key = labels.empty() ? name + " " : name + "{" + labels + "} ";
  std::string text = metrics::global().render();
  size_t pos = 0;
  while ((pos = text.find(key, pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n')
      return std::strtod(text.c_str() + pos + key.size(), nullptr);
    pos += key.size();
  }
  return NAN;
}

class FollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    labels_ = std::string("test=\"") +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + "\"";
  }

  std::unique_ptr<MarathonFollower> makeFollower(std::vector<std::string> masters,
                                                 FollowerOptions o = {}) {
    o.masters = std::move(masters);
    o.metricsLabels = labels_;
    o.backoffInitialMs = o.backoffInitialMs == 100 ? 20 : o.backoffInitialMs;
    o.backoffMaxMs = o.backoffMaxMs == 5000 ? 200 : o.backoffMaxMs;
    auto f = MarathonFollower::create(loop_, std::move(o));
    EXPECT_TRUE(f.ok());
    auto follower = std::move(*f);
    follower->subscribe([this](std::shared_ptr<const Snapshot> s, const Diff& d) {
      published_.push_back(s);
      diffs_.push_back(d);
    });
    return follower;
  }

  bool waitFor(const std::function<bool()>& pred, uint64_t ms = kWaitMs) {
    return loop_.runUntil(pred, ms);
  }

  static size_t taskCount(const MarathonFollower& f, const std::string& app) {
    const App* a = f.current()->find(app);
    return a ? a->tasks.size() : 0;
  }

  double metric(const std::string& name) { return metricValue(name, labels_); }

  // Every handle closed: nothing keeps the loop alive.
  void expectQuiet() {
    EXPECT_TRUE(loop_.runUntil([&] { return uv_loop_alive(loop_.raw()) == 0; }, 5000));
  }

  Loop loop_;
  std::string labels_;
  std::vector<std::shared_ptr<const Snapshot>> published_;
  std::vector<Diff> diffs_;
};

TEST_F(FollowerTest, InitialLoadThenIncrementalEvents) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 2));
  m.setApp(makeApp("/db", 1, 32000));
  {
    auto f = makeFollower({m.address()});
    ASSERT_EQ(published_.size(), 1u);  // the empty version-0 snapshot, at once
    EXPECT_EQ(published_[0]->version, 0u);
    f->start();
    ASSERT_TRUE(waitFor([&] { return f->live() && f->current()->version >= 1; }));
    auto s = f->current();
    EXPECT_EQ(s->leader, m.address());
    EXPECT_EQ(taskCount(*f, "/web"), 2u);
    EXPECT_EQ(taskCount(*f, "/db"), 1u);
    EXPECT_EQ(diffs_.back().added, (std::vector<std::string>{"/db", "/web"}));
    EXPECT_EQ(m.appsFetches, 1);
    EXPECT_EQ(metric("corral_registry_connected"), 1.0);
    EXPECT_EQ(metric("corral_registry_snapshot_version"), static_cast<double>(s->version));

    // A task starts.
    m.publish("status_update_event", statusEvent("/web", "web.9", "TASK_RUNNING", 31009));
    ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 3; }));
    EXPECT_EQ(diffs_.back().changed, std::vector<std::string>{"/web"});
    EXPECT_TRUE(diffs_.back().added.empty());
    EXPECT_GT(f->current()->lastEventArrivedMs, 0);
    EXPECT_EQ(f->current()->lastEventId, "1");
    const Task* t = f->current()->find("/web")->findTask("web.9");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->ports, std::vector<int>{31009});
    EXPECT_EQ(t->servicePorts, std::vector<int>{10000});

    // Its health flips, a new app is posted, another one is deleted, a task dies.
    m.publish("health_status_changed_event",
              Json{{"appId", "/web"}, {"taskId", "web.9"}, {"alive", false}});
    m.publish(
        "api_post_event",
        Json{{"uri", "/v2/apps/api"},
             {"appDefinition", Json{{"id", "/api"}, {"labels", Json{{"HAPROXY_GROUP", "x"}}}}}});
    m.publish("app_terminated_event", Json{{"appId", "/db"}});
    m.publish("status_update_event", statusEvent("/web", "web.0", "TASK_KILLED"));
    ASSERT_TRUE(waitFor([&] { return f->current()->find("/db") == nullptr; }));
    ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 2; }));
    s = f->current();
    ASSERT_TRUE(s->find("/api"));
    EXPECT_EQ(s->find("/api")->labels.at("HAPROXY_GROUP"), "x");
    EXPECT_EQ(s->find("/web")->findTask("web.9")->healthy, std::optional<bool>(false));
    EXPECT_EQ(metric("corral_registry_events_applied_total"), 5.0);
    EXPECT_EQ(metric("corral_registry_bad_events_total"), 0.0);
    // Versions only go up, and consecutive snapshots share what did not change.
    for (size_t i = 1; i < published_.size(); ++i) {
      EXPECT_EQ(published_[i]->version, published_[i - 1]->version + 1);
    }
    f->stop();
    EXPECT_FALSE(f->connected());
    EXPECT_EQ(metric("corral_registry_connected"), 0.0);
    EXPECT_EQ(f->current()->version, s->version);  // still readable
  }
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, BurstsAreCoalesced) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 0));
  FollowerOptions o;
  o.coalesceMs = 200;
  auto f = makeFollower({m.address()}, o);
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && f->current()->version >= 1; }));
  size_t before = published_.size();
  for (int i = 0; i < 200; ++i) {
    m.publish("status_update_event",
              statusEvent("/web", "web." + std::to_string(i), "TASK_RUNNING", 31000 + i));
  }
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 200; }));
  // The first read goes out at the end of its turn (leading edge), the rest
  // of the burst in one more snapshot at the end of the window.
  EXPECT_LE(published_.size() - before, 2u);
  EXPECT_EQ(diffs_.back().changed, std::vector<std::string>{"/web"});
  EXPECT_LE(f->current()->firstEventArrivedMs, f->current()->lastEventArrivedMs);
  EXPECT_GT(f->current()->firstEventArrivedMs, 0);
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, ABurstReadInOneTurnIsOneSnapshot) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 0));
  FollowerOptions o;
  o.coalesceMs = 1;  // the proxy's default: the window alone would not batch this
  auto f = makeFollower({m.address()}, o);
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && f->current()->version >= 1; }));
  size_t before = published_.size();
  // Twenty events in one write, so the follower reads them in one turn.
  std::vector<std::pair<std::string, Json>> batch;
  for (int i = 0; i < 20; ++i) {
    batch.emplace_back("status_update_event",
                       statusEvent("/web", "web." + std::to_string(i), "TASK_RUNNING", 31000 + i));
  }
  m.publishBatch(batch);
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 20; }));
  // Published at the end of that turn, with all of it (before, the first
  // event went out alone, mid-read, and the rest in a second snapshot).
  EXPECT_EQ(published_.size() - before, 1u);
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, ZeroCoalescingPublishesEveryEvent) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 0));
  FollowerOptions o;
  o.coalesceMs = 0;
  auto f = makeFollower({m.address()}, o);
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && f->current()->version >= 1; }));
  size_t before = published_.size();
  for (int i = 0; i < 20; ++i) {
    m.publish("status_update_event",
              statusEvent("/web", "web." + std::to_string(i), "TASK_RUNNING", 31000 + i));
  }
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 20; }));
  EXPECT_EQ(published_.size() - before, 20u);
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, ResumesWithLastEventIdAfterTheStreamDrops) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 0));
  auto f = makeFollower({m.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && m.openStreams() == 1; }));
  for (int i = 0; i < 3; ++i) {
    m.publish("status_update_event",
              statusEvent("/web", "web." + std::to_string(i), "TASK_RUNNING", 31000 + i));
  }
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 3; }));
  m.dropStreams();
  ASSERT_TRUE(waitFor([&] { return !f->connected(); }));
  // Missed while disconnected: one task dies, two start.
  m.publish("status_update_event", statusEvent("/web", "web.0", "TASK_KILLED"));
  m.publish("status_update_event", statusEvent("/web", "web.3", "TASK_RUNNING", 31003));
  m.publish("status_update_event", statusEvent("/web", "web.4", "TASK_RUNNING", 31004));
  ASSERT_TRUE(waitFor([&] { return m.streamsOpened == 2 && f->live(); }));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 4 && f->lastEventId() == "6"; }));
  EXPECT_EQ(m.lastEventIds, (std::vector<std::string>{"", "3"}));
  EXPECT_EQ(m.appsFetches, 1);  // no full reload
  // Each event applied exactly once: none missed, none twice.
  EXPECT_EQ(metric("corral_registry_events_applied_total"), 6.0);
  EXPECT_EQ(metric("corral_registry_resyncs_total"), 1.0);
  m.publish("status_update_event", statusEvent("/web", "web.5", "TASK_RUNNING", 31005));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 5; }));
  EXPECT_EQ(metric("corral_registry_events_applied_total"), 7.0);
  f.reset();
  m.close();
  expectQuiet();
}

// corral's master confirms a resume (": resumed <id>"): the replay is trusted
// even though its ids skip (events of types this stream does not get took
// ids), so nothing is reloaded.
TEST_F(FollowerTest, ConfirmedResumeWithSkippedIdsDoesNotReload) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 0));
  m.confirmResume = true;
  auto f = makeFollower({m.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && m.openStreams() == 1; }));
  m.publish("status_update_event", statusEvent("/web", "web.0", "TASK_RUNNING", 31000));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 1; }));
  m.dropStreams();
  ASSERT_TRUE(waitFor([&] { return !f->connected(); }));
  m.skipId();  // id 2 goes to events this stream is not sent
  m.publish("status_update_event", statusEvent("/web", "web.1", "TASK_RUNNING", 31001));
  ASSERT_TRUE(waitFor([&] { return m.streamsOpened == 2 && f->live(); }));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 2 && f->lastEventId() == "3"; }));
  EXPECT_EQ(m.lastEventIds, (std::vector<std::string>{"", "1"}));
  EXPECT_EQ(m.appsFetches, 1);
  EXPECT_EQ(metric("corral_registry_resyncs_total"), 1.0);
  f.reset();
  m.close();
  expectQuiet();
}

// Without the confirmation the same skip is indistinguishable from a server
// that ignored Last-Event-ID: the follower reloads rather than trust it.
TEST_F(FollowerTest, UnconfirmedResumeWithSkippedIdsReloads) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 0));
  auto f = makeFollower({m.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && m.openStreams() == 1; }));
  m.publish("status_update_event", statusEvent("/web", "web.0", "TASK_RUNNING", 31000));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 1; }));
  m.dropStreams();
  ASSERT_TRUE(waitFor([&] { return !f->connected(); }));
  m.skipId();
  m.publish("status_update_event", statusEvent("/web", "web.1", "TASK_RUNNING", 31001));
  ASSERT_TRUE(waitFor([&] { return m.appsFetches == 2 && f->live(); }));
  EXPECT_EQ(metric("corral_registry_resyncs_total"), 2.0);
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, ResyncRequiredTriggersAFullReload) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 1));
  m.retain = 1;
  auto f = makeFollower({m.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && m.openStreams() == 1; }));
  m.publish("status_update_event", statusEvent("/web", "web.7", "TASK_RUNNING"));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 2; }));
  m.dropStreams();
  ASSERT_TRUE(waitFor([&] { return !f->connected(); }));
  // More happens than the server retains: the resume is refused.
  m.setApp(makeApp("/web", 3));
  m.setApp(makeApp("/new", 1, 32000));
  m.publish("status_update_event", statusEvent("/web", "web.7", "TASK_KILLED"));
  m.publish("api_post_event", Json{{"appDefinition", Json{{"id", "/new"}}}});
  ASSERT_TRUE(waitFor([&] { return m.appsFetches == 2 && f->live(); }));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 3 && taskCount(*f, "/new") == 1; }));
  EXPECT_EQ(m.lastEventIds, (std::vector<std::string>{"", "1"}));
  EXPECT_EQ(f->current()->find("/web")->findTask("web.7"), nullptr);
  EXPECT_EQ(metric("corral_registry_resyncs_total"), 2.0);
  // Live again: the next event applies incrementally.
  m.publish("status_update_event", statusEvent("/new", "new.5", "TASK_RUNNING"));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/new") == 2; }));
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, ServerIgnoringLastEventIdTriggersAFullReload) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 1));
  m.honorLastEventId = false;
  auto f = makeFollower({m.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && m.openStreams() == 1; }));
  m.publish("status_update_event", statusEvent("/web", "web.7", "TASK_RUNNING"));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 2; }));
  m.dropStreams();
  ASSERT_TRUE(waitFor([&] { return !f->connected(); }));
  m.setApp(makeApp("/web", 4));  // the server state moved on; the events are not replayed
  m.publish("status_update_event", statusEvent("/web", "web.2", "TASK_RUNNING"));
  ASSERT_TRUE(waitFor([&] { return m.streamsOpened == 2 && f->live(); }));
  EXPECT_EQ(m.appsFetches, 1);
  // The first event on the new stream (id 3) does not follow ours (1): reload.
  m.publish("status_update_event", statusEvent("/web", "web.3", "TASK_RUNNING"));
  ASSERT_TRUE(waitFor([&] { return m.appsFetches == 2 && taskCount(*f, "/web") == 4; }));
  ASSERT_TRUE(waitFor([&] { return f->live() && f->lastEventId() == "3"; }));
  EXPECT_EQ(f->current()->find("/web")->findTask("web.7"), nullptr);
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, StreamWithoutIdsReloadsOnEveryReconnect) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 1));
  m.sendIds = false;  // like a real Marathon
  auto f = makeFollower({m.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && m.openStreams() == 1; }));
  m.publish("status_update_event", statusEvent("/web", "web.7", "TASK_RUNNING"));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 2; }));
  m.setApp(makeApp("/web", 3));
  m.dropStreams();
  ASSERT_TRUE(waitFor([&] { return m.appsFetches == 2 && f->live(); }));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 3; }));
  EXPECT_EQ(m.lastEventIds, (std::vector<std::string>{"", ""}));
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, ServerDownKeepsTheLastSnapshotAndStalenessGrows) {
  auto m = std::make_unique<FakeMarathon>(loop_, "127.0.0.1");
  ASSERT_TRUE(m->ok());
  m->setApp(makeApp("/web", 2));
  auto f = makeFollower({m->address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && taskCount(*f, "/web") == 2; }));
  EXPECT_LT(metric("corral_registry_snapshot_age_seconds"), 1.0);
  uint64_t version = f->current()->version;
  m.reset();  // gone: stream ends, reconnects are refused
  ASSERT_TRUE(waitFor([&] { return !f->connected(); }));
  ASSERT_TRUE(waitFor([&] { return metric("corral_registry_snapshot_age_seconds") >= 0.5; }));
  EXPECT_EQ(metric("corral_registry_connected"), 0.0);
  EXPECT_EQ(f->current()->version, version);
  EXPECT_EQ(taskCount(*f, "/web"), 2u);
  f.reset();
  expectQuiet();
}

TEST_F(FollowerTest, FailsOverToTheNextAddress) {
  auto a = std::make_unique<FakeMarathon>(loop_, "127.0.0.21");
  FakeMarathon b(loop_, "127.0.0.22");
  ASSERT_TRUE(a->ok() && b.ok());
  a->setApp(makeApp("/web", 1));
  b.setApp(makeApp("/web", 2));
  auto f = makeFollower({a->address(), b.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && taskCount(*f, "/web") == 1; }));
  EXPECT_EQ(f->current()->leader, a->address());
  a->publish("status_update_event", statusEvent("/web", "web.5", "TASK_RUNNING"));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 2; }));
  a.reset();
  ASSERT_TRUE(waitFor([&] { return b.streamsOpened == 1 && f->live(); }));
  // b has its own event ids: its first event does not follow a's, so it reloads.
  b.publish("status_update_event", statusEvent("/web", "web.1", "TASK_RUNNING", 31001));
  ASSERT_TRUE(waitFor([&] {
    const App* web = f->current()->find("/web");
    return web && web->findTask("web.5") == nullptr && web->findTask("web.1") != nullptr;
  }));
  EXPECT_EQ(b.appsFetches, 1);
  EXPECT_EQ(f->current()->leader, b.address());
  f.reset();
  b.close();
  expectQuiet();
}

TEST_F(FollowerTest, StreamsFromTheLeaderTheAddressNames) {
  FakeMarathon standby(loop_, "127.0.0.23");
  FakeMarathon leader(loop_, "127.0.0.24");
  ASSERT_TRUE(standby.ok() && leader.ok());
  standby.leader = leader.address();
  leader.setApp(makeApp("/web", 2));
  auto f = makeFollower({standby.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && taskCount(*f, "/web") == 2; }));
  EXPECT_EQ(standby.streamsOpened, 0);
  EXPECT_EQ(standby.appsFetches, 0);
  EXPECT_EQ(leader.streamsOpened, 1);
  EXPECT_EQ(f->source(), leader.address());
  EXPECT_EQ(f->current()->leader, leader.address());
  f.reset();
  standby.close();
  leader.close();
  expectQuiet();
}

TEST_F(FollowerTest, FollowsARedirectedStream) {
  FakeMarathon old(loop_, "127.0.0.24");
  FakeMarathon other(loop_, "127.0.0.25");
  ASSERT_TRUE(old.ok() && other.ok());
  old.eventsRedirect = other.address();
  other.setApp(makeApp("/web", 3));
  auto f = makeFollower({old.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return other.streamsOpened == 1 && f->live(); }));
  other.publish("status_update_event", statusEvent("/web", "web.7", "TASK_RUNNING", 31007));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 4; }));
  EXPECT_EQ(f->source(), other.address());
  EXPECT_EQ(old.streamsOpened, 0);
  f.reset();
  old.close();
  other.close();
  expectQuiet();
}

TEST_F(FollowerTest, DetectsADeadStream) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 1));
  FollowerOptions o;
  o.deadStreamMs = 300;
  auto f = makeFollower({m.address()}, o);
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live(); }));
  // Heartbeats keep it alive...
  for (int i = 0; i < 6; ++i) {
    loop_.runUntil([] { return false; }, 100);
    m.writeRaw(":\n\n");
  }
  EXPECT_EQ(m.streamsOpened, 1);
  // ...silence does not: the follower gives up on the stream and reconnects.
  ASSERT_TRUE(waitFor([&] { return m.streamsOpened >= 2; }, 5000));
  ASSERT_TRUE(waitFor([&] { return f->live(); }));
  EXPECT_EQ(taskCount(*f, "/web"), 1u);
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, MalformedInputIsSkippedAndCounted) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  // One bad app in the initial load does not block the others.
  Json bad = makeApp("/bad", 1);
  bad["portDefinitions"] = "oops";
  m.setApp(bad);
  m.setApp(makeApp("/web", 1));
  auto f = makeFollower({m.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && taskCount(*f, "/web") == 1; }));
  EXPECT_EQ(f->current()->find("/bad"), nullptr);
  EXPECT_EQ(metric("corral_registry_bad_events_total"), 1.0);
  m.publishRaw("status_update_event", "{\"taskId\": truncated");
  m.publish("api_post_event", Json{{"appDefinition", Json{{"id", "/web"}, {"labels", 5}}}});
  m.publish("status_update_event", Json{{"taskStatus", "TASK_RUNNING"}});
  m.writeRaw("data: no event type and not json\n\n");
  m.publish("status_update_event", statusEvent("/web", "web.5", "TASK_RUNNING"));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/web") == 2; }));
  EXPECT_EQ(metric("corral_registry_bad_events_total"), 4.0);
  EXPECT_EQ(m.streamsOpened, 1);  // bad events never cost the stream
  EXPECT_EQ(m.appsFetches, 1);
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, RereadsAnAppItCannotApplyPrecisely) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 1));
  auto f = makeFollower({m.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live(); }));
  // A task of an app we never heard of: the follower reads that app.
  m.setApp(makeApp("/late", 2, 32000));
  m.publish("status_update_event", statusEvent("/late", "late.0", "TASK_RUNNING", 32000));
  ASSERT_TRUE(waitFor([&] { return taskCount(*f, "/late") == 2; }));
  EXPECT_EQ(m.appFetches, std::vector<std::string>{"/late"});
  // A finished deployment re-reads the apps it touched (and drops deleted ones).
  m.removeApp("/web");
  m.publish(
      "deployment_success",
      Json{{"id", "d1"},
           {"plan", Json{{"id", "d1"},
                         {"steps", Json::array({Json{
                                       {"actions", Json::array({Json{{"action", "StopApplication"},
                                                                     {"app", "/web"}}})}}})}}}});
  ASSERT_TRUE(waitFor([&] { return f->current()->find("/web") == nullptr; }));
  EXPECT_EQ(m.appsFetches, 1);
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, ReconnectsUntilTheServerAppears) {
  // Find a free port, then start the server there only after the follower tried.
  int port = 0;
  {
    FakeMarathon probe(loop_, "127.0.0.26");
    ASSERT_TRUE(probe.ok());
    port = probe.port();
  }
  auto f = makeFollower({"127.0.0.26:" + std::to_string(port)});
  f->start();
  loop_.runUntil([] { return false; }, 300);
  EXPECT_FALSE(f->connected());
  EXPECT_EQ(f->current()->version, 0u);
  FakeMarathon m(loop_, "127.0.0.26", port);
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/web", 1));
  ASSERT_TRUE(waitFor([&] { return f->live() && taskCount(*f, "/web") == 1; }));
  // Backoff is bounded (200 ms here): it did not take long.
  f.reset();
  m.close();
  expectQuiet();
}

TEST_F(FollowerTest, RejectsBadOptions) {
  EXPECT_FALSE(MarathonFollower::create(loop_, FollowerOptions{}).ok());
  FollowerOptions o;
  o.masters = {"no-port-here:"};
  EXPECT_FALSE(MarathonFollower::create(loop_, o).ok());
}

TEST_F(FollowerTest, LateSubscriberGetsEverythingAsAdded) {
  FakeMarathon m(loop_, "127.0.0.1");
  ASSERT_TRUE(m.ok());
  m.setApp(makeApp("/a", 1));
  m.setApp(makeApp("/b", 1, 32000));
  auto f = makeFollower({m.address()});
  f->start();
  ASSERT_TRUE(waitFor([&] { return f->live() && f->current()->apps.size() == 2; }));
  Diff got;
  uint64_t version = 0;
  int calls = 0;
  uint64_t token = f->subscribe([&](std::shared_ptr<const Snapshot> s, const Diff& d) {
    got = d;
    version = s->version;
    calls++;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got.added, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(version, f->current()->version);
  f->unsubscribe(token);
  m.publish("app_terminated_event", Json{{"appId", "/a"}});
  ASSERT_TRUE(waitFor([&] { return f->current()->find("/a") == nullptr; }));
  EXPECT_EQ(calls, 1);
  f.reset();
  m.close();
  expectQuiet();
}

}  // namespace
}  // namespace corral::registry
