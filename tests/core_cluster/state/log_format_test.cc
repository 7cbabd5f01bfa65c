#include "core_cluster/state/log_format.h"

#include <gtest/gtest.h>

#include <string>

namespace corral::state {
namespace {

constexpr uint32_t kMax = 1 << 20;

TEST(LogFormat, RecordRoundTrip) {
  std::string data;
  appendRecord(data, R"({"a":1})");
  appendRecord(data, R"({"b":2})");
  auto first = decodeRecord(data, 0, kMax);
  ASSERT_EQ(first.status, RecordStatus::kOk);
  EXPECT_EQ(first.payload, R"({"a":1})");
  auto second = decodeRecord(data, first.next, kMax);
  ASSERT_EQ(second.status, RecordStatus::kOk);
  EXPECT_EQ(second.payload, R"({"b":2})");
  EXPECT_EQ(decodeRecord(data, second.next, kMax).status, RecordStatus::kEnd);
}

TEST(LogFormat, EveryCutOfARecordIsTruncated) {
  std::string data;
  appendRecord(data, R"({"key":"value"})");
  for (size_t n = 1; n < data.size(); ++n) {
    EXPECT_EQ(decodeRecord(std::string_view(data).substr(0, n), 0, kMax).status,
              RecordStatus::kTruncated)
        << n;
  }
}

TEST(LogFormat, EveryFlippedByteIsDetected) {
  std::string good;
  appendRecord(good, R"({"key":"value"})");
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_NE(decodeRecord(bad, 0, kMax).status, RecordStatus::kOk) << i;
  }
}

TEST(LogFormat, ZerosAndHugeLengthsAreBadLengths) {
  EXPECT_EQ(decodeRecord(std::string(64, '\0'), 0, kMax).status, RecordStatus::kBadLength);
  std::string data;
  appendRecord(data, std::string(100, 'x'));
  EXPECT_EQ(decodeRecord(data, 0, 99).status, RecordStatus::kBadLength);
}

TEST(LogFormat, FindValidRecordSkipsGarbage) {
  std::string data = "garbage\x01\x02\x03";
  size_t at = data.size();
  appendRecord(data, R"({"x":1})");
  EXPECT_EQ(findValidRecord(data, 0, kMax), at);
  EXPECT_EQ(findValidRecord(data, at + 1, kMax), std::nullopt);
  EXPECT_EQ(findValidRecord(std::string(100, '\0'), 0, kMax), std::nullopt);
}

TEST(LogFormat, BatchPayloadRoundTripKeepsNullApartFromDelete) {
  std::vector<std::vector<Mutation>> batches = {
      {Mutation::put("/apps/a", Json{{"id", "/a"}}), Mutation::put("/n", Json(nullptr))},
      {Mutation::del("/apps/b")}};
  auto decoded = decodeBatchPayload(encodeBatchPayload(batches));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded->size(), 3u);
  EXPECT_EQ((*decoded)[0].key, "/apps/a");
  EXPECT_EQ((*decoded)[0].value, Json({{"id", "/a"}}));
  ASSERT_TRUE((*decoded)[1].value.has_value());
  EXPECT_TRUE((*decoded)[1].value->is_null());
  EXPECT_EQ((*decoded)[2].key, "/apps/b");
  EXPECT_FALSE((*decoded)[2].value.has_value());
}

TEST(LogFormat, BatchPayloadErrors) {
  EXPECT_FALSE(decodeBatchPayload("[]").ok());
  EXPECT_FALSE(decodeBatchPayload(R"({"ops":[{"v":1}]})").ok());
  EXPECT_FALSE(decodeBatchPayload(R"({"ops":[{"k":"no-slash"}]})").ok());
  EXPECT_FALSE(decodeBatchPayload("{").ok());
}

TEST(LogFormat, SnapshotRoundTrip) {
  StateMap state = {{"/apps/a", Json{{"x", 1}}}, {"/tasks/t\"1", Json("quoted key")}};
  auto decoded = decodeSnapshotPayload(encodeSnapshotPayload(42, state));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->coveredLogSeq, 42u);
  EXPECT_EQ(decoded->state, state);
  EXPECT_FALSE(decodeSnapshotPayload(R"({"format":2,"coveredLogSeq":1,"state":{}})").ok());
  EXPECT_FALSE(decodeSnapshotPayload(R"({"format":1,"state":{}})").ok());
}

}  // namespace
}  // namespace corral::state
