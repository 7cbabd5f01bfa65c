#include "dns/resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "tests/dns/test_util.h"
#include "tests/dns/zone_fixture.h"

namespace corral::dns {
namespace {

using testing::ipv4;
using testing::PacketBuilder;
using testing::recordName;
using testing::srvPort;
using testing::srvTarget;

struct Response {
  AnswerResult result;
  std::vector<uint8_t> bytes;
  Message message;
  bool parsed = false;
};

Response send(const Zone& zone, const std::vector<uint8_t>& query,
              Transport transport = Transport::kUdp, AnswerOptions options = {}) {
  Response r;
  std::vector<uint8_t> out(kMaxMessageSize);
  r.result = answer(zone, query, transport, options, out);
  r.bytes.assign(out.begin(), out.begin() + static_cast<long>(r.result.size));
  r.parsed = parseMessage(r.bytes, r.message);
  return r;
}

Response ask(const Zone& zone, std::string_view name, uint16_t type, int edns = -1,
             Transport transport = Transport::kUdp, AnswerOptions options = {}) {
  return send(zone, buildQuery(0xBEEF, name, type, true, edns), transport, options);
}

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto z = buildZone(testing::demoInput());
    ASSERT_TRUE(z.ok());
    zone_ = *z;
  }
  const Zone& zone() const { return *zone_; }
  std::shared_ptr<const Zone> zone_;
};

std::shared_ptr<const Zone> zoneWithBigApp(const std::string& appId, int tasks, uint32_t ttl = 5) {
  ZoneInput in = testing::demoInput();
  in.options.ttl = ttl;
  AppInfo app;
  app.appId = appId;
  for (int i = 0; i < tasks; ++i) {
    auto t = testing::task(appId.substr(1) + "." + std::to_string(i), "c0ffee-S1",
                           {{static_cast<uint16_t>(20000 + i), "", "tcp"}});
    t.ip = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    app.tasks.push_back(t);
  }
  in.apps.push_back(app);
  auto z = buildZone(in);
  return z.ok() ? *z : nullptr;
}

TEST_F(ResolverTest, AuthoritativeAnswerWithHeaderBits) {
  Response r = ask(zone(), "web-shop.marathon.mesos", kTypeA);
  ASSERT_TRUE(r.parsed);
  EXPECT_EQ(r.result.disposition, Disposition::kRespond);
  const Header& h = r.message.header;
  EXPECT_EQ(h.id, 0xBEEF);
  EXPECT_TRUE(h.has(kFlagQr));
  EXPECT_TRUE(h.has(kFlagAa));
  EXPECT_TRUE(h.has(kFlagRd));
  EXPECT_FALSE(h.has(kFlagRa));
  EXPECT_FALSE(h.has(kFlagTc));
  EXPECT_EQ(h.rcode(), kRcodeNoError);
  ASSERT_EQ(r.message.answers.size(), 2u);
  std::set<std::string> ips;
  for (const Record& a : r.message.answers) {
    EXPECT_EQ(a.type, kTypeA);
    EXPECT_EQ(a.ttl, 5u);
    EXPECT_EQ(recordName(a), "web-shop.marathon.mesos");
    ips.insert(ipv4(r.bytes, a));
  }
  EXPECT_EQ(ips, (std::set<std::string>{"10.0.1.1", "10.0.1.2"}));
  EXPECT_TRUE(r.message.authority.empty());
  // Owner names point at the question.
  size_t firstAnswer = kHeaderSize + 25 + 4;
  EXPECT_EQ(testing::readU16At(r.bytes, firstAnswer), 0xC00C);
}

TEST_F(ResolverTest, RecursionBitsFollowTheQueryAndForwarding) {
  auto noRd = buildQuery(1, "web-shop.marathon.mesos", kTypeA, false);
  Response r = send(zone(), noRd);
  EXPECT_FALSE(r.message.header.has(kFlagRd));
  AnswerOptions fwd;
  fwd.forwarding = true;
  Response withRa = send(zone(), noRd, Transport::kUdp, fwd);
  EXPECT_TRUE(withRa.message.header.has(kFlagRa));
  // CD is copied too.
  auto cd = buildQuery(1, "web-shop.marathon.mesos", kTypeA, true);
  cd[3] |= kFlagCd;
  EXPECT_TRUE(send(zone(), cd).message.header.has(kFlagCd));
}

