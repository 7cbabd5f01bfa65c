#include "base/json_array_member.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace corral {
namespace {

// Every element handed out, as compact text, or the error.
struct Read {
  std::vector<std::string> elements;
  std::vector<size_t> indexes;
  Status status;
};

Read read(std::string_view text, std::string_view key = "apps") {
  Read r;
  r.status = forEachArrayElement(text, key, [&](const Json& e, size_t i) {
    r.elements.push_back(dumpJson(e));
    r.indexes.push_back(i);
  });
  return r;
}

TEST(JsonArrayMember, HandsOutEachElementAsTheDomWouldParseIt) {
  std::string text =
      R"({"before": {"apps": [9]}, "apps": [{"id": "/a", "tasks": [{"id": "t1", "ports": [1, 2]}],
          "labels": {"X": "y"}, "n": -3, "u": 18446744073709551615, "f": 1.5, "b": true, "z": null},
          [1, [2, {"k": []}]], "s", 7, {}], "after": [1, 2]})";
  Read r = read(text);
  ASSERT_TRUE(r.status.ok()) << r.status.error().message;
  auto whole = parseJson(text);
  ASSERT_TRUE(whole.ok());
  const Json& apps = (*whole)["apps"];
  ASSERT_EQ(r.elements.size(), apps.size());
  for (size_t i = 0; i < apps.size(); ++i) {
    EXPECT_EQ(r.elements[i], dumpJson(apps[i])) << i;
    EXPECT_EQ(r.indexes[i], i);
  }
}

TEST(JsonArrayMember, AnEmptyArrayIsFineAndHandsOutNothing) {
  Read r = read(R"({"apps": []})");
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.elements.empty());
}

TEST(JsonArrayMember, OnlyTheFirstMemberOfThatNameIsRead) {
  Read r = read(R"({"apps": [1], "apps": [2, 3]})");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.elements, std::vector<std::string>{"1"});
}

TEST(JsonArrayMember, ABadEnvelopeSaysWhatIsWrong) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {Case{"[]", "expected a JSON object"}, Case{"7", "expected a JSON object"},
                        Case{R"({"other": []})", "expected an \"apps\" array"},
                        Case{R"({"apps": {}})", "\"apps\": expected an array"},
                        Case{R"({"apps": "x"})", "\"apps\": expected an array"},
                        Case{R"({"apps": null})", "\"apps\": expected an array"}}) {
    Read r = read(c.text);
    ASSERT_FALSE(r.status.ok()) << c.text;
    EXPECT_NE(r.status.error().message.find(c.says), std::string::npos)
        << c.text << ": " << r.status.error().message;
    EXPECT_EQ(r.status.error().kind, ErrorKind::kInvalid);
  }
}

TEST(JsonArrayMember, MalformedOrTruncatedTextIsAnErrorAfterTheGoodElements) {
  // A truncated answer: the elements before the cut were handed out, and the
  // error says so, so a caller collects first and acts only on an ok Status.
  Read r = read(R"({"apps": [{"id": "/a"}, {"id": "/b"}, {"id": )");
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.error().message.find("malformed JSON"), std::string::npos)
      << r.status.error().message;
  EXPECT_EQ(r.elements.size(), 2u);
  for (const char* bad :
       {"", "{", R"({"apps": [1,]})", R"({"apps": [1]} trailing)", R"({"apps": [1e999999]})",
        "{\"apps\": [\"\xff\"]}", R"({"apps": [{"a" 1}]})"}) {
    Read b = read(bad);
    EXPECT_FALSE(b.status.ok()) << bad;
  }
}

TEST(JsonArrayMember, DeepNestingInsideAnElementIsBuiltWhole) {
  std::string text = R"({"apps": [)";
  for (int i = 0; i < 200; ++i) text += "[";
  text += "1";
  for (int i = 0; i < 200; ++i) text += "]";
  text += "]}";
  Read r = read(text);
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.elements.size(), 1u);
  EXPECT_EQ(r.elements[0].size(), 401u);
}

}  // namespace
}  // namespace corral
