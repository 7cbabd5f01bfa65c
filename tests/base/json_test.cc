#include "base/json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace corral {

TEST(Json, ParsesValidText) {
  auto r = parseJson(R"({"a": [1, 2]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["a"][1], 2);
}

TEST(Json, MalformedTextIsAnErrorWithAPosition) {
  auto r = parseJson(R"({"a": )");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("malformed JSON"), std::string::npos);
  EXPECT_NE(r.error().message.find("column"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
}

TEST(Json, OutOfRangeNumberIsAnErrorNotACrash) {
  // Found by tests/fuzz/input_fuzz: nlohmann throws out_of_range for this.
  auto r = parseJson("8971116261715e9481410");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("malformed JSON"), std::string::npos) << r.error().message;
  auto nested = parseJson(R"({"instances": 1e999999})");
  EXPECT_FALSE(nested.ok());
}

TEST(Json, DumpReplacesInvalidUtf8) {
  Json j = std::string("\xff");
  EXPECT_FALSE(dumpJson(j).empty());
}

}  // namespace corral
