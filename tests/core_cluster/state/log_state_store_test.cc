#include "core_cluster/state/log_state_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>

#include "core_cluster/state/log_format.h"
#include "tests/core_cluster/state/test_util.h"

namespace corral::state {
namespace {

using testing::appendFile;
using testing::exists;
using testing::readFile;
using testing::TempDir;
using testing::writeFile;

std::unique_ptr<LogStateStore> openOrDie(const std::string& dir,
                                         LogStateStore::Options options = {}) {
  auto store = LogStateStore::open(dir, options);
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(*store) : nullptr;
}

StateMap recoverOrDie(LogStateStore& store) {
  auto state = store.recover();
  EXPECT_TRUE(state.ok()) << state.error().message;
  return state.ok() ? *state : StateMap{};
}

StateMap reopen(const std::string& dir, LogStateStore::Options options = {}) {
  auto store = openOrDie(dir, options);
  return store ? recoverOrDie(*store) : StateMap{};
}

std::set<std::string> filesIn(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.insert(e.path().filename().string());
  }
  return names;
}

const std::string kLog1 = LogStateStore::logFileName(1);

TEST(LogStateStore, PutDeleteRecover) {
  TempDir dir;
  {
    auto store = openOrDie(dir.path() + "/nested/work");
    ASSERT_TRUE(store);
    EXPECT_TRUE(recoverOrDie(*store).empty());
    ASSERT_TRUE(store->commit({Mutation::put("/apps/shop/web", Json{{"instances", 2}})}).ok());
    ASSERT_TRUE(store->commit({Mutation::put("/tasks/t1", Json{{"state", "RUNNING"}})}).ok());
    ASSERT_TRUE(store->commit({Mutation::put("/tasks/t2", Json(nullptr))}).ok());
    ASSERT_TRUE(store->commit({Mutation::del("/tasks/t1"), Mutation::del("/never/there")}).ok());
    ASSERT_TRUE(store->commit({Mutation::put("/apps/shop/web", Json{{"instances", 3}})}).ok());
  }
  StateMap expected = {{"/apps/shop/web", Json{{"instances", 3}}}, {"/tasks/t2", Json(nullptr)}};
  EXPECT_EQ(reopen(dir.path() + "/nested/work"), expected);
}

TEST(LogStateStore, CommitBeforeRecoverIsRefused) {
  TempDir dir;
  auto store = openOrDie(dir.path());
  Status s = store->commit({Mutation::put("/a", 1)});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("recover()"), std::string::npos);
}

TEST(LogStateStore, RecoverTwiceReturnsCurrentState) {
  TempDir dir;
  auto store = openOrDie(dir.path());
  recoverOrDie(*store);
  ASSERT_TRUE(store->commit({Mutation::put("/a", 1)}).ok());
  EXPECT_EQ(recoverOrDie(*store), (StateMap{{"/a", 1}}));
}

TEST(LogStateStore, InvalidBatchAppliesNothing) {
  TempDir dir;
  {
    auto store = openOrDie(dir.path());
    recoverOrDie(*store);
    ASSERT_TRUE(store->commit({Mutation::put("/a", 1)}).ok());
    Status s = store->commit({Mutation::put("/b", 2), Mutation::put("/c/", 3)});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().path, "/1");
    EXPECT_EQ(recoverOrDie(*store), (StateMap{{"/a", 1}}));
  }
  EXPECT_EQ(reopen(dir.path()), (StateMap{{"/a", 1}}));
}

TEST(LogStateStore, LaterMutationInABatchWins) {
  TempDir dir;
  {
    auto store = openOrDie(dir.path());
    recoverOrDie(*store);
    ASSERT_TRUE(
        store->commit({Mutation::put("/a", 1), Mutation::del("/a"), Mutation::put("/a", 3)}).ok());
    ASSERT_TRUE(store->commit({Mutation::put("/b", 1), Mutation::del("/b")}).ok());
  }
  EXPECT_EQ(reopen(dir.path()), (StateMap{{"/a", 3}}));
}