TEST_F(ResolverTest, QuestionCaseIsEchoedAndLookupIsCaseInsensitive) {
  Response r = ask(zone(), "WeB-ShoP.MARATHON.mesos", kTypeA);
  ASSERT_TRUE(r.parsed);
  ASSERT_EQ(r.message.questions.size(), 1u);
  EXPECT_EQ(recordName(r.message.questions[0]), "WeB-ShoP.MARATHON.mesos");
  EXPECT_EQ(r.message.answers.size(), 2u);
  EXPECT_EQ(recordName(r.message.answers[0]), "WeB-ShoP.MARATHON.mesos");
}

TEST_F(ResolverTest, TtlIsConfigurable) {
  auto z = zoneWithBigApp("/big", 1, 30);
  Response r = ask(*z, "big.marathon.mesos", kTypeA);
  ASSERT_EQ(r.message.answers.size(), 1u);
  EXPECT_EQ(r.message.answers[0].ttl, 30u);
}

TEST_F(ResolverTest, SrvCarriesTargetAddressesInAdditional) {
  Response r = ask(zone(), "_web-shop._tcp.marathon.mesos", kTypeSrv, 1232);
  ASSERT_TRUE(r.parsed);
  ASSERT_EQ(r.message.answers.size(), 2u);
  std::set<std::string> targets;
  for (const Record& a : r.message.answers) {
    EXPECT_EQ(a.type, kTypeSrv);
    targets.insert(srvTarget(r.bytes, a) + ":" + std::to_string(srvPort(r.bytes, a)));
  }
  EXPECT_EQ(targets.size(), 2u);
  // A records for both targets, then the OPT.
  ASSERT_EQ(r.message.additional.size(), 3u);
  std::set<std::string> glue;
  for (const Record& a : r.message.additional) {
    if (a.type == kTypeA) glue.insert(recordName(a) + "=" + ipv4(r.bytes, a));
  }
  ASSERT_EQ(glue.size(), 2u);
  for (const std::string& g : glue) {
    EXPECT_THAT(g, ::testing::AnyOf(::testing::EndsWith("-s1.marathon.mesos=10.0.1.1"),
                                    ::testing::EndsWith("-s2.marathon.mesos=10.0.1.2")));
  }
  EXPECT_EQ(r.message.additional.back().type, kTypeOpt);
}

TEST_F(ResolverTest, SrvTargetsAreNotCompressedButAdditionalOwnersPointAtThem) {
  Response r = ask(zone(), "_web-shop._udp.marathon.mesos", kTypeSrv);
  ASSERT_EQ(r.message.answers.size(), 1u);
  const Record& srv = r.message.answers[0];
  size_t target = srv.rdataOffset + 6;
  EXPECT_LT(r.bytes[target], 64);                               // a label, not a pointer
  EXPECT_EQ(srv.rdataLength, 6u + 1 + 17 + 1 + 8 + 1 + 5 + 1);  // web-shop-xxxxx-s1.marathon.mesos
  ASSERT_EQ(r.message.additional.size(), 1u);
  size_t owner = srv.rdataOffset + srv.rdataLength;
  EXPECT_EQ(testing::readU16At(r.bytes, owner), 0xC000 | target);
}

TEST_F(ResolverTest, SrvWithAAAATargets) {
  Response r = ask(zone(), "_v6._tcp.marathon.mesos", kTypeSrv);
  ASSERT_EQ(r.message.answers.size(), 1u);
  std::multiset<uint16_t> types;
  for (const Record& a : r.message.additional) types.insert(a.type);
  EXPECT_EQ(types, (std::multiset<uint16_t>{kTypeA, kTypeAaaa}));
}

