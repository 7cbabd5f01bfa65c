#include "dns/naming.h"

#include <gtest/gtest.h>

namespace corral::dns {
namespace {

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xF]);
  }
  return out;
}

struct LabelCase {
  const char* raw;
  bool rfc952;
  const char* want;
};

TEST(Naming, SanitizesLabels) {
  const LabelCase cases[] = {
      {"web", false, "web"},       {"Web", false, "web"},     {"my_app.v2", false, "my-app-v2"},
      {"a b!c@d", false, "abcd"},  {"--web--", false, "web"}, {"_web_", false, "web"},
      {"9lives", false, "9lives"}, {"9lives", true, "lives"}, {"-1-2-abc", true, "abc"},
      {"üñí-côdé", false, "cd"},   {"", false, ""},           {"!!!", false, ""},
      {"...", false, ""},
  };
  for (const LabelCase& c : cases) {
    EXPECT_EQ(sanitizeLabel(c.raw, c.rfc952), c.want) << c.raw << " rfc952=" << c.rfc952;
  }
}

TEST(Naming, LabelsAreCutAt63Or24AndNeverEndWithADash) {
  std::string longName(100, 'a');
  EXPECT_EQ(sanitizeLabel(longName, false).size(), 63u);
  EXPECT_EQ(sanitizeLabel(longName, true).size(), 24u);
  EXPECT_EQ(sanitizeLabel(longName, false, 62).size(), 62u);
  std::string dashAtCut = std::string(62, 'a') + "-b";
  EXPECT_EQ(sanitizeLabel(dashAtCut, false), std::string(62, 'a'));
}

TEST(Naming, AppIdsBecomeReversedLabels) {
  EXPECT_EQ(appLabel("/web", false), "web");
  EXPECT_EQ(appLabel("/shop/web", false), "web-shop");
  EXPECT_EQ(appLabel("/prod/shop/Web_Front", false), "web-front-shop-prod");
  EXPECT_EQ(appLabel("web", false), "web");
  EXPECT_EQ(appLabel("//a//b/", false), "b-a");
  EXPECT_EQ(appLabel("/", false), "");
  EXPECT_EQ(appLabel("/1st/2nd", true), "nd-1st");
}

TEST(Naming, DomainFragmentsKeepDots) {
  EXPECT_EQ(sanitizeDomainFragment("marathon", false), "marathon");
  EXPECT_EQ(sanitizeDomainFragment("Marathon.User_1", false), "marathon.user-1");
  EXPECT_EQ(sanitizeDomainFragment("a..b", false), "a.b");
  EXPECT_EQ(sanitizeDomainFragment("!!", false), "");
}

TEST(Naming, Sha1MatchesFips180Vectors) {
  EXPECT_EQ(hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(hex(sha1(std::string(1000000, 'a'))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Naming, Zbase32MatchesTheSpecExample) {
  EXPECT_EQ(zbase32(std::string("\xF0\xBF\xC7", 3)), "6n9hq");
  EXPECT_EQ(zbase32(std::string("\xD4\x7A\x04", 3)), "4t7ye");
  EXPECT_EQ(zbase32(""), "");
}

TEST(Naming, TaskHashIsFiveZbase32CharactersOfSha1) {
  EXPECT_EQ(taskIdHash("shop_web.1f2e3d4c-0000-11ee-8000-000000000001"), "yzyyc");
  EXPECT_EQ(taskIdHash("nginx.1"), "yftu6");
}

TEST(Naming, AgentIdTail) {
  EXPECT_EQ(agentIdTail("20150806-213000-1234-5050-S3"), "s3");
  EXPECT_EQ(agentIdTail("agent1"), "agent1");
  EXPECT_EQ(agentIdTail("x-"), "");
}

}  // namespace
}  // namespace corral::dns
