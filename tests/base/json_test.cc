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
  EXPECT_EQ(r.error().code, 400);
}

TEST(Json, DumpReplacesInvalidUtf8) {
  Json j = std::string("\xff");
  EXPECT_FALSE(dumpJson(j).empty());
}

}  // namespace corral
