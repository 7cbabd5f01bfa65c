#include "reload/snapshot_pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/metrics.h"

namespace corral::reload {
namespace {

using registry::App;
using registry::Diff;
using registry::Snapshot;

// What the test builder makes: the app ids of the snapshot, joined.
struct Built {
  uint64_t from = 0;
  std::string apps;
};

std::shared_ptr<const App> app(const std::string& id, std::string version = "1") {
  auto a = std::make_shared<App>();
  a->id = id;
  a->version = std::move(version);
  return a;
}

std::shared_ptr<const Snapshot> snapshot(uint64_t version,
                                         std::vector<std::shared_ptr<const App>> apps,
                                         int64_t firstEventMs = 0) {
  auto s = std::make_shared<Snapshot>();
  s->version = version;
  for (auto& a : apps) s->apps[a->id] = a;
  s->firstEventArrivedMs = firstEventMs;
  s->lastEventArrivedMs = firstEventMs;
  return s;
}

struct Call {
  uint64_t version;
  Diff diff;
};

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest()
      : pipeline_(
            loop_, PipelineOptions{"corral_test", "thing", &metrics_},
            SnapshotPipeline::typed<Built>(
                [this](const Snapshot& s, const Diff& d) -> Result<std::shared_ptr<const Built>> {
                  calls_.push_back(Call{s.version, d});
                  if (s.find("/bad") != nullptr)
                    return makeError(ErrorKind::kInvalid, "app /bad: port 0 is not allowed");
                  auto b = std::make_shared<Built>();
                  b->from = s.version;
                  for (const auto& [id, a] : s.apps) b->apps += id + ";";
                  return std::shared_ptr<const Built>(std::move(b));
                }),
            [this](const AnySnapshot& b) {
              published_.push_back(b.as<Built>());
              return static_cast<uint64_t>(published_.size() + 1);
            }) {}

  bool settle() {
    return loop_.runUntil([&] { return !calls_.empty() && calls_.size() == seen_ + 1; }, 2000) &&
           (seen_ = calls_.size(), true);
  }
  std::string metric(const std::string& name) {
    std::string text = metrics_.render();
    for (size_t pos = 0; (pos = text.find(name + " ", pos)) != std::string::npos; ++pos) {
      if (pos == 0 || text[pos - 1] == '\n') {
        size_t end = text.find('\n', pos);
        return text.substr(pos + name.size() + 1, end - pos - name.size() - 1);
      }
    }
    return "<absent>";
  }

