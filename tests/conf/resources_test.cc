#include "conf/resources.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace corral::conf {
namespace {

// ---------------------------------------------------------------- Ranges

TEST(Ranges, NormalisesOverlappingAdjacentAndUnsorted) {
  Ranges r{{10, 20}, {1, 3}, {4, 5}, {15, 25}, {30, 30}};
  EXPECT_EQ(r.toString(), "[1-5,10-25,30-30]");
  EXPECT_EQ(r.size(), 5u + 16u + 1u);
}

TEST(Ranges, SwapsReversedBounds) {
  Ranges r{{9, 7}};
  EXPECT_EQ(r.toString(), "[7-9]");
}

TEST(Ranges, EmptyBehaviour) {
  Ranges r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.size(), 0u);
  EXPECT_FALSE(r.contains(0));
  EXPECT_TRUE(r.contains(Ranges{}));
  EXPECT_EQ(r.toString(), "[]");
}

TEST(Ranges, ContainsValuesAndSubsets) {
  Ranges r{{31000, 31005}, {31010, 31020}};
  struct Case {
    uint64_t value;
    bool in;
  };
  for (Case c : std::vector<Case>{{30999, false},
                                  {31000, true},
                                  {31005, true},
                                  {31006, false},
                                  {31009, false},
                                  {31010, true},
                                  {31020, true},
                                  {31021, false}}) {
    EXPECT_EQ(r.contains(c.value), c.in) << c.value;
  }
  EXPECT_TRUE(r.contains(Ranges{{31001, 31003}, {31015, 31020}}));
  EXPECT_FALSE(r.contains(Ranges{{31004, 31011}}));  // spans the hole
  EXPECT_FALSE(r.contains(Ranges{{1, 2}}));
}

TEST(Ranges, SubtractSplitsIntervals) {
  Ranges r{{1, 10}};
  r.subtract(Range{4, 6});
  EXPECT_EQ(r.toString(), "[1-3,7-10]");
  r -= Ranges{{1, 1}, {10, 10}};
  EXPECT_EQ(r.toString(), "[2-3,7-9]");
  r.subtract(Range{0, 100});
  EXPECT_TRUE(r.empty());
}

TEST(Ranges, TakeAndRelease) {
  Ranges r{{31000, 31002}};
  EXPECT_TRUE(r.take(31001));
  EXPECT_FALSE(r.take(31001));
  EXPECT_FALSE(r.take(40000));
  EXPECT_EQ(r.toString(), "[31000-31000,31002-31002]");
  r.release(31001);
  EXPECT_EQ(r.toString(), "[31000-31002]");
  r.release(31001);  // idempotent
  EXPECT_EQ(r.size(), 3u);
}

TEST(Ranges, AllocateTakesLowestAcrossIntervals) {
  Ranges r{{31000, 31001}, {31005, 31010}};
  auto got = r.allocate(4);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, (std::vector<uint64_t>{31000, 31001, 31005, 31006}));
  EXPECT_EQ(r.toString(), "[31007-31010]");
  auto none = r.allocate(0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(Ranges, AllocateTooManyLeavesSetUnchanged) {
  Ranges r{{1, 3}};
  auto got = r.allocate(4);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message.find("only 3 free"), std::string::npos) << got.error().message;
  EXPECT_EQ(r.toString(), "[1-3]");
}

TEST(Ranges, ExtremeBoundsDoNotOverflow) {
  const uint64_t max = UINT64_MAX;
  Ranges r{{0, max}};
  EXPECT_EQ(r.size(), max);  // saturates
  r.add(Range{max, max});
  EXPECT_EQ(r.intervals().size(), 1u);
  r.subtract(Range{max, max});
  EXPECT_FALSE(r.contains(max));
  EXPECT_TRUE(r.contains(max - 1));
  Ranges top{{max - 1, max}};
  EXPECT_EQ(top.size(), 2u);
}

TEST(Ranges, ArithmeticOperators) {
  Ranges a{{1, 5}};
  Ranges b{{4, 8}};
  EXPECT_EQ((a + b).toString(), "[1-8]");
  EXPECT_EQ((a - b).toString(), "[1-3]");
  EXPECT_EQ(a, (Ranges{{1, 2}, {3, 5}}));
}

// ---------------------------------------------------------------- parseResources

