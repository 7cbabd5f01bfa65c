#include "dns/zone.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "dns/naming.h"
#include "dns/wire.h"
#include "tests/dns/zone_fixture.h"

namespace corral::dns {
namespace {

using testing::demoInput;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::shared_ptr<const Zone> build(const ZoneInput& in) {
  auto z = buildZone(in);
  EXPECT_TRUE(z.ok()) << (z.ok() ? "" : z.error().message);
  return z.ok() ? *z : nullptr;
}

bool exists(const Zone& z, std::string_view name) {
  std::string key;
  return encodeName(name, key) && z.find(key) != nullptr;
}

std::vector<std::string> ports(const Zone& z, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& s : z.services(name)) out.push_back(s.host + ":" + std::to_string(s.port));
  return out;
}

const std::string kS1 = "web-shop-" + taskIdHash("shop_web.1") + "-s1";
const std::string kS2 = "web-shop-" + taskIdHash("shop_web.2") + "-s2";

TEST(Zone, AppNamesFollowMesosDns) {
  auto z = build(demoInput());
  ASSERT_TRUE(z);
  EXPECT_THAT(z->hostAddresses("web-shop.marathon.mesos"),
              UnorderedElementsAre("10.0.1.1", "10.0.1.2"));
  EXPECT_THAT(z->hostAddresses(kS1 + ".marathon.mesos"), ElementsAre("10.0.1.1"));
  EXPECT_THAT(z->hostAddresses("web-shop.marathon.slave.mesos"),
              UnorderedElementsAre("10.0.1.1", "10.0.1.2"));
  EXPECT_THAT(z->hostAddresses(kS2 + ".marathon.slave.mesos"), ElementsAre("10.0.1.2"));
  // Case-insensitive, trailing dot allowed.
  EXPECT_THAT(z->hostAddresses("WEB-shop.Marathon.mesos."), ::testing::SizeIs(2));
}

TEST(Zone, SrvRecordsPerProtocolNamedPortAndSlave) {
  auto z = build(demoInput());
  ASSERT_TRUE(z);
  EXPECT_THAT(ports(*z, "_web-shop._tcp.marathon.mesos"),
              UnorderedElementsAre(kS1 + ".marathon.mesos:31000", kS2 + ".marathon.mesos:31002"));
  EXPECT_THAT(ports(*z, "_web-shop._udp.marathon.mesos"),
              ElementsAre(kS1 + ".marathon.mesos:31001"));
  EXPECT_THAT(ports(*z, "_http._web-shop._tcp.marathon.mesos"), ::testing::SizeIs(2));
  EXPECT_THAT(ports(*z, "_admin._web-shop._udp.marathon.mesos"),
              ElementsAre(kS1 + ".marathon.mesos:31001"));
  EXPECT_THAT(ports(*z, "_admin._web-shop._tcp.marathon.mesos"), IsEmpty());
  // The slave flavour lists every port under both protocols.
  EXPECT_THAT(
      ports(*z, "_web-shop._tcp.marathon.slave.mesos"),
      UnorderedElementsAre(kS1 + ".marathon.slave.mesos:31000", kS1 + ".marathon.slave.mesos:31001",
                           kS2 + ".marathon.slave.mesos:31002"));
  EXPECT_THAT(ports(*z, "_web-shop._udp.marathon.slave.mesos"), ::testing::SizeIs(3));
  auto services = z->services("_web-shop._udp.marathon.mesos");
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].ip, "10.0.1.1");
}

TEST(Zone, EmptyProtocolMeansBothAndAddressesMayBeV6) {
  auto z = build(demoInput());
  ASSERT_TRUE(z);
  EXPECT_THAT(z->hostAddresses("v6.marathon.mesos"), UnorderedElementsAre("10.9.9.9", "fd00::1"));
  EXPECT_THAT(ports(*z, "_v6._tcp.marathon.mesos"), ::testing::SizeIs(1));
  EXPECT_THAT(ports(*z, "_v6._udp.marathon.mesos"), ::testing::SizeIs(1));
  // The agent's address stays on the slave name.
  EXPECT_THAT(z->hostAddresses("v6.marathon.slave.mesos"), ElementsAre("10.0.1.1"));
}

