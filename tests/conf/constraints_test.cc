#include "conf/constraints.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace corral::conf {
namespace {

Json parse(const char* text) { return Json::parse(text); }

Constraint mustParse(const char* text) {
  auto c = parseConstraint(parse(text), "/constraints(0)");
  EXPECT_TRUE(c.ok()) << text << ": " << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : Constraint{};
}

AgentInfo agent(std::string host, const char* attributes = "") {
  AgentInfo a;
  a.hostname = std::move(host);
  auto parsed = parseAttributes(attributes);
  EXPECT_TRUE(parsed.ok()) << attributes;
  if (parsed.ok()) a.attributes = *parsed;
  return a;
}

// ---------------------------------------------------------------- parsing

TEST(ParseConstraint, ValidForms) {
  struct Case {
    const char* json;
    ConstraintOperator op;
    std::optional<std::string> value;
    int count;
  };
  std::vector<Case> cases = {
      {R"(["hostname","UNIQUE"])", ConstraintOperator::kUnique, std::nullopt, 0},
      {R"(["rack","CLUSTER","a"])", ConstraintOperator::kCluster, "a", 0},
      {R"(["rack","CLUSTER"])", ConstraintOperator::kCluster, std::nullopt, 0},
      {R"(["rack","GROUP_BY"])", ConstraintOperator::kGroupBy, std::nullopt, 0},
      {R"(["rack","GROUP_BY","3"])", ConstraintOperator::kGroupBy, "3", 3},
      {R"(["rack","GROUP_BY",3])", ConstraintOperator::kGroupBy, "3", 3},
      {R"(["rack","GROUP_BY",""])", ConstraintOperator::kGroupBy, std::nullopt, 0},
      {R"(["rack","LIKE","r[0-9]+"])", ConstraintOperator::kLike, "r[0-9]+", 0},
      {R"(["rack","UNLIKE","r1"])", ConstraintOperator::kUnlike, "r1", 0},
      {R"(["hostname","MAX_PER","2"])", ConstraintOperator::kMaxPer, "2", 2},
      {R"(["level","IS","3"])", ConstraintOperator::kIs, "3", 0},
      {R"(["hostname","UNIQUE",null])", ConstraintOperator::kUnique, std::nullopt, 0},
  };
  for (const Case& c : cases) {
    Constraint got = mustParse(c.json);
    EXPECT_EQ(got.op, c.op) << c.json;
    EXPECT_EQ(got.value, c.value) << c.json;
    EXPECT_EQ(got.count, c.count) << c.json;
  }
}

TEST(ParseConstraint, ToStringAndJson) {
  Constraint c = mustParse(R"(["rack","GROUP_BY",3])");
  EXPECT_EQ(c.toString(), "rack:GROUP_BY:3");
  EXPECT_EQ(constraintToJson(c), parse(R"(["rack","GROUP_BY","3"])"));
  Constraint u = mustParse(R"(["hostname","UNIQUE"])");
  EXPECT_EQ(constraintToJson(u), parse(R"(["hostname","UNIQUE"])"));
  EXPECT_EQ(operatorName(ConstraintOperator::kMaxPer), "MAX_PER");
}

struct BadConstraint {
  const char* json;
  const char* message;
};

void PrintTo(const BadConstraint& b, std::ostream* os) { *os << b.json; }

class ParseConstraintErrors : public ::testing::TestWithParam<BadConstraint> {};

TEST_P(ParseConstraintErrors, ReportsPathAndReason) {
  auto c = parseConstraint(parse(GetParam().json), "/constraints(1)");
  ASSERT_FALSE(c.ok()) << GetParam().json;
  EXPECT_EQ(c.error().path, "/constraints(1)");
  EXPECT_EQ(c.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(c.error().message.find(GetParam().message), std::string::npos) << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseConstraintErrors,
    ::testing::Values(
        BadConstraint{R"(["hostname","FOO"])", "unknown constraint operator \"FOO\""},
        BadConstraint{R"(["hostname","unique"])", "unknown constraint operator \"unique\""},
        BadConstraint{R"(["hostname"])", "must be an array [field, operator]"},
        BadConstraint{R"(["a","UNIQUE","b","c"])", "must be an array"},
        BadConstraint{R"("hostname:UNIQUE")", "must be an array"},
        BadConstraint{R"([1,"UNIQUE"])", "field must be a non-empty string, got 1"},
        BadConstraint{R"(["","UNIQUE"])", "field must be a non-empty string"},
        BadConstraint{R"(["a",1])", "operator must be a string, got 1"},
        BadConstraint{R"(["a","CLUSTER",true])", "value must be a string, got true"},
        BadConstraint{R"(["a","CLUSTER",1.5])", "value must be a string, got 1.5"},
        BadConstraint{R"(["hostname","UNIQUE","x"])", "UNIQUE takes no value, got \"x\""},
        BadConstraint{R"(["a","GROUP_BY","x"])", "GROUP_BY value must be a positive integer"},
        BadConstraint{R"(["a","GROUP_BY","0"])", "GROUP_BY value must be a positive integer"},
        BadConstraint{R"(["a","GROUP_BY","99999999999"])",
                      "GROUP_BY value must be a positive integer"},
        BadConstraint{R"(["a","MAX_PER"])", "MAX_PER requires a value"},
        BadConstraint{R"(["a","MAX_PER","-1"])", "MAX_PER value must be a positive integer"},
        BadConstraint{R"(["a","LIKE"])", "LIKE requires a regular expression value"},
        BadConstraint{R"(["a","LIKE","[a-"])",
                      "LIKE value \"[a-\" is not a valid regular "
                      "expression"},
        BadConstraint{R"(["a","UNLIKE","(x"])",
                      "UNLIKE value \"(x\" is not a valid regular "
                      "expression"},
        BadConstraint{R"(["a","IS"])", "IS requires a value"}));

TEST(ParseConstraints, CollectsEveryErrorWithIndexedPaths) {
  std::vector<Error> errors;
  auto list =
      parseConstraints(parse(R"([["hostname","UNIQUE"],["hostname","BOGUS"],["rack","LIKE","("],
               ["hostname","UNIQUE"]])"),
                       "/constraints", errors);
  EXPECT_EQ(list.size(), 2u);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].path, "/constraints(1)");
  EXPECT_EQ(errors[1].path, "/constraints(2)");
  EXPECT_EQ(errors[2].path, "/constraints(3)");
  EXPECT_NE(errors[2].message.find("duplicate constraint hostname:UNIQUE"), std::string::npos);
}

TEST(ParseConstraints, NotAnArray) {
  std::vector<Error> errors;
  auto list = parseConstraints(parse(R"({"a":1})"), "/constraints", errors);
  EXPECT_TRUE(list.empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "/constraints");
  errors.clear();
  EXPECT_TRUE(parseConstraints(Json(nullptr), "/constraints", errors).empty());
  EXPECT_TRUE(errors.empty());
}

// ---------------------------------------------------------------- evaluation

TEST(CheckConstraint, HostnameUnique) {
  Constraint c = mustParse(R"(["hostname","UNIQUE"])");
  std::vector<AgentInfo> placed = {agent("127.0.0.1"), agent("127.0.0.2")};
  EXPECT_TRUE(checkConstraint(c, agent("127.0.0.3"), placed).ok());
  Status refused = checkConstraint(c, agent("127.0.0.2"), placed, {}, "/web");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "constraint hostname:UNIQUE: agent 127.0.0.2 already runs a task of /web");
  EXPECT_TRUE(checkConstraint(c, agent("127.0.0.2"), {}).ok());
}

TEST(CheckConstraint, AttributeUnique) {
  Constraint c = mustParse(R"(["rack","UNIQUE"])");
  std::vector<AgentInfo> placed = {agent("h1", "rack:a")};
  EXPECT_TRUE(checkConstraint(c, agent("h2", "rack:b"), placed).ok());
  Status s = checkConstraint(c, agent("h2", "rack:a"), placed, {}, "/web");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "constraint rack:UNIQUE: agent h2 has rack:a, already used by a task of /web");
}