TEST_F(ResolverTest, NxdomainCarriesSoaWithNegativeTtl) {
  Response r = ask(zone(), "nope.marathon.mesos", kTypeA);
  ASSERT_TRUE(r.parsed);
  EXPECT_EQ(r.message.header.rcode(), kRcodeNxDomain);
  EXPECT_TRUE(r.message.header.has(kFlagAa));
  EXPECT_TRUE(r.message.answers.empty());
  ASSERT_EQ(r.message.authority.size(), 1u);
  const Record& soa = r.message.authority[0];
  EXPECT_EQ(soa.type, kTypeSoa);
  EXPECT_EQ(recordName(soa), "mesos");
  EXPECT_EQ(soa.ttl, 5u);  // min(TTL 5, minimum 60)
  // mname and rname decode (they are compressed against the question).
  size_t off = soa.rdataOffset;
  WireName mname, rname;
  ASSERT_TRUE(readName(r.bytes, off, mname));
  ASSERT_TRUE(readName(r.bytes, off, rname));
  EXPECT_EQ(nameToText(mname.view()), "ns1.mesos");
  EXPECT_EQ(nameToText(rname.view()), "root.ns1.mesos");
  EXPECT_EQ(off + 20, soa.rdataOffset + soa.rdataLength);
  EXPECT_EQ(testing::readU16At(r.bytes, off), 0u);
  EXPECT_EQ(testing::readU16At(r.bytes, off + 2), 42u);  // serial
}

TEST_F(ResolverTest, NegativeTtlIsTheSoaMinimumWhenSmaller) {
  ZoneInput in = testing::demoInput();
  in.options.ttl = 30;
  in.options.soa.minimum = 7;
  auto z = buildZone(in);
  ASSERT_TRUE(z.ok());
  Response r = ask(**z, "nope.mesos", kTypeA);
  ASSERT_EQ(r.message.authority.size(), 1u);
  EXPECT_EQ(r.message.authority[0].ttl, 7u);
  Response soa = ask(**z, "mesos", kTypeSoa);
  ASSERT_EQ(soa.message.answers.size(), 1u);
  EXPECT_EQ(soa.message.answers[0].ttl, 30u);
}

TEST_F(ResolverTest, NodataForEveryMissingType) {
  for (uint16_t type : {kTypeAaaa, kTypeSrv, kTypeTxt, kTypeMx, kTypeCname, kTypePtr}) {
    Response r = ask(zone(), "web-shop.marathon.mesos", type);
    EXPECT_EQ(r.message.header.rcode(), kRcodeNoError) << type;
    EXPECT_TRUE(r.message.answers.empty()) << type;
    ASSERT_EQ(r.message.authority.size(), 1u) << type;
    EXPECT_EQ(r.message.authority[0].type, kTypeSoa);
  }
  Response srvOnA = ask(zone(), "_web-shop._tcp.marathon.mesos", kTypeA);
  EXPECT_EQ(srvOnA.message.header.rcode(), kRcodeNoError);
  EXPECT_TRUE(srvOnA.message.answers.empty());
}

TEST_F(ResolverTest, EmptyNonTerminalsAreNodataAndBelowMissingNamesIsNxdomain) {
  for (const char* ent :
       {"_tcp.marathon.mesos", "marathon.slave.mesos", "_tcp.mesos", "_tcp.marathon.slave.mesos"}) {
    for (uint16_t type : {kTypeA, kTypeSrv, kTypeAny}) {
      Response r = ask(zone(), ent, type);
      EXPECT_EQ(r.message.header.rcode(), kRcodeNoError) << ent << " " << type;
      EXPECT_TRUE(r.message.answers.empty());
      EXPECT_EQ(r.message.authority.size(), 1u);
    }
  }
  // RFC 8020: nothing exists below a name that does not exist.
  for (const char* missing : {"_nope._tcp.marathon.mesos", "x._nope._tcp.marathon.mesos",
                              "a.b.c.nope.mesos", "_web-shop._sctp.marathon.mesos"}) {
    Response r = ask(zone(), missing, kTypeSrv);
    EXPECT_EQ(r.message.header.rcode(), kRcodeNxDomain) << missing;
    EXPECT_EQ(r.message.authority.size(), 1u);
  }
}