TEST(LogStateStore, BatchCutShortIsDroppedWhole) {
  TempDir dir;
  {
    auto store = openOrDie(dir.path());
    recoverOrDie(*store);
    ASSERT_TRUE(store->commit({Mutation::put("/a", 1)}).ok());
    ASSERT_TRUE(store->commit({Mutation::put("/b", 2), Mutation::put("/c", 3)}).ok());
  }
  std::string log = readFile(dir.file(kLog1));
  auto first = decodeRecord(log, 0, UINT32_MAX);
  ASSERT_EQ(first.status, RecordStatus::kOk);
  // Cut the second record anywhere: neither /b nor /c may survive.
  for (size_t cut = first.next + 1; cut < log.size(); cut += 3) {
    writeFile(dir.file(kLog1), log.substr(0, cut));
    EXPECT_EQ(reopen(dir.path()), (StateMap{{"/a", 1}})) << cut;
    EXPECT_EQ(readFile(dir.file(kLog1)).size(), first.next) << cut;
  }
}

TEST(LogStateStore, ReopenAfterCloseKeepsAppending) {
  TempDir dir;
  for (int round = 0; round < 3; ++round) {
    auto store = openOrDie(dir.path());
    StateMap state = recoverOrDie(*store);
    EXPECT_EQ(state.size(), static_cast<size_t>(round));
    ASSERT_TRUE(store->commit({Mutation::put("/r/" + std::to_string(round), round)}).ok());
    EXPECT_EQ(store->stats().logSeq, 1u);
  }
  EXPECT_EQ(reopen(dir.path()), (StateMap{{"/r/0", 0}, {"/r/1", 1}, {"/r/2", 2}}));
}

TEST(LogStateStore, GroupCommitIsOneRecord) {
  TempDir dir;
  {
    auto store = openOrDie(dir.path());
    recoverOrDie(*store);
    ASSERT_TRUE(store
                    ->commitMany({{Mutation::put("/a", 1)},
                                  {Mutation::put("/a", 2), Mutation::put("/b", 1)},
                                  {},
                                  {Mutation::del("/b")}})
                    .ok());
    EXPECT_EQ(store->stats().logRecords, 1u);
    EXPECT_FALSE(store->commitMany({{Mutation::put("/c", 1)}, {Mutation::put("c", 1)}}).ok());
    EXPECT_EQ(store->stats().logRecords, 1u);
    ASSERT_TRUE(store->commit({}).ok());
    EXPECT_EQ(store->stats().logRecords, 1u);
  }
  EXPECT_EQ(reopen(dir.path()), (StateMap{{"/a", 2}}));
}

TEST(LogStateStore, OversizedCommitIsRefused) {
  TempDir dir;
  LogStateStore::Options options;
  options.maxRecordBytes = 1024;
  auto store = openOrDie(dir.path(), options);
  recoverOrDie(*store);
  Status s = store->commit({Mutation::put("/big", std::string(2000, 'x'))});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(store->stats().logBytes, 0u);
  EXPECT_TRUE(store->commit({Mutation::put("/small", 1)}).ok());
}

// Commits /k/0.. /k/(n-1) one by one and returns the log contents.
std::string writeRecords(const std::string& dir, int n) {
  auto store = openOrDie(dir);
  recoverOrDie(*store);
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(store->commit({Mutation::put("/k/" + std::to_string(i), i)}).ok());
  }
  return readFile(dir + "/" + kLog1);
}

StateMap firstKeys(int n) {
  StateMap m;
  for (int i = 0; i < n; ++i) m["/k/" + std::to_string(i)] = i;
  return m;
}

struct TornTailCase {
  const char* name;
  std::string tail;
};
void PrintTo(const TornTailCase& c, std::ostream* os) { *os << c.name; }

class TornTail : public ::testing::TestWithParam<TornTailCase> {};

TEST_P(TornTail, IsTruncatedAndEarlierRecordsSurvive) {
  TempDir dir;
  std::string log = writeRecords(dir.path(), 5);
  appendFile(dir.file(kLog1), GetParam().tail);
  {
    auto store = openOrDie(dir.path());
    EXPECT_EQ(recoverOrDie(*store), firstKeys(5));
    EXPECT_EQ(store->stats().tornBytesTruncated, GetParam().tail.size());
    EXPECT_EQ(readFile(dir.file(kLog1)), log);
    // The log is usable again right away.
    ASSERT_TRUE(store->commit({Mutation::put("/after", 1)}).ok());
  }
  StateMap expected = firstKeys(5);
  expected["/after"] = 1;
  EXPECT_EQ(reopen(dir.path()), expected);
}

