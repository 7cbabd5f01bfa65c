// Marathon's label selector grammar and semantics, and what it refuses.
#include "core_cluster/api/label_selector.h"

#include <gtest/gtest.h>

namespace corral::api {
namespace {

using Labels = std::map<std::string, std::string>;

bool matches(const std::string& selector, const Labels& labels) {
  auto s = parseLabelSelector(selector);
  EXPECT_TRUE(s.ok()) << selector << ": " << (s.ok() ? "" : s.error().message);
  return s.ok() && s->matches(labels);
}

TEST(LabelSelectorTest, ExistenceAndEquality) {
  EXPECT_TRUE(matches("tier", {{"tier", "frontend"}}));
  EXPECT_FALSE(matches("tier", {{"env", "x"}}));
  EXPECT_TRUE(matches("tier==frontend", {{"tier", "frontend"}}));
  EXPECT_TRUE(matches("tier == frontend", {{"tier", "frontend"}}));
  EXPECT_FALSE(matches("tier==frontend", {{"tier", "backend"}}));
}

TEST(LabelSelectorTest, NotEqualsNeedsTheLabelAsMarathonDoes) {
  EXPECT_TRUE(matches("tier!=frontend", {{"tier", "backend"}}));
  EXPECT_FALSE(matches("tier!=frontend", {{"tier", "frontend"}}));
  EXPECT_FALSE(matches("tier!=frontend", {{"env", "prod"}})) << "no label: no match";
}

TEST(LabelSelectorTest, SetsInAndNotIn) {
  EXPECT_TRUE(matches("environment in (stage,production)", {{"environment", "stage"}}));
  EXPECT_TRUE(matches("environment in ( stage , production )", {{"environment", "production"}}));
  EXPECT_FALSE(matches("environment in (stage,production)", {{"environment", "dev"}}));
  EXPECT_FALSE(matches("environment in (stage)", {}));
  EXPECT_TRUE(matches("environment notin (stage,production)", {{"environment", "dev"}}));
  EXPECT_FALSE(matches("environment notin (stage,production)", {{"environment", "stage"}}));
  EXPECT_FALSE(matches("environment notin (stage)", {})) << "no label: no match";
  EXPECT_FALSE(matches("environment in ()", {{"environment", "x"}}));
}

TEST(LabelSelectorTest, CommaIsAnd) {
  Labels l{{"a", "t1"}, {"b", "t2"}, {"c", "x"}};
  EXPECT_TRUE(matches("a in (t1, t2, t3), b notin (t1), c", l));
  EXPECT_FALSE(matches("a in (t1), b==t1", l));
  EXPECT_TRUE(matches("a==t1,b!=t1", l));
}

TEST(LabelSelectorTest, KeysThatStartLikeOperatorsAndEscapes) {
  EXPECT_TRUE(matches("index", {{"index", "1"}})) << "'in' is a word, not a prefix";
  EXPECT_TRUE(matches("notice==1", {{"notice", "1"}}));
  EXPECT_TRUE(
      matches("HAPROXY_0_VHOST==web\\.example\\.com", {{"HAPROXY_0_VHOST", "web.example.com"}}));
  EXPECT_TRUE(matches("\\!\\!\\! in (\\-\\-\\-, \\&\\&\\&)", {{"!!!", "&&&"}}));
  EXPECT_TRUE(matches("owner==a\\ b", {{"owner", "a b"}}));
}

TEST(LabelSelectorTest, MalformedSelectorsAreErrorsThatSayWhere) {
  for (const char* bad : {"", "   ", "tier==", "==x", "tier=frontend", "tier!", "a in stage",
                          "a in (x", "a in (x,)", "a in (x y)", "a,", ",a", "a,,b", "a b",
                          "tier==front end", "a\\", "a notin", "env in (a)(b)"}) {
    auto s = parseLabelSelector(bad);
    ASSERT_FALSE(s.ok()) << "'" << bad << "' should not parse";
    EXPECT_EQ(s.error().kind, ErrorKind::kInvalid);
    EXPECT_NE(s.error().message.find("at offset"), std::string::npos) << s.error().message;
  }
}

}  // namespace
}  // namespace corral::api