TEST(CheckConstraint, MissingAttributeFailsAllButUnlike) {
  for (const char* json :
       {R"(["rack","UNIQUE"])", R"(["rack","CLUSTER","a"])", R"(["rack","GROUP_BY"])",
        R"(["rack","LIKE","a"])", R"(["rack","MAX_PER","1"])", R"(["rack","IS","a"])"}) {
    Status s = checkConstraint(mustParse(json), agent("h1", "zone:z"), {});
    ASSERT_FALSE(s.ok()) << json;
    EXPECT_NE(s.error().message.find("agent h1 has no attribute \"rack\""), std::string::npos)
        << s.error().message;
  }
  EXPECT_TRUE(checkConstraint(mustParse(R"(["rack","UNLIKE","a"])"), agent("h1"), {}).ok());
}

TEST(CheckConstraint, ClusterWithValue) {
  Constraint c = mustParse(R"(["rack","CLUSTER","a"])");
  EXPECT_TRUE(checkConstraint(c, agent("h1", "rack:a"), {}).ok());
  Status s = checkConstraint(c, agent("h1", "rack:b"), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "constraint rack:CLUSTER:a: agent h1 has rack:b, not a");
  Constraint host = mustParse(R"(["hostname","CLUSTER","h9"])");
  Status hs = checkConstraint(host, agent("h1"), {});
  ASSERT_FALSE(hs.ok());
  EXPECT_EQ(hs.error().message, "constraint hostname:CLUSTER:h9: agent h1 is not h9");
}