std::string partialRecord() {
  std::string r;
  appendRecord(r, R"({"ops":[{"k":"/k/99","v":99}]})");
  return r.substr(0, r.size() - 4);
}

std::string badChecksumRecord() {
  std::string r;
  appendRecord(r, R"({"ops":[{"k":"/k/99","v":99}]})");
  r.back() ^= 0x20;
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    LogStateStore, TornTail,
    ::testing::Values(TornTailCase{"PartialHeader", std::string("\x1c\x00\x00", 3)},
                      TornTailCase{"PartialRecord", partialRecord()},
                      TornTailCase{"BadChecksumAtEnd", badChecksumRecord()},
                      TornTailCase{"Zeros", std::string(4096, '\0')},
                      TornTailCase{"Garbage", "\xde\xad\xbe\xef garbage garbage garbage"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(LogStateStore, TornTailLogsOneWarning) {
  TempDir dir;
  writeRecords(dir.path(), 2);
  appendFile(dir.file(kLog1), partialRecord());
  ::testing::internal::CaptureStderr();
  reopen(dir.path());
  std::string err = ::testing::internal::GetCapturedStderr();
  size_t first = err.find("torn tail");
  ASSERT_NE(first, std::string::npos) << err;
  EXPECT_EQ(err.find("torn tail", first + 1), std::string::npos) << err;
  EXPECT_NE(err.find(dir.file(kLog1)), std::string::npos) << err;
}

TEST(LogStateStore, MidLogChecksumCorruptionIsRefused) {
  TempDir dir;
  std::string log = writeRecords(dir.path(), 4);
  auto r0 = decodeRecord(log, 0, UINT32_MAX);
  auto r1 = decodeRecord(log, r0.next, UINT32_MAX);
  log[r0.next + kRecordHeaderBytes + 3] ^= 0x01;  // inside the second record's payload
  writeFile(dir.file(kLog1), log);
  auto store = openOrDie(dir.path());
  auto state = store->recover();
  ASSERT_FALSE(state.ok());
  const std::string& msg = state.error().message;
  EXPECT_NE(msg.find(dir.file(kLog1)), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset " + std::to_string(r0.next)), std::string::npos) << msg;
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset " + std::to_string(r1.next)), std::string::npos) << msg;
  // Nothing was truncated, and commits stay refused.
  EXPECT_EQ(readFile(dir.file(kLog1)), log);
  EXPECT_FALSE(store->commit({Mutation::put("/x", 1)}).ok());
}

TEST(LogStateStore, MidLogLengthCorruptionIsRefused) {
  TempDir dir;
  std::string log = writeRecords(dir.path(), 3);
  log[0] = '\x7f';  // first record's length now points into the next one
  writeFile(dir.file(kLog1), log);
  auto store = openOrDie(dir.path());
  auto state = store->recover();
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.error().message.find("at offset 0"), std::string::npos) << state.error().message;
}

TEST(LogStateStore, DamageInAnOlderLogIsRefused) {
  TempDir dir;
  std::string log = writeRecords(dir.path(), 2);
  appendFile(dir.file(kLog1), partialRecord());
  std::string log2;
  appendRecord(log2, R"({"ops":[{"k":"/later","v":1}]})");
  writeFile(dir.file(LogStateStore::logFileName(2)), log2);
  auto store = openOrDie(dir.path());
  auto state = store->recover();
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.error().message.find("not the newest log"), std::string::npos)
      << state.error().message;
  EXPECT_NE(state.error().message.find(dir.file(kLog1)), std::string::npos);
}

TEST(LogStateStore, ValidChecksumButBadPayloadIsRefused) {
  TempDir dir;
  writeRecords(dir.path(), 1);
  std::string bad;
  appendRecord(bad, R"({"nope":1})");
  appendFile(dir.file(kLog1), bad);
  auto store = openOrDie(dir.path());
  EXPECT_FALSE(store->recover().ok());
}

LogStateStore::Options smallLogs(uint64_t bytes, uint64_t records) {
  LogStateStore::Options o;
  o.maxLogBytes = bytes;
  o.maxLogRecords = records;
  return o;
}

// Random puts/deletes over a small key space; returns the expected state.
StateMap churn(LogStateStore& store, int commits, std::mt19937& rng, StateMap model = {}) {
  for (int i = 0; i < commits; ++i) {
    std::vector<Mutation> batch;
    int n = 1 + static_cast<int>(rng() % 4);
    for (int j = 0; j < n; ++j) {
      std::string key = "/apps/app" + std::to_string(rng() % 40);
      if (rng() % 4 == 0) {
        batch.push_back(Mutation::del(key));
      } else {
        batch.push_back(
            Mutation::put(key, Json{{"version", i}, {"pad", std::string(rng() % 64, 'p')}}));
      }
    }
    EXPECT_TRUE(store.commit(batch).ok());
    applyBatch(model, batch);
  }
  return model;
}

TEST(LogStateStore, CompactionByBytesThenRecoverEqualsState) {
  TempDir dir;
  auto options = smallLogs(2048, 1'000'000);
  std::mt19937 rng(1);
  StateMap model;
  {
    auto store = openOrDie(dir.path(), options);
    recoverOrDie(*store);
    model = churn(*store, 300, rng);
    EXPECT_GT(store->stats().snapshots, 2u);
    EXPECT_GT(store->stats().logSeq, 3u);
    EXPECT_LT(store->stats().logBytes, 2048u + 1024u);
    EXPECT_EQ(recoverOrDie(*store), model);
    std::set<std::string> expectedFiles = {"LOCK", "snapshot",
                                           LogStateStore::logFileName(store->stats().logSeq)};
    EXPECT_EQ(filesIn(dir.path()), expectedFiles);
  }
  EXPECT_EQ(reopen(dir.path(), options), model);
}

TEST(LogStateStore, CompactionByRecordsThenRecoverEqualsState) {
  TempDir dir;
  auto options = smallLogs(1 << 30, 10);
  std::mt19937 rng(2);
  StateMap model;
  {
    auto store = openOrDie(dir.path(), options);
    recoverOrDie(*store);
    model = churn(*store, 95, rng);
    EXPECT_EQ(store->stats().snapshots, 9u);
    EXPECT_EQ(store->stats().logSeq, 10u);
    EXPECT_EQ(store->stats().logRecords, 5u);
  }
  EXPECT_EQ(reopen(dir.path(), options), model);
  // Reopening with the default limits reads the same files.
  EXPECT_EQ(reopen(dir.path()), model);
}

TEST(LogStateStore, RandomReopensMatchModel) {
  TempDir dir;
  auto options = smallLogs(1500, 7);
  std::mt19937 rng(3);
  StateMap model;
  for (int round = 0; round < 20; ++round) {
    auto store = openOrDie(dir.path(), options);
    ASSERT_EQ(recoverOrDie(*store), model) << round;
    model = churn(*store, static_cast<int>(rng() % 20), rng, model);
    if (rng() % 3 == 0) {
      ASSERT_TRUE(store->compact().ok());
    }
  }
  EXPECT_EQ(reopen(dir.path(), options), model);
}

TEST(LogStateStore, FailedCompactionKeepsTheOldLogAndCommitting) {
  TempDir dir;
  {
    auto store = openOrDie(dir.path(), smallLogs(1 << 30, 3));
    recoverOrDie(*store);
    // A non-empty directory named "snapshot" makes the rename fail.
    std::filesystem::create_directories(dir.file("snapshot") + "/blocker");
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(store->commit({Mutation::put("/k/" + std::to_string(i), i)}).ok());
    }
    EXPECT_EQ(store->stats().snapshots, 0u);
    EXPECT_EQ(store->stats().logSeq, 1u);
    EXPECT_EQ(store->stats().logRecords, 10u);
    EXPECT_FALSE(exists(dir.file(LogStateStore::logFileName(2))));
    EXPECT_FALSE(exists(dir.file("snapshot.tmp")));
  }
  std::filesystem::remove_all(dir.file("snapshot"));
  // log.000001 is still the newest log, so a torn tail there is recoverable.
  appendFile(dir.file(kLog1), partialRecord());
  EXPECT_EQ(reopen(dir.path()), firstKeys(10));
}

TEST(LogStateStore, BadOptionsAreRefused) {
  TempDir dir;
  LogStateStore::Options options;
  options.maxRecordBytes = kMaxRecordBytesLimit + 1;
  EXPECT_FALSE(LogStateStore::open(dir.path(), options).ok());
  options = smallLogs(0, 10);
  EXPECT_FALSE(LogStateStore::open(dir.path(), options).ok());
}

// The crash points of a compaction, reproduced by hand.
class CompactionCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = openOrDie(dir_.path());
    recoverOrDie(*store);
    ASSERT_TRUE(store->commit({Mutation::put("/a", 1)}).ok());
    log1_ = readFile(dir_.file(kLog1));
    ASSERT_TRUE(store->compact().ok());
    ASSERT_TRUE(store->commit({Mutation::put("/b", 2)}).ok());
  }
  TempDir dir_;
  std::string log1_;
  const StateMap expected_ = {{"/a", 1}, {"/b", 2}};
};

