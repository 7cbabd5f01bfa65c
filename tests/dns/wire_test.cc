#include "dns/wire.h"

#include <gtest/gtest.h>

#include "tests/dns/test_util.h"

namespace corral::dns {
namespace {

using testing::PacketBuilder;

std::span<const uint8_t> span(const std::vector<uint8_t>& v) { return {v.data(), v.size()}; }

TEST(WireName, EncodesAndPrints) {
  WireName n;
  ASSERT_TRUE(encodeName("Web.Marathon.mesos.", n));
  EXPECT_EQ(n.length, 20);
  EXPECT_EQ(nameToText(n.view()), "Web.Marathon.mesos");
  lowerName(n);
  EXPECT_EQ(nameToText(n.view()), "web.marathon.mesos");
  EXPECT_EQ(labelCount(n.view()), 3u);
  ASSERT_TRUE(encodeName("", n));
  EXPECT_EQ(n.length, 1);
  ASSERT_TRUE(encodeName(".", n));
  EXPECT_EQ(n.length, 1);
}

TEST(WireName, RejectsBadNames) {
  WireName n;
  EXPECT_FALSE(encodeName("a..b", n));
  EXPECT_FALSE(encodeName(std::string(64, 'a') + ".mesos", n));
  EXPECT_TRUE(encodeName(std::string(63, 'a') + ".mesos", n));
  // 4 labels of 63 = 256 octets with lengths and root: too long.
  std::string l(63, 'x');
  EXPECT_FALSE(encodeName(l + "." + l + "." + l + "." + l, n));
  EXPECT_TRUE(encodeName(l + "." + l + "." + l + "." + std::string(61, 'x'), n));
  EXPECT_EQ(n.length, 255);
}

TEST(WireName, PrintsOddBytesEscaped) {
  std::vector<uint8_t> w = {3, 'a', '.', 0x01, 0};
  EXPECT_EQ(nameToText(w), "a\\046\\001");
}

TEST(ParseQuery, ReadsQuestionAndEdns) {
  auto q = buildQuery(0x1234, "Web.Marathon.Mesos", kTypeSrv, true, 4096, 0, true);
  Query out;
  ASSERT_EQ(parseQuery(span(q), out), ParseStatus::kOk);
  EXPECT_EQ(out.header.id, 0x1234);
  EXPECT_TRUE(out.header.has(kFlagRd));
  EXPECT_EQ(nameToText(out.qname.view()), "Web.Marathon.Mesos");
  EXPECT_EQ(nameToText(out.qnameLower.view()), "web.marathon.mesos");
  EXPECT_EQ(out.qtype, kTypeSrv);
  EXPECT_EQ(out.qclass, kClassIn);
  EXPECT_TRUE(out.edns.present);
  EXPECT_EQ(out.edns.udpSize, 4096);
  EXPECT_EQ(out.edns.version, 0);
  EXPECT_TRUE(out.edns.dnssecOk);
}

TEST(ParseQuery, ShortPacketsAndResponsesAreDropped) {
  Query out;
  std::vector<uint8_t> shortPacket(11, 0);
  EXPECT_EQ(parseQuery(span(shortPacket), out), ParseStatus::kTooShort);
  EXPECT_EQ(parseQuery({}, out), ParseStatus::kTooShort);
  auto q = PacketBuilder().header(1, kFlagQr, 1).question("a.mesos", kTypeA).bytes;
  EXPECT_EQ(parseQuery(span(q), out), ParseStatus::kNotQuery);
}

TEST(ParseQuery, QuestionCountMustBeOne) {
  Query out;
  auto zero = PacketBuilder().header(1, 0, 0).bytes;
  EXPECT_EQ(parseQuery(span(zero), out), ParseStatus::kMalformed);
  EXPECT_EQ(out.header.id, 1);
  auto two =
      PacketBuilder().header(2, 0, 2).question("a.mesos", kTypeA).question("b.mesos", kTypeA).bytes;
  EXPECT_EQ(parseQuery(span(two), out), ParseStatus::kMalformed);
  EXPECT_EQ(out.header.id, 2);
}

TEST(ParseQuery, EveryTruncationIsMalformed) {
  auto q = buildQuery(7, "web.marathon.mesos", kTypeA, true, 1232);
  for (size_t cut = kHeaderSize; cut < q.size(); ++cut) {
    std::vector<uint8_t> part(q.begin(), q.begin() + static_cast<long>(cut));
    Query out;
    EXPECT_EQ(parseQuery(span(part), out), ParseStatus::kMalformed) << "cut at " << cut;
  }
}

TEST(ParseQuery, CountsThatLieAreMalformed) {
  Query out;
  auto q = PacketBuilder().header(1, 0, 1, 0, 0, 3).question("a.mesos", kTypeA).bytes;
  EXPECT_EQ(parseQuery(span(q), out), ParseStatus::kMalformed);
  auto an = PacketBuilder().header(1, 0, 1, 65535, 0, 0).question("a.mesos", kTypeA).bytes;
  EXPECT_EQ(parseQuery(span(an), out), ParseStatus::kMalformed);
  // Trailing bytes beyond the counts are tolerated.
  auto extra = PacketBuilder().header(1, 0, 1).question("a.mesos", kTypeA).u32(0xdeadbeef).bytes;
  EXPECT_EQ(parseQuery(span(extra), out), ParseStatus::kOk);
}

TEST(ParseQuery, CompressionInTheQuestionCannotPointIntoTheHeader) {
  Query out;
  auto q = PacketBuilder().header(1, 0, 1).pointer(0).u16(kTypeA).u16(kClassIn).bytes;
  EXPECT_EQ(parseQuery(span(q), out), ParseStatus::kMalformed);
  auto self = PacketBuilder().header(1, 0, 1).pointer(12).u16(kTypeA).u16(kClassIn).bytes;
  EXPECT_EQ(parseQuery(span(self), out), ParseStatus::kMalformed);
}

// An additional record whose owner name is `name` bytes.
std::vector<uint8_t> withAdditionalName(const std::vector<uint8_t>& name) {
  PacketBuilder b;
  b.header(9, 0, 1, 0, 0, 1).question("a.mesos", kTypeA);
  b.bytes.insert(b.bytes.end(), name.begin(), name.end());
  b.u16(kTypeA).u16(kClassIn).u32(0).u16(0);
  return b.bytes;
}

TEST(ParseQuery, CompressionLoopsAndBadPointersAreMalformed) {
  Query out;
  // Backward pointer to the question name: fine.
  EXPECT_EQ(parseQuery(span(withAdditionalName(PacketBuilder().pointer(12).bytes)), out),
            ParseStatus::kOk);
  // Pointer to itself (header 12 + question 13 = offset 25).
  EXPECT_EQ(parseQuery(span(withAdditionalName(PacketBuilder().pointer(25).bytes)), out),
            ParseStatus::kMalformed);
  // Forward pointer.
  EXPECT_EQ(parseQuery(span(withAdditionalName(PacketBuilder().pointer(40).bytes)), out),
            ParseStatus::kMalformed);
  // Out of range.
  EXPECT_EQ(parseQuery(span(withAdditionalName(PacketBuilder().pointer(0x3FFF).bytes)), out),
            ParseStatus::kMalformed);
  // Label then a pointer back into the same name (a loop through a label).
  EXPECT_EQ(parseQuery(span(withAdditionalName(PacketBuilder().label("x").pointer(25).bytes)), out),
            ParseStatus::kMalformed);
  // Truncated pointer.
  auto cut = PacketBuilder().header(9, 0, 1, 0, 0, 1).question("a.mesos", kTypeA).u8(0xC0).bytes;
  EXPECT_EQ(parseQuery(span(cut), out), ParseStatus::kMalformed);
}

TEST(ParseQuery, ReservedLabelTypesAreMalformed) {
  Query out;
  for (uint8_t bad : {uint8_t{0x40}, uint8_t{0x80}, uint8_t{64}}) {
    auto q = PacketBuilder().header(1, 0, 1).u8(bad).u8('a').u8(0).u16(1).u16(1).bytes;
    q.resize(q.size() + 70, 'a');
    EXPECT_EQ(parseQuery(span(q), out), ParseStatus::kMalformed) << int(bad);
  }
}

TEST(ParseQuery, NamesLongerThan255AreMalformed) {
  Query out;
  // Question name of exactly 255 octets parses.
  std::string l(63, 'x');
  PacketBuilder ok;
  ok.header(1, 0, 1).label(l).label(l).label(l).label(std::string(61, 'x')).u8(0).u16(1).u16(1);
  EXPECT_EQ(parseQuery(span(ok.bytes), out), ParseStatus::kOk);
  PacketBuilder big;
  big.header(1, 0, 1).label(l).label(l).label(l).label(std::string(62, 'x')).u8(0).u16(1).u16(1);
  EXPECT_EQ(parseQuery(span(big.bytes), out), ParseStatus::kMalformed);
  // Long through compression: 200 octets in the question, 60 more before a
  // pointer to it in the additional section.
  PacketBuilder viaPointer;
  viaPointer.header(1, 0, 1, 0, 0, 1)
      .label(l)
      .label(l)
      .label(l)
      .label("abcdefghij")
      .u8(0)
      .u16(1)
      .u16(1)
      .label(std::string(60, 'y'))
      .pointer(12)
      .u16(1)
      .u16(1)
      .u32(0)
      .u16(0);
  EXPECT_EQ(parseQuery(span(viaPointer.bytes), out), ParseStatus::kMalformed);
}

TEST(ParseQuery, OptRules) {
  Query out;
  auto two = PacketBuilder()
                 .header(1, 0, 1, 0, 0, 2)
                 .question("a.mesos", kTypeA)
                 .opt(1232)
                 .opt(1232)
                 .bytes;
  EXPECT_EQ(parseQuery(span(two), out), ParseStatus::kMalformed);
  EXPECT_FALSE(out.ednsValid);
  auto named = PacketBuilder()
                   .header(1, 0, 1, 0, 0, 1)
                   .question("a.mesos", kTypeA)
                   .name("mesos")
                   .u16(kTypeOpt)
                   .u16(1232)
                   .u32(0)
                   .u16(0)
                   .bytes;
  EXPECT_EQ(parseQuery(span(named), out), ParseStatus::kMalformed);
  // An option whose length runs past the RDATA.
  auto badOption = PacketBuilder()
                       .header(1, 0, 1, 0, 0, 1)
                       .question("a.mesos", kTypeA)
                       .opt(1232, 0, 4)
                       .u16(10)
                       .u16(8)
                       .bytes;
  EXPECT_EQ(parseQuery(span(badOption), out), ParseStatus::kMalformed);
  // A well-formed cookie option.
  auto cookie = PacketBuilder()
                    .header(1, 0, 1, 0, 0, 1)
                    .question("a.mesos", kTypeA)
                    .opt(1232, 1, 12)
                    .u16(10)
                    .u16(8)
                    .u32(1)
                    .u32(2)
                    .bytes;
  ASSERT_EQ(parseQuery(span(cookie), out), ParseStatus::kOk);
  EXPECT_EQ(out.edns.version, 1);
}

TEST(ParseQuery, OtherOpcodesAreReported) {
  Query out;
  auto notify = PacketBuilder().header(5, 4 << 11, 1).question("a.mesos", kTypeSoa).bytes;
  EXPECT_EQ(parseQuery(span(notify), out), ParseStatus::kBadOpcode);
  EXPECT_TRUE(out.hasQuestion);
  EXPECT_EQ(out.header.opcode(), 4);
}

TEST(MessageWriter, CompressesSuffixesCaseInsensitively) {
  std::vector<uint8_t> buf(512);
  MessageWriter w(buf, buf.size());
  ASSERT_TRUE(w.writeHeader(Header{}));
  WireName a, b, c;
  ASSERT_TRUE(encodeName("web.Marathon.mesos", a));
  ASSERT_TRUE(encodeName("db.marathon.MESOS", b));
  ASSERT_TRUE(encodeName("marathon.mesos", c));
  ASSERT_TRUE(w.writeName(a.view()));
  size_t before = w.size();
  ASSERT_TRUE(w.writeName(b.view()));
  EXPECT_EQ(w.size() - before, 3u + 2u);  // "db" label + pointer
  before = w.size();
  ASSERT_TRUE(w.writeName(c.view()));
  EXPECT_EQ(w.size() - before, 2u);
  // Decoding gives the names back.
  size_t off = kHeaderSize;
  WireName back;
  ASSERT_TRUE(readName(w.data(), off, back));
  EXPECT_EQ(nameToText(back.view()), "web.Marathon.mesos");
  ASSERT_TRUE(readName(w.data(), off, back));
  EXPECT_EQ(nameToText(back.view()), "db.Marathon.mesos");
}

TEST(MessageWriter, FailedWritesLeaveNoTrace) {
  std::vector<uint8_t> buf(30);
  MessageWriter w(buf, 20);
  ASSERT_TRUE(w.writeHeader(Header{}));
  WireName n;
  ASSERT_TRUE(encodeName("abcdefgh.mesos", n));
  EXPECT_FALSE(w.writeName(n.view()));
  EXPECT_EQ(w.size(), kHeaderSize);
  EXPECT_FALSE(w.writeU32(1) && w.writeU32(2) && w.writeU32(3));
  w.setLimit(100);  // capped at the buffer
  EXPECT_EQ(w.limit(), 30u);
}

TEST(ParseMessage, RoundTripsAQuery) {
  auto q = buildQuery(42, "_web._tcp.marathon.mesos", kTypeSrv, false, 1232);
  Message m;
  ASSERT_TRUE(parseMessage(span(q), m));
  EXPECT_EQ(m.header.id, 42);
  EXPECT_FALSE(m.header.has(kFlagRd));
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(testing::recordName(m.questions[0]), "_web._tcp.marathon.mesos");
  ASSERT_EQ(m.additional.size(), 1u);
  EXPECT_EQ(m.additional[0].type, kTypeOpt);
  EXPECT_EQ(m.additional[0].rclass, 1232);
}

}  // namespace
}  // namespace corral::dns