TEST(CheckConstraint, ClusterWithoutValueFollowsFirstTask) {
  Constraint c = mustParse(R"(["rack","CLUSTER"])");
  EXPECT_TRUE(checkConstraint(c, agent("h1", "rack:b"), {}).ok());
  std::vector<AgentInfo> placed = {agent("h0", "rack:a")};
  EXPECT_TRUE(checkConstraint(c, agent("h1", "rack:a"), placed).ok());
  Status s = checkConstraint(c, agent("h1", "rack:b"), placed, {}, "/web");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "constraint rack:CLUSTER: agent h1 has rack:b, but tasks of /web run on rack:a");
}

TEST(CheckConstraint, GroupBySpreadsEvenlyOverPlacedValues) {
  Constraint c = mustParse(R"(["rack","GROUP_BY"])");
  AgentInfo a = agent("ha", "rack:a");
  AgentInfo b = agent("hb", "rack:b");
  // Nothing placed: anything goes.
  EXPECT_TRUE(checkConstraint(c, a, {}).ok());
  // a:1 — a new value is always welcome; a second on a is fine too (min is 1).
  std::vector<AgentInfo> placed = {a};
  EXPECT_TRUE(checkConstraint(c, b, placed).ok());
  EXPECT_TRUE(checkConstraint(c, a, placed).ok());
  // a:2 b:1 — a is over the minimum.
  placed = {a, a, b};
  Status s = checkConstraint(c, a, placed, {}, "/web");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "constraint rack:GROUP_BY: agent ha has rack:a with 2 task(s) of /web, while rack:b "
            "has 1");
  EXPECT_TRUE(checkConstraint(c, b, placed).ok());
}