TEST(Zone, OnlyRunningAndHealthyTasks) {
  auto z = build(demoInput());
  ASSERT_TRUE(z);
  EXPECT_THAT(ports(*z, "_db._tcp.marathon.mesos"), ::testing::SizeIs(1));
  EXPECT_EQ(z->stats().skippedTasks, 3u);
  ZoneInput in = demoInput();
  in.options.onlyHealthy = false;
  auto all = build(in);
  ASSERT_TRUE(all);
  // db.2 (unhealthy) and db.3 (no result) join; db.4 is not running.
  EXPECT_THAT(ports(*all, "_db._tcp.marathon.mesos"), ::testing::SizeIs(3));
}

TEST(Zone, ClusterNames) {
  auto z = build(demoInput());
  ASSERT_TRUE(z);
  EXPECT_THAT(z->hostAddresses("leader.mesos"), ElementsAre("10.0.0.1"));
  EXPECT_THAT(z->hostAddresses("master.mesos"), UnorderedElementsAre("10.0.0.1", "10.0.0.2"));
  EXPECT_THAT(z->hostAddresses("master0.mesos"), ElementsAre("10.0.0.1"));
  EXPECT_THAT(z->hostAddresses("master1.mesos"), ElementsAre("10.0.0.2"));
  EXPECT_THAT(ports(*z, "_leader._tcp.mesos"), ElementsAre("leader.mesos:5050"));
  EXPECT_THAT(ports(*z, "_leader._udp.mesos"), ElementsAre("leader.mesos:5050"));
  EXPECT_THAT(z->hostAddresses("marathon.mesos"), ElementsAre("10.0.0.1"));
  EXPECT_THAT(ports(*z, "_framework._tcp.marathon.mesos"), ElementsAre("marathon.mesos:8080"));
  EXPECT_THAT(z->hostAddresses("slave.mesos"), UnorderedElementsAre("10.0.1.1", "10.0.1.2"));
  EXPECT_THAT(ports(*z, "_slave._tcp.mesos"), ElementsAre("slave.mesos:5051"));
  EXPECT_THAT(z->hostAddresses("ns1.mesos"), ElementsAre("10.0.0.53"));
}

TEST(Zone, LeaderOutsideTheMasterListGetsTheNextIndex) {
  ZoneInput in = demoInput();
  in.leaderIp = "10.0.0.9";
  auto z = build(in);
  ASSERT_TRUE(z);
  EXPECT_THAT(z->hostAddresses("master2.mesos"), ElementsAre("10.0.0.9"));
  EXPECT_THAT(z->hostAddresses("master.mesos"), ::testing::SizeIs(3));
}

TEST(Zone, EmptyNonTerminalsExist) {
  auto z = build(demoInput());
  ASSERT_TRUE(z);
  EXPECT_TRUE(exists(*z, "mesos"));
  EXPECT_TRUE(exists(*z, "_tcp.marathon.mesos"));
  EXPECT_TRUE(exists(*z, "_web-shop._tcp.marathon.mesos"));
  EXPECT_TRUE(exists(*z, "_tcp.mesos"));
  EXPECT_TRUE(exists(*z, "marathon.slave.mesos"));
  EXPECT_TRUE(exists(*z, "_tcp.marathon.slave.mesos"));
  EXPECT_FALSE(exists(*z, "nope.marathon.mesos"));
  EXPECT_FALSE(exists(*z, "_x._tcp.marathon.mesos"));
}

TEST(Zone, CustomDomainFrameworkAndRfc952) {
  ZoneInput in = demoInput();
  in.domain = "Corp.Example.";
  in.framework = "My_Marathon";
  in.options.enforceRfc952 = true;
  AppInfo app;
  app.appId = "/9team/a-very-long-application-name-indeed";
  app.tasks = {testing::task("t.1", "c0ffee-S1", {{1000, "", "tcp"}})};
  in.apps.push_back(app);
  auto z = build(in);
  ASSERT_TRUE(z);
  EXPECT_EQ(z->domain(), "corp.example");
  EXPECT_EQ(z->framework(), "my-marathon");
  EXPECT_THAT(z->hostAddresses("web-shop.my-marathon.corp.example"), ::testing::SizeIs(2));
  std::string label = appLabel(app.appId, true);
  // Cut at 24 octets, then the trailing '-' goes.
  EXPECT_EQ(label, "a-very-long-application");
  EXPECT_THAT(z->hostAddresses(label + ".my-marathon.corp.example"), ElementsAre("10.0.1.1"));
  auto srv = z->services("_a-very-long-application._tcp.my-marathon.corp.example");
  ASSERT_EQ(srv.size(), 1u);
  // The canonical label stays within 24 octets too.
  std::string canonical = srv[0].host.substr(0, srv[0].host.find('.'));
  EXPECT_LE(canonical.size(), 24u);
  EXPECT_EQ(canonical.substr(canonical.size() - 3), "-s1");
}