TEST_F(ResolverTest, ApexSoaAndNsInTheAnswerSection) {
  Response soa = ask(zone(), "mesos", kTypeSoa);
  ASSERT_EQ(soa.message.answers.size(), 1u);
  EXPECT_EQ(soa.message.answers[0].type, kTypeSoa);
  EXPECT_TRUE(soa.message.authority.empty());
  Response ns = ask(zone(), "MESOS", kTypeNs);
  ASSERT_EQ(ns.message.answers.size(), 1u);
  size_t off = ns.message.answers[0].rdataOffset;
  WireName target;
  ASSERT_TRUE(readName(ns.bytes, off, target));
  EXPECT_EQ(nameToText(target.view()), "ns1.MESOS");  // compressed against the question
  ASSERT_EQ(ns.message.additional.size(), 1u);
  EXPECT_EQ(ipv4(ns.bytes, ns.message.additional[0]), "10.0.0.53");
  EXPECT_EQ(ask(zone(), "ns1.mesos", kTypeA).message.answers.size(), 1u);
}

TEST_F(ResolverTest, AnyIsAnsweredWithOneRrset) {
  Response r = ask(zone(), "v6.marathon.mesos", kTypeAny);
  EXPECT_EQ(r.message.header.rcode(), kRcodeNoError);
  ASSERT_FALSE(r.message.answers.empty());
  std::set<uint16_t> types;
  for (const Record& a : r.message.answers) types.insert(a.type);
  EXPECT_EQ(types.size(), 1u);
  Response apex = ask(zone(), "mesos", kTypeAny);
  EXPECT_EQ(apex.message.answers.size(), 1u);
  EXPECT_EQ(ask(zone(), "nope.mesos", kTypeAny).message.header.rcode(), kRcodeNxDomain);
}

TEST_F(ResolverTest, EdnsOptIsEchoed) {
  auto q = buildQuery(3, "web-shop.marathon.mesos", kTypeA, true, 4096, 0, true);
  Response r = send(zone(), q);
  ASSERT_TRUE(r.parsed);
  ASSERT_EQ(r.message.additional.size(), 1u);
  const Record& opt = r.message.additional[0];
  EXPECT_EQ(opt.type, kTypeOpt);
  EXPECT_EQ(recordName(opt), "");
  EXPECT_EQ(opt.rclass, 1232);  // our size, not theirs
  EXPECT_EQ(opt.ttl, 0x8000u);  // DO copied, version 0, no extended rcode
  // No OPT in, no OPT out.
  EXPECT_TRUE(ask(zone(), "web-shop.marathon.mesos", kTypeA).message.additional.empty());
  // Negative answers keep it too.
  auto nx = send(zone(), buildQuery(3, "nope.mesos", kTypeA, true, 1232));
  ASSERT_EQ(nx.message.additional.size(), 1u);
}

TEST_F(ResolverTest, BadversForEdnsVersionAboveZero) {
  auto q = buildQuery(4, "web-shop.marathon.mesos", kTypeA, true, 1232, 1);
  Response r = send(zone(), q);
  ASSERT_TRUE(r.parsed);
  EXPECT_EQ(r.result.rcode, kRcodeBadVers);
  EXPECT_EQ(r.message.header.rcode(), 0);
  EXPECT_TRUE(r.message.answers.empty());
  ASSERT_EQ(r.message.additional.size(), 1u);
  EXPECT_EQ(r.message.additional[0].ttl >> 24, 1u);  // 16 >> 4
  EXPECT_EQ((r.message.additional[0].ttl >> 16) & 0xFF, 0u);
}

TEST_F(ResolverTest, TruncationOnlyWhenTheAnswerDoesNotFit) {
  auto z = zoneWithBigApp("/big", 100);
  ASSERT_TRUE(z);
  // Plain UDP: 512.
  Response plain = ask(*z, "big.marathon.mesos", kTypeA);
  EXPECT_TRUE(plain.message.header.has(kFlagTc));
  EXPECT_TRUE(plain.result.truncated);
  EXPECT_TRUE(plain.message.answers.empty());
  EXPECT_LE(plain.bytes.size(), 512u);
  EXPECT_EQ(plain.message.questions.size(), 1u);
  // EDNS 4096 is capped at our 1232: 100 x 16 octets still does not fit.
  Response edns = ask(*z, "big.marathon.mesos", kTypeA, 4096);
  EXPECT_TRUE(edns.message.header.has(kFlagTc));
  EXPECT_LE(edns.bytes.size(), 1232u);
  ASSERT_EQ(edns.message.additional.size(), 1u);  // the OPT survives truncation
  // TCP carries everything.
  Response tcp = ask(*z, "big.marathon.mesos", kTypeA, -1, Transport::kTcp);
  EXPECT_FALSE(tcp.message.header.has(kFlagTc));
  EXPECT_EQ(tcp.message.answers.size(), 100u);
  // A bigger configured size lets it through UDP.
  AnswerOptions large;
  large.maxUdpSize = 4096;
  Response big = ask(*z, "big.marathon.mesos", kTypeA, 4096, Transport::kUdp, large);
  EXPECT_FALSE(big.message.header.has(kFlagTc));
  EXPECT_EQ(big.message.answers.size(), 100u);
}