TEST(CheckConstraint, GroupByUsesAllAgentsValues) {
  Constraint c = mustParse(R"(["rack","GROUP_BY"])");
  AgentInfo a = agent("ha", "rack:a");
  AgentInfo b = agent("hb", "rack:b");
  AgentInfo cc = agent("hc", "rack:c");
  std::vector<AgentInfo> all = {a, b, cc};
  std::vector<AgentInfo> placed = {a, b};
  // Without knowing c exists, a second task on a is acceptable (a:1 == min 1).
  EXPECT_TRUE(checkConstraint(c, a, placed).ok());
  // Knowing c holds no task, a is refused until c gets one.
  Status s = checkConstraint(c, a, placed, all);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("while rack:c has 0"), std::string::npos) << s.error().message;
  EXPECT_TRUE(checkConstraint(c, cc, placed, all).ok());
}

TEST(CheckConstraint, GroupByWithCountWaitsForEnoughGroups) {
  Constraint c = mustParse(R"(["rack","GROUP_BY","3"])");
  AgentInfo a = agent("ha", "rack:a");
  AgentInfo b = agent("hb", "rack:b");
  std::vector<AgentInfo> placed = {a, b};
  Status s = checkConstraint(c, a, placed);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("only 2 of 3 groups are used yet"), std::string::npos)
      << s.error().message;
  EXPECT_TRUE(checkConstraint(c, agent("hc", "rack:c"), placed).ok());
  placed.push_back(agent("hc", "rack:c"));
  EXPECT_TRUE(checkConstraint(c, a, placed).ok());
}

TEST(CheckConstraint, GroupBySimulatedPlacementIsEven) {
  Constraint c = mustParse(R"(["zone","GROUP_BY"])");
  std::vector<AgentInfo> all = {agent("h1", "zone:z1"), agent("h2", "zone:z1"),
                                agent("h3", "zone:z2"), agent("h4", "zone:z3")};
  std::vector<AgentInfo> placed;
  // Greedy placement that always tries agents in order, 9 tasks.
  for (int task = 0; task < 9; ++task) {
    bool done = false;
    for (const AgentInfo& candidate : all) {
      if (checkConstraint(c, candidate, placed, all).ok()) {
        placed.push_back(candidate);
        done = true;
        break;
      }
    }
    ASSERT_TRUE(done) << "task " << task;
  }
  std::map<std::string, int> perZone;
  for (const AgentInfo& p : placed) ++perZone[p.attributes.at("zone").text];
  EXPECT_EQ(perZone, (std::map<std::string, int>{{"z1", 3}, {"z2", 3}, {"z3", 3}}));
}

TEST(CheckConstraint, LikeAndUnlikeFullMatch) {
  Constraint like = mustParse(R"(["rack","LIKE","rack-[0-9]"])");
  EXPECT_TRUE(checkConstraint(like, agent("h", "rack:rack-1"), {}).ok());
  Status s = checkConstraint(like, agent("h", "rack:rack-12"), {});  // full match only
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "constraint rack:LIKE:rack-[0-9]: agent h has rack:rack-12, which does not match "
            "\"rack-[0-9]\"");
  Constraint host = mustParse(R"(["hostname","LIKE","10\\.0\\..*"])");
  EXPECT_TRUE(checkConstraint(host, agent("10.0.0.7"), {}).ok());
  EXPECT_FALSE(checkConstraint(host, agent("10.1.0.7"), {}).ok());

  Constraint unlike = mustParse(R"(["rack","UNLIKE","rack-[12]"])");
  EXPECT_TRUE(checkConstraint(unlike, agent("h", "rack:rack-3"), {}).ok());
  Status u = checkConstraint(unlike, agent("h", "rack:rack-2"), {});
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find("which matches \"rack-[12]\""), std::string::npos);
}

TEST(CheckConstraint, LikeMatchesNonTextAttributesByTheirText) {
  Constraint c = mustParse(R"(["level","LIKE","[0-9]+"])");
  EXPECT_TRUE(checkConstraint(c, agent("h", "level:3"), {}).ok());
  Constraint r = mustParse(R"(["r","LIKE","\\[1-5\\]"])");
  EXPECT_TRUE(checkConstraint(r, agent("h", "r:[1-5]"), {}).ok());
}