TEST(ParseResources, TypicalAgentFlag) {
  auto r = parseResources("cpus:4;mem:4096;disk:10000;ports:[31000-32000]");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->cpus(), 4);
  EXPECT_DOUBLE_EQ(r->mem(), 4096);
  EXPECT_DOUBLE_EQ(r->disk(), 10000);
  EXPECT_DOUBLE_EQ(r->gpus(), 0);
  EXPECT_EQ(r->ports().toString(), "[31000-32000]");
  EXPECT_EQ(r->ports().size(), 1001u);
  EXPECT_EQ(r->entries().size(), 4u);
  for (const Resource& e : r->entries()) EXPECT_EQ(e.role, "*");
  EXPECT_EQ(r->toString(), "cpus:4;mem:4096;disk:10000;ports:[31000-32000]");
}

TEST(ParseResources, RolesRangesSetsAndOthers) {
  auto r = parseResources(
      "cpus(prod):2; cpus:1.5 ;ports:[31000-31005,31010-31020];gpus:1;"
      "labels:{b,a,b};bandwidth:100;ports(prod):[5000-5001]");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->cpus(), 3.5);
  const Resource* prod = r->find("cpus", "prod");
  ASSERT_NE(prod, nullptr);
  EXPECT_DOUBLE_EQ(prod->scalar, 2);
  EXPECT_EQ(prod->toString(), "cpus(prod):2");
  EXPECT_DOUBLE_EQ(r->scalar("bandwidth"), 100);
  EXPECT_DOUBLE_EQ(r->gpus(), 1);
  const Resource* labels = r->find("labels");
  ASSERT_NE(labels, nullptr);
  EXPECT_EQ(labels->type, ValueType::kSet);
  EXPECT_EQ(labels->set, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r->ports().toString(), "[5000-5001,31000-31005,31010-31020]");
  EXPECT_EQ(r->forRole("prod").ports().toString(), "[5000-5001]");
  EXPECT_EQ(r->forRole("*").ports().size(), 6u + 11u);
  EXPECT_EQ(r->find("cpus", "dev"), nullptr);
}

TEST(ParseResources, RepeatedEntriesMerge) {
  auto r = parseResources("cpus:1;cpus:2;ports:[1-2];ports:[3-4];;");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->cpus(), 3);
  EXPECT_EQ(r->ports().toString(), "[1-4]");
  EXPECT_EQ(r->entries().size(), 2u);
}

TEST(ParseResources, ScalarsRoundToThreeDecimals) {
  auto r = parseResources("cpus:0.12345;mem:1e3");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->cpus(), 0.123);
  EXPECT_DOUBLE_EQ(r->mem(), 1000);
}

TEST(ParseResources, SingleValueRangeAndEmptyRanges) {
  auto r = parseResources("ports:[80, 443-443]");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ports().toString(), "[80-80,443-443]");
  auto e = parseResources("ports:[]");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(e->ports().empty());
}

struct BadResources {
  std::string text;
  std::string message;  // the full expected message
};

void PrintTo(const BadResources& b, std::ostream* os) { *os << ::testing::PrintToString(b.text); }

class ParseResourcesErrors : public ::testing::TestWithParam<BadResources> {};