TEST_F(CompactionCrash, LeftoverSnapshotTmpIsIgnored) {
  writeFile(dir_.file("snapshot.tmp"), "half a snapshot");
  EXPECT_EQ(reopen(dir_.path()), expected_);
  EXPECT_FALSE(exists(dir_.file("snapshot.tmp")));
}

TEST_F(CompactionCrash, OldLogLeftBehindIsNotReplayedAndIsRemoved) {
  writeFile(dir_.file(kLog1), log1_ + std::string(100, '\0'));
  EXPECT_EQ(reopen(dir_.path()), expected_);
  EXPECT_FALSE(exists(dir_.file(kLog1)));
}

TEST_F(CompactionCrash, MissingNewLogIsCreated) {
  std::filesystem::remove(dir_.file(LogStateStore::logFileName(2)));
  EXPECT_EQ(reopen(dir_.path()), (StateMap{{"/a", 1}}));
  EXPECT_TRUE(exists(dir_.file(LogStateStore::logFileName(2))));
}

TEST_F(CompactionCrash, SnapshotNotYetRenamedReplaysBothLogs) {
  // Old snapshot absent, old log still there, new (empty or written) log there.
  std::filesystem::remove(dir_.file("snapshot"));
  writeFile(dir_.file(kLog1), log1_);
  EXPECT_EQ(reopen(dir_.path()), expected_);
}