TEST_F(ResolverTest, OptRecordCountsTowardsTheSize) {
  // 74 A records for a 22-octet name: 12 + 26 + 74 * 16 = 1222 fits in 1232
  // alone, but not with the 11-octet OPT.
  auto z = zoneWithBigApp("/bigxy", 74);
  ASSERT_TRUE(z);
  Response withOpt = ask(*z, "bigxy.marathon.mesos", kTypeA, 1232);
  EXPECT_TRUE(withOpt.message.header.has(kFlagTc));
  EXPECT_LE(withOpt.bytes.size(), 1232u);
  auto z73 = zoneWithBigApp("/bigxy", 73);
  Response fits = ask(*z73, "bigxy.marathon.mesos", kTypeA, 1232);
  EXPECT_FALSE(fits.message.header.has(kFlagTc));
  EXPECT_EQ(fits.message.answers.size(), 73u);
  EXPECT_EQ(fits.bytes.size(), 12u + 26 + 73 * 16 + 11);
}

TEST_F(ResolverTest, SmallEdnsSizesMeanFiveTwelve) {
  auto z = zoneWithBigApp("/big", 20);
  Response r = ask(*z, "big.marathon.mesos", kTypeA, 100);
  EXPECT_FALSE(r.message.header.has(kFlagTc));
  EXPECT_EQ(r.message.answers.size(), 20u);
  EXPECT_GT(r.bytes.size(), 100u);
  EXPECT_LE(r.bytes.size(), 512u);
}

TEST_F(ResolverTest, AdditionalThatDoesNotFitIsDroppedWithoutTc) {
  // 8 SRV records of 47 octets fit in 512, their 8 A records do not all.
  auto z = zoneWithBigApp("/big", 8);
  Response r = ask(*z, "_big._tcp.marathon.mesos", kTypeSrv);
  ASSERT_TRUE(r.parsed);
  EXPECT_FALSE(r.message.header.has(kFlagTc));
  EXPECT_EQ(r.message.answers.size(), 8u);
  EXPECT_LE(r.bytes.size(), 512u);
  EXPECT_GT(r.message.additional.size(), 0u);
  EXPECT_LT(r.message.additional.size(), 8u);
  // Over TCP all of it.
  Response tcp = ask(*z, "_big._tcp.marathon.mesos", kTypeSrv, -1, Transport::kTcp);
  EXPECT_EQ(tcp.message.answers.size(), 8u);
  EXPECT_EQ(tcp.message.additional.size(), 8u);
}

TEST_F(ResolverTest, RecordsAreRotatedPerResponse) {
  auto z = zoneWithBigApp("/big", 5);
  std::set<std::string> firsts;
  for (int i = 0; i < 100; ++i) {
    Response r = ask(*z, "big.marathon.mesos", kTypeA);
    ASSERT_EQ(r.message.answers.size(), 5u);
    std::set<std::string> all;
    for (const Record& a : r.message.answers) all.insert(ipv4(r.bytes, a));
    EXPECT_EQ(all.size(), 5u);
    firsts.insert(ipv4(r.bytes, r.message.answers[0]));
  }
  EXPECT_GE(firsts.size(), 3u);
}

TEST_F(ResolverTest, NotimpForOtherOpcodes) {
  for (uint16_t opcode : {1, 2, 4, 5, 15}) {
    auto q = PacketBuilder().header(9, opcode << 11, 1).question("mesos", kTypeSoa).bytes;
    Response r = send(zone(), q);
    ASSERT_TRUE(r.parsed);
    EXPECT_EQ(r.message.header.rcode(), kRcodeNotImp);
    EXPECT_EQ(r.message.header.opcode(), opcode);
    EXPECT_FALSE(r.message.header.has(kFlagAa));
    EXPECT_EQ(r.message.questions.size(), 1u);
  }
}