TEST(CheckConstraint, HandBuiltLikeCompilesOnTheFly) {
  Constraint c;
  c.field = "rack";
  c.op = ConstraintOperator::kLike;
  c.value = "a.*";
  EXPECT_TRUE(checkConstraint(c, agent("h", "rack:abc"), {}).ok());
  c.value = "(";
  EXPECT_FALSE(checkConstraint(c, agent("h", "rack:abc"), {}).ok());
}

TEST(CheckConstraint, MaxPer) {
  Constraint c = mustParse(R"(["rack","MAX_PER","2"])");
  AgentInfo a = agent("ha", "rack:a");
  EXPECT_TRUE(checkConstraint(c, a, {}).ok());
  std::vector<AgentInfo> one = {a};
  EXPECT_TRUE(checkConstraint(c, a, one).ok());
  std::vector<AgentInfo> two = {a, agent("ha2", "rack:a")};
  Status s = checkConstraint(c, a, two, {}, "/web");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "constraint rack:MAX_PER:2: agent ha has rack:a, which already holds 2 task(s) of "
            "/web (max 2)");
  EXPECT_TRUE(checkConstraint(c, agent("hb", "rack:b"), two).ok());
}

TEST(CheckConstraint, IsComparesTextAndScalars) {
  EXPECT_TRUE(checkConstraint(mustParse(R"(["rack","IS","a"])"), agent("h", "rack:a"), {}).ok());
  Status s = checkConstraint(mustParse(R"(["rack","IS","a"])"), agent("h", "rack:b"), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "constraint rack:IS:a: agent h has rack:b, not a");
  EXPECT_TRUE(
      checkConstraint(mustParse(R"(["level","IS","3.0"])"), agent("h", "level:3"), {}).ok());
  EXPECT_FALSE(checkConstraint(mustParse(R"(["level","IS","4"])"), agent("h", "level:3"), {}).ok());
  EXPECT_TRUE(checkConstraint(mustParse(R"(["hostname","IS","h"])"), agent("h"), {}).ok());
}

TEST(CheckConstraint, SpecialFieldNames) {
  EXPECT_FALSE(
      checkConstraint(mustParse(R"(["@hostname","UNIQUE"])"), agent("h"), std::vector{agent("h")})
          .ok());
  EXPECT_TRUE(checkConstraint(mustParse(R"(["@zone","IS","z1"])"), agent("h", "zone:z1"), {}).ok());
  EXPECT_TRUE(
      checkConstraint(mustParse(R"(["@region","IS","eu"])"), agent("h", "region:eu"), {}).ok());
}

TEST(CheckConstraints, FirstRefusalWins) {
  std::vector<Error> errors;
  auto list = parseConstraints(parse(R"([["rack","IS","a"],["hostname","UNIQUE"]])"),
                               "/constraints", errors);
  ASSERT_TRUE(errors.empty());
  std::vector<AgentInfo> placed = {agent("h1", "rack:a")};
  EXPECT_TRUE(checkConstraints(list, agent("h2", "rack:a"), placed).ok());
  Status s = checkConstraints(list, agent("h1", "rack:a"), placed, {}, "/web");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "constraint hostname:UNIQUE: agent h1 already runs a task of /web");
  Status first = checkConstraints(list, agent("h1", "rack:b"), placed);
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.error().message.find("rack:IS:a"), std::string::npos);
  EXPECT_TRUE(checkConstraints({}, agent("h1"), placed).ok());
}

TEST(CheckConstraint, DefaultAppNameInMessages) {
  Status s =
      checkConstraint(mustParse(R"(["hostname","UNIQUE"])"), agent("h"), std::vector{agent("h")});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "constraint hostname:UNIQUE: agent h already runs a task of the app");
}

}  // namespace
}  // namespace corral::conf