TEST_P(ParseResourcesErrors, NamesPositionAndReason) {
  auto r = parseResources(GetParam().text);
  ASSERT_FALSE(r.ok()) << GetParam().text;
  EXPECT_EQ(r.error().message, GetParam().message);
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(r.error().path, "resources");
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseResourcesErrors,
    ::testing::Values(
        BadResources{"", "resources: position 0: empty resource list"},
        BadResources{"   ", "resources: position 3: empty resource list"},
        BadResources{"cpus:4;mem=4096", "resources: position 10: expected ':' after name \"mem\""},
        BadResources{"cpus:4;mem 4096", "resources: position 11: expected ':' after name \"mem\""},
        BadResources{":4", "resources: position 0: expected a resource name, found ':'"},
        BadResources{"cpus:", "resources: position 5: expected a value for \"cpus\""},
        BadResources{"cpus:;mem:1", "resources: position 5: expected a value for \"cpus\""},
        BadResources{"cpus:abc", "resources: position 5: expected a number, found 'a'"},
        BadResources{"cpus:4x",
                     "resources: position 6: expected ';' after the value of \"cpus\", found 'x'"},
        BadResources{"cpus:-1",
                     "resources: position 5: value of \"cpus\" must be non-negative, "
                     "got -1"},
        BadResources{"cpus:1e999", "resources: position 5: number 1e999 is out of range"},
        BadResources{"cpus(:1", "resources: position 5: expected a role for \"cpus\", found ':'"},
        BadResources{"cpus(prod:1",
                     "resources: position 9: expected ')' after role \"prod\", found ':'"},
        BadResources{"ports:[31000-32000",
                     "resources: position 18: expected ',' or ']' in ranges of \"ports\", found "
                     "end of input"},
        BadResources{"ports:[5-3]",
                     "resources: position 7: range 5-3 of \"ports\" ends before it begins"},
        BadResources{"ports:[1-70000]",
                     "resources: position 7: range 1-70000 of \"ports\" "
                     "exceeds 65535"},
        BadResources{"ports:[a-b]",
                     "resources: position 7: expected an unsigned integer, found 'a'"},
        BadResources{"ids:[0-99999999999999999999]",
                     "resources: position 7: integer 99999999999999999999 is out of range"},
        BadResources{"labels:{a,}",
                     "resources: position 10: expected a set item in \"labels\", found '}'"},
        BadResources{"labels:{a b}",
                     "resources: position 10: expected ',' or '}' in set of "
                     "\"labels\", found 'b'"},
        BadResources{"cpus:[1-2]", "resources: position 5: \"cpus\" must be scalar, got ranges"},
        BadResources{"ports:5", "resources: position 6: \"ports\" must be ranges, got scalar"},
        BadResources{"x:1;x:{a}", "resources: position 4: \"x\" was scalar before, now set"},
        BadResources{"cpus:4;\xff",
                     "resources: position 7: expected a resource name, found byte "
                     "0xff"}));

// ---------------------------------------------------------------- arithmetic

TEST(ResourcesArithmetic, SubtractAddAndContains) {
  auto agent = parseResources("cpus:4;mem:4096;disk:100;ports:[31000-31009]");
  auto task = parseResources("cpus:0.5;mem:128;ports:[31000-31001]");
  ASSERT_TRUE(agent.ok() && task.ok());
  EXPECT_TRUE(agent->contains(*task));
  Resources free = *agent - *task;
  EXPECT_DOUBLE_EQ(free.cpus(), 3.5);
  EXPECT_DOUBLE_EQ(free.mem(), 3968);
  EXPECT_EQ(free.ports().toString(), "[31002-31009]");
  EXPECT_FALSE(free.contains(*task));  // its ports are gone
  EXPECT_EQ(free + *task, *agent);
}

TEST(ResourcesArithmetic, SubtractToZeroRemovesEntry) {
  Resources r = Resources::scalarOf("cpus", 1);
  r -= Resources::scalarOf("cpus", 1);
  EXPECT_TRUE(r.empty());
  r -= Resources::scalarOf("cpus", 1);  // clamps, no negative
  EXPECT_TRUE(r.empty());
  EXPECT_DOUBLE_EQ(r.cpus(), 0);
}

TEST(ResourcesArithmetic, FloatingPointSumsStayExact) {
  Resources r;
  for (int i = 0; i < 10; ++i) r += Resources::scalarOf("cpus", 0.1);
  EXPECT_TRUE(r.contains(Resources::scalarOf("cpus", 1.0)));
  for (int i = 0; i < 10; ++i) r -= Resources::scalarOf("cpus", 0.1);
  EXPECT_TRUE(r.empty());
}

TEST(ResourcesArithmetic, RolesAreSeparate) {
  auto agent = parseResources("cpus(prod):2;cpus:1");
  ASSERT_TRUE(agent.ok());
  EXPECT_TRUE(agent->contains(Resources::scalarOf("cpus", 2, "prod")));
  EXPECT_FALSE(agent->contains(Resources::scalarOf("cpus", 2)));
  EXPECT_FALSE(agent->contains(Resources::scalarOf("cpus", 1, "dev")));
  EXPECT_FALSE(agent->contains(Resources::scalarOf("gpus", 1)));
  EXPECT_TRUE(agent->contains(Resources{}));
}

