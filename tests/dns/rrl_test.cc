// The response rate limiter alone: rate, slip pattern, prefix grouping,
// window, kinds of answer and the bounded table.
#include "dns/rrl.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include <gtest/gtest.h>

#include "dns/metrics.h"

namespace corral::dns {
namespace {

sockaddr_storage v4(const char* ip) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, ip, &in->sin_addr), 1) << ip;
  return ss;
}

sockaddr_storage v6(const char* ip) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in6*>(&ss);
  in->sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, ip, &in->sin6_addr), 1) << ip;
  return ss;
}

const sockaddr* sa(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

RrlConfig config(uint32_t rate, uint32_t slip, uint32_t window = 1) {
  RrlConfig c;
  c.ratePerSecond = rate;
  c.slip = slip;
  c.windowSeconds = window;
  return c;
}

// Answers sent out of `n` checks of one source at one instant.
int sentOf(ResponseRateLimiter& l, const sockaddr_storage& src, int n, uint64_t now,
           RrlCategory category = RrlCategory::kAnswer) {
  int sent = 0;
  for (int i = 0; i < n; ++i) sent += l.check(sa(src), category, now) == RrlAction::kSend;
  return sent;
}

TEST(RrlTest, OffSendsEverything) {
  ResponseRateLimiter l(config(0, 2), 1);
  EXPECT_FALSE(l.enabled());
  EXPECT_EQ(l.tableSize(), 0u);  // no table when off
  EXPECT_EQ(sentOf(l, v4("192.0.2.1"), 10000, 1000), 10000);
}

TEST(RrlTest, SendsTheRatePerSecondThenLimits) {
  ResponseRateLimiter l(config(10, 0), 1);
  auto src = v4("192.0.2.1");
  EXPECT_EQ(sentOf(l, src, 100, 5000), 10);
  // Half a second refills half the rate (the balance was in debt by at most one window).
  ResponseRateLimiter m(config(10, 0), 1);
  EXPECT_EQ(sentOf(m, src, 10, 5000), 10);
  EXPECT_EQ(sentOf(m, src, 10, 5500), 5);
  EXPECT_EQ(sentOf(m, src, 11, 7500), 10);  // two seconds later: one second's worth, no more
}

TEST(RrlTest, SlipSendsEveryNthLimitedAnswerTruncated) {
  for (uint32_t slip : {1u, 2u, 3u}) {
    ResponseRateLimiter l(config(5, slip), 7);
    auto src = v4("198.51.100.9");
    EXPECT_EQ(sentOf(l, src, 5, 1000), 5);
    std::string pattern;
    for (int i = 0; i < 6; ++i) {
      RrlAction a = l.check(sa(src), RrlCategory::kAnswer, 1000);
      pattern += a == RrlAction::kSlip ? 'S' : a == RrlAction::kDrop ? 'D' : '+';
    }
    std::string want = slip == 1 ? "SSSSSS" : slip == 2 ? "DSDSDS" : "DDSDDS";
    EXPECT_EQ(pattern, want) << "slip " << slip;
  }
  ResponseRateLimiter drop(config(5, 0), 7);
  auto src = v4("198.51.100.9");
  sentOf(drop, src, 5, 1000);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(drop.check(sa(src), RrlCategory::kAnswer, 1000), RrlAction::kDrop);
  }
}

TEST(RrlTest, GroupsSourcesByPrefix) {
  ResponseRateLimiter l(config(10, 0), 3);
  // One /24 shares one budget...
  EXPECT_EQ(sentOf(l, v4("203.0.113.1"), 10, 1000), 10);
  EXPECT_EQ(sentOf(l, v4("203.0.113.200"), 10, 1000), 0);
  // ...another /24 has its own (a collision in 65536 buckets is all but
  // impossible for these few keys with any seed; see the table test).
  EXPECT_EQ(sentOf(l, v4("203.0.114.1"), 10, 1000), 10);
  // IPv6: one /56.
  EXPECT_EQ(sentOf(l, v6("2001:db8:0:1200::1"), 10, 1000), 10);
  EXPECT_EQ(sentOf(l, v6("2001:db8:0:12ff:ffff::2"), 10, 1000), 0);
  EXPECT_EQ(sentOf(l, v6("2001:db8:0:1300::1"), 10, 1000), 10);
}