TEST_F(CompactionCrash, MissingLogIsRefused) {
  std::filesystem::remove(dir_.file("snapshot"));
  auto store = openOrDie(dir_.path());
  auto state = store->recover();
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.error().message.find(kLog1 + " is missing"), std::string::npos)
      << state.error().message;
}

TEST_F(CompactionCrash, CorruptSnapshotIsRefused) {
  std::string snap = readFile(dir_.file("snapshot"));
  snap[snap.size() / 2] ^= 0x04;
  writeFile(dir_.file("snapshot"), snap);
  auto store = openOrDie(dir_.path());
  auto state = store->recover();
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.error().message.find(dir_.file("snapshot")), std::string::npos)
      << state.error().message;
}

TEST(LogStateStore, SecondOpenOfALockedDirIsRefused) {
  TempDir dir;
  auto first = openOrDie(dir.path());
  auto second = LogStateStore::open(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ErrorKind::kConflict);
  EXPECT_NE(second.error().message.find(dir.path()), std::string::npos) << second.error().message;
  EXPECT_NE(second.error().message.find("locked"), std::string::npos);
  EXPECT_NE(second.error().message.find(std::to_string(::getpid())), std::string::npos);
  first.reset();
  EXPECT_TRUE(LogStateStore::open(dir.path()).ok());
}

TEST(LogStateStore, UnusableDirIsAnError) {
  TempDir dir;
  writeFile(dir.file("file"), "x");
  auto store = LogStateStore::open(dir.file("file") + "/sub");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find(dir.file("file")), std::string::npos)
      << store.error().message;
}

}  // namespace
}  // namespace corral::state