TEST(ResourcesArithmetic, SetsAndRangesBuilders) {
  auto r = parseResources("zones:{a,b,c}");
  ASSERT_TRUE(r.ok());
  auto want = parseResources("zones:{a,c}");
  ASSERT_TRUE(want.ok());
  EXPECT_TRUE(r->contains(*want));
  Resources left = *r - *want;
  EXPECT_EQ(left.toString(), "zones:{b}");
  EXPECT_FALSE(left.contains(*want));
  Resources p = Resources::rangesOf("ports", Ranges{{1, 2}});
  EXPECT_EQ(p.toString(), "ports:[1-2]");
}

TEST(ResourcesArithmetic, EqualityIgnoresOrder) {
  auto a = parseResources("cpus:1;mem:2");
  auto b = parseResources("mem:2;cpus:1");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_FALSE(*a == Resources::scalarOf("cpus", 1));
}

TEST(ResourcesArithmetic, ToStringRoundTrips) {
  const char* text = "cpus(prod):2;cpus:0.5;mem:4096;ports:[31000-31005,31010-31020];tags:{x,y}";
  auto r = parseResources(text);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->toString(), text);
  auto again = parseResources(r->toString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *r);
}

// ---------------------------------------------------------------- attributes

TEST(ParseAttributes, AllValueKinds) {
  auto a = parseAttributes("rack:a;zone:z1;level:3;range:[1-5];tags:{x,y};ip:10.0.0.1;neg:-1.5");
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_EQ(a->size(), 7u);
  EXPECT_EQ(a->at("rack").type, ValueType::kText);
  EXPECT_EQ(a->at("rack").text, "a");
  EXPECT_EQ(a->at("zone").text, "z1");
  EXPECT_EQ(a->at("level").type, ValueType::kScalar);
  EXPECT_DOUBLE_EQ(a->at("level").scalar, 3);
  EXPECT_EQ(a->at("level").toString(), "3");
  EXPECT_EQ(a->at("range").type, ValueType::kRanges);
  EXPECT_EQ(a->at("range").toString(), "[1-5]");
  EXPECT_EQ(a->at("tags").type, ValueType::kSet);
  EXPECT_EQ(a->at("tags").toString(), "{x,y}");
  EXPECT_EQ(a->at("ip").type, ValueType::kText);  // not a plain number
  EXPECT_DOUBLE_EQ(a->at("neg").scalar, -1.5);
  EXPECT_EQ(attributesToString(*a),
            "ip:10.0.0.1;level:3;neg:-1.5;rack:a;range:[1-5];tags:{x,y};zone:z1");
}

TEST(ParseAttributes, EmptyIsNoAttributes) {
  auto a = parseAttributes("");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->empty());
  auto b = parseAttributes(" ; ");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->empty());
}

class ParseAttributesErrors : public ::testing::TestWithParam<BadResources> {};

TEST_P(ParseAttributesErrors, NamesPositionAndReason) {
  auto r = parseAttributes(GetParam().text);
  ASSERT_FALSE(r.ok()) << GetParam().text;
  EXPECT_EQ(r.error().message, GetParam().message);
  EXPECT_EQ(r.error().path, "attributes");
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseAttributesErrors,
    ::testing::Values(
        BadResources{"rack", "attributes: position 4: expected ':' after name \"rack\""},
        BadResources{"rack:", "attributes: position 5: expected a value for \"rack\""},
        BadResources{"rack:a;rack:b", "attributes: position 7: attribute \"rack\" is given twice"},
        BadResources{"rack:a b",
                     "attributes: position 7: expected ';' after the value of \"rack\", found 'b'"},
        BadResources{"rack:a,b",
                     "attributes: position 6: invalid character ',' in the value of "
                     "\"rack\""},
        BadResources{"r:[3-1]", "attributes: position 3: range 3-1 of \"r\" ends before it begins"},
        BadResources{"=x", "attributes: position 0: expected an attribute name, found '='"}));

TEST(ParseAttributes, HugeScalarIsOutOfRange) {
  std::string digits = "1" + std::string(400, '0');
  auto r = parseAttributes("n:" + digits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "attributes: position 2: number " + digits + " is out of range");
  auto text = parseAttributes("n:1e999");  // not a plain number: text
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->at("n").type, ValueType::kText);
}

}  // namespace
}  // namespace corral::conf