TEST_F(ResolverTest, FormerrForMalformedQueries) {
  std::vector<std::vector<uint8_t>> bad = {
      PacketBuilder().header(7, kFlagRd, 0).bytes,
      PacketBuilder().header(7, kFlagRd, 2).question("a.mesos", 1).question("b.mesos", 1).bytes,
      PacketBuilder().header(7, kFlagRd, 1).pointer(12).u16(1).u16(1).bytes,
      PacketBuilder().header(7, kFlagRd, 1, 0, 0, 4).question("a.mesos", 1).bytes,
      PacketBuilder().header(7, kFlagRd, 1).u8(70).bytes,
  };
  for (const auto& q : bad) {
    Response r = send(zone(), q);
    ASSERT_TRUE(r.parsed);
    EXPECT_EQ(r.message.header.id, 7);
    EXPECT_EQ(r.message.header.rcode(), kRcodeFormErr);
    EXPECT_TRUE(r.message.header.has(kFlagRd));
    EXPECT_TRUE(r.message.answers.empty());
  }
  // A question for type OPT is malformed too.
  EXPECT_EQ(ask(zone(), "mesos", kTypeOpt).message.header.rcode(), kRcodeFormErr);
}

TEST_F(ResolverTest, ResponsesAndRuntsAreDropped) {
  auto resp = PacketBuilder().header(7, kFlagQr, 1).question("mesos", kTypeA).bytes;
  EXPECT_EQ(send(zone(), resp).result.disposition, Disposition::kDrop);
  EXPECT_EQ(send(zone(), std::vector<uint8_t>(5, 0)).result.disposition, Disposition::kDrop);
}

TEST_F(ResolverTest, OtherNamesAreNotOurs) {
  for (const char* name : {"example.com", "xmesos", "mesos.example", "com", ""}) {
    Response r = ask(zone(), name, kTypeA);
    EXPECT_EQ(r.result.disposition, Disposition::kNotOurs) << name;
    EXPECT_TRUE(r.result.recursionDesired);
    EXPECT_EQ(r.message.header.rcode(), kRcodeRefused);
    EXPECT_FALSE(r.message.header.has(kFlagAa));
    EXPECT_EQ(r.message.questions.size(), 1u);
  }
}

TEST_F(ResolverTest, OtherClassesAndZoneTransfersAreRefused) {
  auto chaos = PacketBuilder().header(1, 0, 1).question("version.bind", kTypeTxt, kClassCh).bytes;
  Response r = send(zone(), chaos);
  EXPECT_EQ(r.result.disposition, Disposition::kRespond);
  EXPECT_EQ(r.message.header.rcode(), kRcodeRefused);
  EXPECT_EQ(ask(zone(), "mesos", kTypeAxfr, -1, Transport::kTcp).message.header.rcode(),
            kRcodeRefused);
  auto anyClass = PacketBuilder().header(1, 0, 1).question("leader.mesos", kTypeA, kClassAny).bytes;
  EXPECT_EQ(send(zone(), anyClass).message.answers.size(), 1u);
}

TEST(EmptyResponse, ServfailAndTruncatedKeepTheQuestionAndOpt) {
  auto q = buildQuery(77, "example.com", kTypeA, true, 1232);
  std::vector<uint8_t> out(512);
  size_t n = writeEmptyResponse(q, kRcodeServFail, false, Transport::kUdp, {}, out);
  out.resize(n);
  Message m;
  ASSERT_TRUE(parseMessage(out, m));
  EXPECT_EQ(m.header.id, 77);
  EXPECT_EQ(m.header.rcode(), kRcodeServFail);
  EXPECT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.additional.size(), 1u);
  std::vector<uint8_t> out2(512);
  n = writeEmptyResponse(q, kRcodeNoError, true, Transport::kUdp, {}, out2);
  out2.resize(n);
  ASSERT_TRUE(parseMessage(out2, m));
  EXPECT_TRUE(m.header.has(kFlagTc));
  EXPECT_EQ(
      writeEmptyResponse(std::vector<uint8_t>(3), kRcodeServFail, false, Transport::kUdp, {}, out2),
      0u);
}

}  // namespace
}  // namespace corral::dns