TEST(Zone, UnderscoreLabelsStayWithin63Octets) {
  ZoneInput in = demoInput();
  AppInfo app;
  app.appId = "/" + std::string(80, 'x');
  app.tasks = {testing::task("x.1", "c0ffee-S1", {{1000, std::string(70, 'p'), "tcp"}})};
  in.apps = {app};
  auto z = build(in);
  ASSERT_TRUE(z);
  std::string app62(62, 'x');
  EXPECT_THAT(z->hostAddresses(std::string(63, 'x') + ".marathon.mesos"), ::testing::SizeIs(1));
  EXPECT_THAT(ports(*z, "_" + app62 + "._tcp.marathon.mesos"), ::testing::SizeIs(1));
  EXPECT_THAT(ports(*z, "_" + std::string(62, 'p') + "._" + app62 + "._tcp.marathon.mesos"),
              ::testing::SizeIs(1));
}

TEST(Zone, BadItemsAreLeftOutNotFatal) {
  ZoneInput in = demoInput();
  in.apps[0].tasks[0].ip = "not-an-ip";
  AppInfo bad;
  bad.appId = "/!!!";
  bad.tasks = {testing::task("b.1", "c0ffee-S1", {{1, "", "tcp"}})};
  in.apps.push_back(bad);
  AppInfo orphan;
  orphan.appId = "/orphan";
  orphan.tasks = {testing::task("o.1", "unknown-agent", {{1, "", "tcp"}})};
  in.apps.push_back(orphan);
  auto z = build(in);
  ASSERT_TRUE(z);
  EXPECT_GE(z->stats().rejectedItems, 3u);
  EXPECT_THAT(z->hostAddresses("web-shop.marathon.mesos"), ElementsAre("10.0.1.2"));
  EXPECT_FALSE(exists(*z, "orphan.marathon.mesos"));
}

TEST(Zone, ConfigurationErrorsFail) {
  ZoneInput in = demoInput();
  in.domain = "";
  EXPECT_FALSE(buildZone(in).ok());
  in.domain = "a..b";
  EXPECT_FALSE(buildZone(in).ok());
  in = demoInput();
  in.framework = "!!!";
  auto r = buildZone(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().path, "/framework");
}

TEST(Zone, SoaNegativeTtlAndSerial) {
  ZoneInput in = demoInput();
  in.options.ttl = 30;
  in.options.soa.minimum = 7;
  auto z = build(in);
  ASSERT_TRUE(z);
  EXPECT_EQ(z->serial(), 42u);
  EXPECT_EQ(z->negativeTtl(), 7u);
  in.options.soa.serial = 0;
  auto now = build(in);
  EXPECT_GT(now->serial(), 1600000000u);
}

TEST(Zone, ManyTasksBuildQuickly) {
  ZoneInput in = demoInput();
  in.apps.clear();
  for (int a = 0; a < 100; ++a) {
    AppInfo app;
    app.appId = "/group/app" + std::to_string(a);
    for (int t = 0; t < 100; ++t) {
      app.tasks.push_back(testing::task("app" + std::to_string(a) + "." + std::to_string(t),
                                        t % 2 ? "c0ffee-S1" : "c0ffee-S2",
                                        {{static_cast<uint16_t>(31000 + t), "http", "tcp"}}));
    }
    in.apps.push_back(std::move(app));
  }
  auto started = std::chrono::steady_clock::now();
  auto z = build(in);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(z);
  EXPECT_EQ(z->stats().tasks, 10000u);
  std::cout << "10k tasks, " << z->stats().records << " records, " << z->stats().names
            << " names: built in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  EXPECT_THAT(ports(*z, "_app7-group._tcp.marathon.mesos"), ::testing::SizeIs(100));
}

}  // namespace
}  // namespace corral::dns