  Loop loop_;
  metrics::Registry metrics_;
  std::vector<Call> calls_;
  size_t seen_ = 0;
  std::vector<std::shared_ptr<const Built>> published_;
  SnapshotPipeline pipeline_;
};

TEST_F(PipelineTest, AGoodBuildIsPublishedAndCounted) {
  auto web = app("/web");
  pipeline_.offer(snapshot(1, {web}, wallMs() - 20), Diff{{"/web"}, {}, {}});
  ASSERT_TRUE(settle());
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(published_[0]->apps, "/web;");
  EXPECT_EQ(calls_[0].diff, (Diff{{"/web"}, {}, {}}));
  EXPECT_EQ(pipeline_.lastGood<Built>(), published_[0]);
  EXPECT_EQ(pipeline_.generation(), 1u);
  EXPECT_EQ(metric("corral_test_thing_updates_total"), "1");
  EXPECT_EQ(metric("corral_test_thing_generation"), "1");
  EXPECT_EQ(metric("corral_test_thing_build_seconds_count"), "1");
  EXPECT_EQ(metric("corral_test_event_to_thing_seconds_count"), "1");
  EXPECT_GE(std::stod(metric("corral_test_event_to_thing_seconds_sum")), 0.02);
  EXPECT_EQ(metric("corral_test_thing_rejected_total"), "0");

  // The next one carries only what changed.
  pipeline_.offer(snapshot(2, {app("/web", "2"), app("/db")}), Diff{{"/db"}, {"/web"}, {}});
  ASSERT_TRUE(settle());
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(calls_[1].diff, (Diff{{"/db"}, {"/web"}, {}}));
  EXPECT_EQ(metric("corral_test_thing_generation"), "2");
  // No stream event folded in: no latency observed.
  EXPECT_EQ(metric("corral_test_event_to_thing_seconds_count"), "1");
}

TEST_F(PipelineTest, ARejectedBuildKeepsTheLastGoodOneAndSaysWhy) {
  auto web = app("/web");
  pipeline_.offer(snapshot(1, {web}), Diff{{"/web"}, {}, {}});
  ASSERT_TRUE(settle());
  auto good = pipeline_.lastGood<Built>();
  int64_t eventMs = wallMs() - 50;
  pipeline_.offer(snapshot(2, {web, app("/bad")}, eventMs), Diff{{"/bad"}, {}, {}});
  ASSERT_TRUE(settle());
  EXPECT_EQ(published_.size(), 1u);  // nothing new reached the workers
  EXPECT_EQ(pipeline_.lastGood<Built>(), good);
  EXPECT_EQ(pipeline_.generation(), 1u);
  EXPECT_EQ(pipeline_.rejected(), 1u);
  EXPECT_THAT(pipeline_.lastError(), ::testing::HasSubstr("port 0 is not allowed"));
  EXPECT_EQ(metric("corral_test_thing_rejected_total"), "1");
  EXPECT_EQ(metric("corral_test_thing_generation"), "1");

  // The fix: its diff also carries the refused change (/bad is new to the builder).
  pipeline_.offer(snapshot(3, {app("/web", "2"), app("/good")}, eventMs + 10),
                  Diff{{"/good"}, {"/web"}, {"/bad"}});
  ASSERT_TRUE(settle());
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(calls_.back().diff, (Diff{{"/good"}, {"/web"}, {}}));
  EXPECT_EQ(pipeline_.lastError(), "");
  EXPECT_EQ(metric("corral_test_thing_generation"), "3");
  // Latency counts from the first event the refused build carried.
  EXPECT_GE(std::stod(metric("corral_test_event_to_thing_seconds_sum")), 0.05);
}

TEST_F(PipelineTest, OffersInOneTurnAreBuiltOnceFromTheNewestWithOneMergedDiff) {
  pipeline_.offer(snapshot(1, {app("/a"), app("/b")}), Diff{{"/a", "/b"}, {}, {}});
  ASSERT_TRUE(settle());
  pipeline_.offer(snapshot(2, {app("/a", "2"), app("/b"), app("/c")}, 1000),
                  Diff{{"/c"}, {"/a"}, {}});
  pipeline_.offer(snapshot(3, {app("/a", "2"), app("/c"), app("/tmp")}, 2000),
                  Diff{{"/tmp"}, {}, {"/b"}});
  pipeline_.offer(snapshot(4, {app("/a", "3"), app("/c")}, 3000), Diff{{}, {"/a"}, {"/tmp"}});
  // A late, older snapshot loses to the newest.
  pipeline_.offer(snapshot(3, {}), Diff{{}, {}, {"/a", "/c"}});
  ASSERT_TRUE(settle());
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[1].version, 4u);
  // /tmp came and went between two builds: the builder never hears of it.
  EXPECT_EQ(calls_[1].diff, (Diff{{"/c"}, {"/a"}, {"/b"}}));
  EXPECT_EQ(published_.back()->apps, "/a;/c;");
  EXPECT_EQ(metric("corral_test_thing_updates_total"), "2");
  // One observation, from the oldest waiting event.
  EXPECT_EQ(metric("corral_test_event_to_thing_seconds_count"), "1");
  EXPECT_GE(std::stod(metric("corral_test_event_to_thing_seconds_sum")),
            static_cast<double>(wallMs() - 1000) / 1000.0 - 1);
}

TEST_F(PipelineTest, RebuildUsesTheNewestSnapshotWithAnEmptyDiff) {
  pipeline_.rebuild();  // before any snapshot: builds from the empty one
  ASSERT_TRUE(settle());
  EXPECT_EQ(calls_[0].version, 0u);
  pipeline_.offer(snapshot(5, {app("/web")}), Diff{{"/web"}, {}, {}});
  ASSERT_TRUE(settle());
  pipeline_.rebuild();
  ASSERT_TRUE(settle());
  EXPECT_EQ(calls_.back().version, 5u);
  EXPECT_TRUE(calls_.back().diff.empty());
  EXPECT_EQ(published_.size(), 3u);
}

TEST(SnapshotPipeline, AValidatorCanRefuseABuild) {
  Loop loop;
  metrics::Registry reg;
  int publishedCount = 0;
  SnapshotPipeline p(
      loop, PipelineOptions{"corral_test", "thing", &reg},
      SnapshotPipeline::typed<int>([](const Snapshot& s, const Diff&) {
        return Result<std::shared_ptr<const int>>(
            std::make_shared<const int>(static_cast<int>(s.apps.size())));
      }),
      [&](const AnySnapshot&) { return static_cast<uint64_t>(++publishedCount); },
      [](const AnySnapshot& b) {
        return *b.as<int>() > 1 ? Status(makeError(ErrorKind::kInvalid, "more than one app"))
                                : Status::Ok();
      });
  p.offer(snapshot(1, {app("/a")}), Diff{{"/a"}, {}, {}});
  p.flush();
  EXPECT_EQ(publishedCount, 1);
  p.offer(snapshot(2, {app("/a"), app("/b")}), Diff{{"/b"}, {}, {}});
  p.flush();
  EXPECT_EQ(publishedCount, 1);
  EXPECT_EQ(p.lastError(), "more than one app");
  EXPECT_EQ(*p.lastGood<int>(), 1);
  EXPECT_EQ(p.lastGood<double>(), nullptr);  // typed access checks the type
}

}  // namespace
}  // namespace corral::reload