TEST(RrlTest, PrefixLengthsAreConfigurable) {
  RrlConfig c = config(10, 0);
  c.ipv4PrefixLength = 32;
  c.ipv6PrefixLength = 128;
  ResponseRateLimiter l(c, 3);
  EXPECT_EQ(sentOf(l, v4("203.0.113.1"), 10, 1000), 10);
  EXPECT_EQ(sentOf(l, v4("203.0.113.2"), 10, 1000), 10);
  EXPECT_EQ(sentOf(l, v6("2001:db8::1"), 10, 1000), 10);
  EXPECT_EQ(sentOf(l, v6("2001:db8::2"), 10, 1000), 10);
}

TEST(RrlTest, KindsOfAnswerHaveTheirOwnBudget) {
  ResponseRateLimiter l(config(10, 0), 5);
  auto src = v4("192.0.2.50");
  EXPECT_EQ(sentOf(l, src, 20, 1000, RrlCategory::kNxDomain), 10);
  EXPECT_EQ(sentOf(l, src, 20, 1000, RrlCategory::kAnswer), 10);
  EXPECT_EQ(categoryOf(0), RrlCategory::kAnswer);
  EXPECT_EQ(categoryOf(3), RrlCategory::kNxDomain);
  EXPECT_EQ(categoryOf(2), RrlCategory::kError);
  EXPECT_EQ(categoryOf(5), RrlCategory::kError);
  EXPECT_EQ(toString(RrlCategory::kNxDomain), "nxdomain");
}

TEST(RrlTest, WindowIsHowLongAFloodIsRemembered) {
  auto src = v4("192.0.2.77");
  for (uint32_t window : {1u, 4u}) {
    ResponseRateLimiter l(config(10, 0, window), 9);
    // A flood of 1000 in one instant sinks the balance to -rate*window.
    EXPECT_EQ(sentOf(l, src, 1000, 10000), 10);
    // It is paid back at `rate` per second: nothing until `window` seconds passed.
    uint64_t quiet = 10000 + window * 1000 - 100;
    EXPECT_EQ(l.check(sa(src), RrlCategory::kAnswer, quiet), RrlAction::kDrop) << window;
    EXPECT_EQ(l.check(sa(src), RrlCategory::kAnswer, quiet + 1500), RrlAction::kSend) << window;
  }
}

TEST(RrlTest, TableIsBoundedAndCollisionsShareABucket) {
  RrlConfig c = config(10, 0);
  c.tableSize = 1;  // every source in one bucket
  ResponseRateLimiter l(c, 11);
  EXPECT_EQ(l.tableSize(), 1u);
  EXPECT_EQ(sentOf(l, v4("10.0.0.1"), 10, 1000), 10);
  EXPECT_EQ(sentOf(l, v4("10.9.0.1"), 10, 1000), 0);  // a different /24, the same bucket
  EXPECT_EQ(sentOf(l, v6("2001:db8::1"), 10, 1000), 0);

  RrlConfig big = config(1000000, 0);
  big.tableSize = 4096;
  ResponseRateLimiter many(big, 11);
  // A million distinct prefixes: the table does not grow.
  for (uint32_t i = 0; i < 1000000; ++i) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(i << 8);
    many.check(reinterpret_cast<const sockaddr*>(&in), RrlCategory::kAnswer, 1000);
  }
  EXPECT_EQ(many.tableSize(), 4096u);
}

TEST(RrlTest, UnknownFamiliesAreNotLimited) {
  ResponseRateLimiter l(config(1, 0), 1);
  sockaddr_storage ss{};
  ss.ss_family = AF_UNIX;
  EXPECT_EQ(sentOf(l, ss, 100, 1000), 100);
}

TEST(RrlTest, MetricsCountDropsAndSlipsByCategory) {
  DnsMetrics m;
  m.countRateLimited(RrlAction::kDrop, RrlCategory::kAnswer);
  m.countRateLimited(RrlAction::kDrop, RrlCategory::kAnswer);
  m.countRateLimited(RrlAction::kSlip, RrlCategory::kNxDomain);
  EXPECT_EQ(m.rateLimited(RrlAction::kDrop, RrlCategory::kAnswer), 2u);
  EXPECT_EQ(m.rateLimited(RrlAction::kSlip, RrlCategory::kNxDomain), 1u);
  DnsMetrics sum;
  sum.mergeFrom(m);
  std::string text = sum.prometheusText();
  EXPECT_NE(text.find("corral_dns_rrl_dropped_total{category=\"answer\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("corral_dns_rrl_slipped_total{category=\"nxdomain\"} 1"), std::string::npos);
  EXPECT_NE(text.find("# TYPE corral_dns_rrl_slipped_total counter"), std::string::npos);
}

}  // namespace
}  // namespace corral::dns
