#include "dns/dns_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "base/http_client.h"
#include "dns/dns_service.h"
#include "tests/dns/test_util.h"
#include "tests/dns/zone_fixture.h"
#include "tests/registry/fake_marathon.h"

namespace corral::dns {
namespace {

using namespace std::chrono_literals;

// A socket closed when it goes out of scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

void setTimeout(int fd, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

struct Reply {
  std::vector<uint8_t> bytes;
  Message message;
  bool ok = false;
};

Reply parse(std::vector<uint8_t> bytes) {
  Reply r;
  r.bytes = std::move(bytes);
  r.ok = parseMessage(r.bytes, r.message);
  return r;
}

class UdpClient {
 public:
  explicit UdpClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)), port_(port) {
    setTimeout(fd_.fd, 3000ms);
  }
  void send(const std::vector<uint8_t>& q) {
    sockaddr_in to = loopback(port_);
    ::sendto(fd_.fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  Reply receive() {
    std::vector<uint8_t> buf(65535);
    ssize_t n = ::recv(fd_.fd, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return parse(std::move(buf));
  }
  Reply ask(std::string_view name, uint16_t type, int edns = -1, bool rd = true) {
    send(buildQuery(static_cast<uint16_t>(++id_), name, type, rd, edns));
    return receive();
  }

 private:
  Fd fd_;
  uint16_t port_;
  int id_ = 0;
};

class TcpClient {
 public:
  explicit TcpClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    setTimeout(fd_.fd, 3000ms);
    sockaddr_in to = loopback(port);
    connected_ = ::connect(fd_.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  bool connected() const { return connected_; }
  void sendRaw(const std::vector<uint8_t>& bytes) {
    ::send(fd_.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  static std::vector<uint8_t> frame(const std::vector<uint8_t>& q) {
    std::vector<uint8_t> f(2 + q.size());
    f[0] = static_cast<uint8_t>(q.size() >> 8);
    f[1] = static_cast<uint8_t>(q.size());
    std::copy(q.begin(), q.end(), f.begin() + 2);
    return f;
  }
  bool readExact(uint8_t* p, size_t n) {
    while (n > 0) {
      ssize_t got = ::recv(fd_.fd, p, n, 0);
      if (got <= 0) return false;
      p += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }
  Reply receive() {
    uint8_t len[2];
    if (!readExact(len, 2)) return {};
    std::vector<uint8_t> buf((len[0] << 8) | len[1]);
    if (!readExact(buf.data(), buf.size())) return {};
    return parse(std::move(buf));
  }
  // True when the server closed the connection (EOF) before the timeout.
  bool closedByPeer() {
    uint8_t b;
    ssize_t n = ::recv(fd_.fd, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  Fd fd_;
  bool connected_ = false;
};

std::shared_ptr<const Zone> makeZone(ZoneInput in) {
  auto z = buildZone(in);
  return z.ok() ? *z : nullptr;
}

std::shared_ptr<const Zone> zoneWithTasks(int n) {
  ZoneInput in = testing::demoInput();
  AppInfo app;
  app.appId = "/big";
  for (int i = 0; i < n; ++i) {
    auto t = testing::task("big." + std::to_string(i), "c0ffee-S1",
                           {{static_cast<uint16_t>(20000 + i), "", "tcp"}});
    t.ip = "10.3." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    app.tasks.push_back(t);
  }
  in.apps.push_back(app);
  return makeZone(in);
}

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}

ServerConfig localConfig(int workers = 2) {
  ServerConfig c;
  c.address = "127.0.0.1";
  c.port = 0;
  c.workers = workers;
  return c;
}

TEST(DnsServer, AnswersOverUdpAndTcpAndStopsCleanly) {
  auto server = DnsServer::start(localConfig(), zoneWithTasks(100));
  ASSERT_TRUE(server.ok()) << server.error().message;
  uint16_t port = (*server)->port();
  ASSERT_NE(port, 0);

  UdpClient udp(port);
  Reply a = udp.ask("web-shop.marathon.mesos", kTypeA);
  ASSERT_TRUE(a.ok);
  EXPECT_TRUE(a.message.header.has(kFlagAa));
  EXPECT_EQ(a.message.answers.size(), 2u);
  Reply srv = udp.ask("_web-shop._tcp.marathon.mesos", kTypeSrv, 1232);
  EXPECT_EQ(srv.message.answers.size(), 2u);
  Reply nx = udp.ask("nope.marathon.mesos", kTypeA);
  EXPECT_EQ(nx.message.header.rcode(), kRcodeNxDomain);
  Reply big = udp.ask("big.marathon.mesos", kTypeA);
  EXPECT_TRUE(big.message.header.has(kFlagTc));

  TcpClient tcp(port);
  ASSERT_TRUE(tcp.connected());
  // Pipelined: three queries in one write, three answers.
  std::vector<uint8_t> burst;
  for (auto q : {buildQuery(1, "big.marathon.mesos", kTypeA),
                 buildQuery(2, "_web-shop._tcp.marathon.mesos", kTypeSrv),
                 buildQuery(3, "leader.mesos", kTypeA)}) {
    auto f = TcpClient::frame(q);
    burst.insert(burst.end(), f.begin(), f.end());
  }
  tcp.sendRaw(burst);
  Reply r1 = tcp.receive(), r2 = tcp.receive(), r3 = tcp.receive();
  ASSERT_TRUE(r1.ok && r2.ok && r3.ok);
  EXPECT_EQ(r1.message.header.id, 1);
  EXPECT_FALSE(r1.message.header.has(kFlagTc));
  EXPECT_EQ(r1.message.answers.size(), 100u);
  EXPECT_EQ(r2.message.header.id, 2);
  EXPECT_EQ(r2.message.answers.size(), 2u);
  EXPECT_EQ(r3.message.answers.size(), 1u);
  // A frame split across writes still works.
  auto f = TcpClient::frame(buildQuery(4, "master.mesos", kTypeA));
  tcp.sendRaw({f.begin(), f.begin() + 5});
  std::this_thread::sleep_for(20ms);  // let the first half arrive on its own
  tcp.sendRaw({f.begin() + 5, f.end()});
  Reply r4 = tcp.receive();
  EXPECT_EQ(r4.message.header.id, 4);
  EXPECT_EQ(r4.message.answers.size(), 2u);

  std::string metrics = (*server)->metricsText();
  EXPECT_THAT(metrics, ::testing::HasSubstr("corral_dns_queries_total{type=\"A\"}"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("corral_dns_responses_total{rcode=\"NXDOMAIN\"} 1"));
  auto snapshot = (*server)->metricsSnapshot();
  EXPECT_EQ(snapshot->queries(kTypeA), 6u);
  EXPECT_EQ(snapshot->truncated(), 1u);

  (*server)->stop();
  EXPECT_TRUE((*server)->closedCleanly());
}

TEST(DnsServer, PublishedZonesAreServedAtOnce) {
  auto server = DnsServer::start(localConfig(), zoneWithTasks(2));
  ASSERT_TRUE(server.ok());
  UdpClient udp((*server)->port());
  EXPECT_EQ(udp.ask("big.marathon.mesos", kTypeA).message.answers.size(), 2u);
  uint64_t v = (*server)->publish(zoneWithTasks(3));
  ASSERT_TRUE(waitFor([&] { return (*server)->applied(v); }));
  // Both workers have it: every query sees 3, whichever socket gets it.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(udp.ask("big.marathon.mesos", kTypeA).message.answers.size(), 3u);
  }
  v = (*server)->publish(zoneWithTasks(0));
  ASSERT_TRUE(waitFor([&] { return (*server)->applied(v); }));
  EXPECT_EQ(udp.ask("big.marathon.mesos", kTypeA).message.header.rcode(), kRcodeNxDomain);
  EXPECT_EQ((*server)->metricsSnapshot()->zonesApplied(), 4u);
}

TEST(DnsServer, GarbageOnTcpClosesOnlyThatConnection) {
  auto server = DnsServer::start(localConfig(1), zoneWithTasks(1));
  ASSERT_TRUE(server.ok());
  uint16_t port = (*server)->port();
  TcpClient good(port);
  TcpClient bad(port);
  bad.sendRaw({0x00, 0x05, 'h', 'e', 'l', 'l', 'o'});
  EXPECT_TRUE(bad.closedByPeer());
  // A response (QR set) is dropped: the connection goes too.
  TcpClient responder(port);
  auto q = buildQuery(9, "leader.mesos", kTypeA);
  q[2] |= 0x80;
  responder.sendRaw(TcpClient::frame(q));
  EXPECT_TRUE(responder.closedByPeer());
  // A malformed query gets FORMERR, then the close.
  TcpClient malformed(port);
  auto formerr = testing::PacketBuilder().header(5, 0, 2).bytes;
  malformed.sendRaw(TcpClient::frame(formerr));
  Reply fe = malformed.receive();
  EXPECT_EQ(fe.message.header.rcode(), kRcodeFormErr);
  EXPECT_TRUE(malformed.closedByPeer());
  // Others keep being served.
  good.sendRaw(TcpClient::frame(buildQuery(7, "leader.mesos", kTypeA)));
  EXPECT_EQ(good.receive().message.answers.size(), 1u);
  UdpClient udp(port);
  udp.send({1, 2, 3});  // a runt: dropped
  EXPECT_EQ(udp.ask("leader.mesos", kTypeA).message.answers.size(), 1u);
}

TEST(DnsServer, IdleConnectionsTimeOutAndTheLimitHolds) {
  ServerConfig c = localConfig(1);
  c.tcpIdleTimeoutMs = 200;
  c.maxTcpConnections = 2;
  auto server = DnsServer::start(c, zoneWithTasks(1));
  ASSERT_TRUE(server.ok());
  uint16_t port = (*server)->port();
  auto started = std::chrono::steady_clock::now();
  TcpClient silent(port);
  TcpClient second(port);
  TcpClient third(port);  // over the limit: closed at once
  EXPECT_TRUE(third.closedByPeer());
  EXPECT_TRUE(silent.closedByPeer());  // after the idle timeout
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 2500ms);
  EXPECT_EQ((*server)->metricsSnapshot()->tcpRejected(), 1u);
  // A connection that was used, then went quiet, times out too.
  TcpClient used(port);
  used.sendRaw(TcpClient::frame(buildQuery(1, "leader.mesos", kTypeA)));
  EXPECT_EQ(used.receive().message.answers.size(), 1u);
  EXPECT_TRUE(used.closedByPeer());
}

TEST(DnsServer, ForwardsOtherNamesWhenAskedAndAllowed) {
  // The upstream: another server, authoritative for "example".
  ZoneInput other = testing::demoInput();
  other.domain = "example";
  auto upstream = DnsServer::start(localConfig(1), makeZone(other));
  ASSERT_TRUE(upstream.ok());

  ServerConfig c = localConfig(1);
  c.forwarding = true;
  c.resolvers = {"127.0.0.1:" + std::to_string((*upstream)->port())};
  auto front = DnsServer::start(c, zoneWithTasks(1));
  ASSERT_TRUE(front.ok()) << front.error().message;
  UdpClient udp((*front)->port());

  Reply fwd = udp.ask("leader.example", kTypeA);
  ASSERT_TRUE(fwd.ok);
  EXPECT_EQ(fwd.message.header.rcode(), kRcodeNoError);
  EXPECT_TRUE(fwd.message.header.has(kFlagRa));
  ASSERT_EQ(fwd.message.answers.size(), 1u);
  EXPECT_EQ(testing::ipv4(fwd.bytes, fwd.message.answers[0]), "10.0.0.1");
  // Ours stay ours, with RA.
  Reply ours = udp.ask("leader.mesos", kTypeA);
  EXPECT_TRUE(ours.message.header.has(kFlagAa));
  EXPECT_TRUE(ours.message.header.has(kFlagRa));
  // No RD: REFUSED.
  EXPECT_EQ(udp.ask("leader.example", kTypeA, -1, false).message.header.rcode(), kRcodeRefused);
  // Over TCP too.
  TcpClient tcp((*front)->port());
  tcp.sendRaw(TcpClient::frame(buildQuery(31, "master.example", kTypeA)));
  Reply overTcp = tcp.receive();
  EXPECT_EQ(overTcp.message.header.id, 31);
  EXPECT_EQ(overTcp.message.answers.size(), 2u);
  EXPECT_EQ((*front)->metricsSnapshot()->forwarded(), 2u);
  (*front)->stop();
  EXPECT_TRUE((*front)->closedCleanly());
}

TEST(DnsServer, RefusedWhenForwardingIsOff) {
  auto server = DnsServer::start(localConfig(1), zoneWithTasks(1));
  ASSERT_TRUE(server.ok());
  UdpClient udp((*server)->port());
  Reply r = udp.ask("example.com", kTypeA);
  EXPECT_EQ(r.message.header.rcode(), kRcodeRefused);
  EXPECT_FALSE(r.message.header.has(kFlagRa));
}

TEST(DnsServer, UpstreamTimeoutIsServfailAndNeverDelaysOurAnswers) {
  // An upstream that never answers.
  Fd blackhole(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in bh = loopback(0);
  ASSERT_EQ(::bind(blackhole.fd, reinterpret_cast<sockaddr*>(&bh), sizeof bh), 0);
  socklen_t len = sizeof bh;
  ::getsockname(blackhole.fd, reinterpret_cast<sockaddr*>(&bh), &len);

  ServerConfig c = localConfig(1);
  c.forwarding = true;
  c.forwardTimeoutMs = 300;
  c.resolvers = {"127.0.0.1:" + std::to_string(ntohs(bh.sin_port))};
  auto server = DnsServer::start(c, zoneWithTasks(1));
  ASSERT_TRUE(server.ok()) << server.error().message;
  UdpClient udp((*server)->port());
  udp.send(buildQuery(100, "slow.example.com", kTypeA));
  udp.send(buildQuery(101, "leader.mesos", kTypeA));
  Reply first = udp.receive();
  EXPECT_EQ(first.message.header.id, 101);  // ours came first
  EXPECT_EQ(first.message.answers.size(), 1u);
  Reply second = udp.receive();
  EXPECT_EQ(second.message.header.id, 100);
  EXPECT_EQ(second.message.header.rcode(), kRcodeServFail);
  EXPECT_EQ((*server)->metricsSnapshot()->forwardFailed(), 1u);
  // Stopping with a forward in flight is clean too.
  udp.send(buildQuery(102, "slow2.example.com", kTypeA));
  EXPECT_TRUE(waitFor([&] { return (*server)->metricsSnapshot()->forwarded() == 2; }));
  (*server)->stop();
  EXPECT_TRUE((*server)->closedCleanly());
}

TEST(DnsServer, StartErrorsAreReported) {
  ServerConfig c = localConfig(1);
  c.address = "not-an-address";
  EXPECT_FALSE(DnsServer::start(c, zoneWithTasks(1)).ok());
  c = localConfig(1);
  c.forwarding = true;  // no resolvers
  EXPECT_FALSE(DnsServer::start(c, zoneWithTasks(1)).ok());
  EXPECT_FALSE(DnsServer::start(localConfig(1), nullptr).ok());
  // The port is taken (by a socket without SO_REUSEPORT).
  Fd taken(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in a = loopback(0);
  ASSERT_EQ(::bind(taken.fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(taken.fd, reinterpret_cast<sockaddr*>(&a), &len);
  c = localConfig(2);
  c.port = ntohs(a.sin_port);
  auto r = DnsServer::start(c, zoneWithTasks(1));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("UDP"));
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(DnsServer, DigIsHappy) {
  if (::access("/usr/bin/dig", X_OK) != 0) GTEST_SKIP() << "dig is not installed";
  auto server = DnsServer::start(localConfig(), zoneWithTasks(3));
  ASSERT_TRUE(server.ok());
  std::string at =
      "/usr/bin/dig @127.0.0.1 -p " + std::to_string((*server)->port()) + " +time=2 +tries=1 ";
  std::string a = run(at + "web-shop.marathon.mesos");
  EXPECT_THAT(a, ::testing::HasSubstr("status: NOERROR"));
  EXPECT_THAT(a, ::testing::HasSubstr("flags: qr aa rd;"));
  EXPECT_THAT(a, ::testing::HasSubstr("10.0.1.2"));
  std::string srv = run(at + "SRV _web-shop._tcp.marathon.mesos");
  EXPECT_THAT(srv, ::testing::HasSubstr("31000"));
  EXPECT_THAT(srv, ::testing::HasSubstr("ADDITIONAL: 3"));  // 2 A + OPT
  std::string tcp = run(at + "+tcp big.marathon.mesos");
  EXPECT_THAT(tcp, ::testing::HasSubstr("ANSWER: 3"));
  std::string nx = run(at + "nope.marathon.mesos");
  EXPECT_THAT(nx, ::testing::HasSubstr("status: NXDOMAIN"));
  EXPECT_THAT(nx, ::testing::HasSubstr("SOA"));
  std::string badvers = run(at + "+edns=1 +noednsneg leader.mesos");
  EXPECT_THAT(badvers, ::testing::HasSubstr("BADVERS"));
}

// The whole `corral dns` on one loop against a fake Marathon: the follower
// feeds the pipeline, the pipeline publishes zones to the workers, the HTTP
// API answers from the last good zone, and stop() closes everything.
TEST(DnsService, FollowsTheEventStreamIntoAnswersAndStopsCleanly) {
  Loop loop;
  registry::testing::FakeMarathon marathon(loop, "127.0.0.1");
  ASSERT_TRUE(marathon.ok());
  marathon.setApp(registry::testing::makeApp("/web", 2));
  DnsServiceConfig c;
  c.server = localConfig(2);
  c.naming.masters = {marathon.address()};
  c.httpHost = "127.0.0.1";
  c.httpPort = 0;
  auto service = DnsService::start(loop, c);
  ASSERT_TRUE(service.ok()) << service.error().message;
  UdpClient udp((*service)->dnsPort());
  auto srvCount = [&] {
    return udp.ask("_web._tcp.marathon.mesos", kTypeSrv).message.answers.size();
  };
  ASSERT_TRUE(loop.runUntil([&] { return srvCount() == 2; }, 10000));

  // One task more, as a status event on the stream.
  marathon.publish("status_update_event",
                   registry::testing::statusEvent("/web", "web.7", "TASK_RUNNING", 31077));
  ASSERT_TRUE(loop.runUntil([&] { return srvCount() == 3; }, 10000));
  auto zone = (*service)->zone();
  ASSERT_NE(zone, nullptr);
  EXPECT_EQ(zone->services("_web._tcp.marathon.mesos").size(), 3u);

  // The HTTP API and /metrics, from the same zone and the pipeline.
  std::string body;
  http::Request req;
  req.target = "/metrics";
  CancelHandle fetching =
      http::fetch(loop, "127.0.0.1", (*service)->httpPort(), req,
                  [&](Result<http::Response> r) { body = r.ok() ? r->body : "error"; });
  ASSERT_TRUE(loop.runUntil([&] { return !body.empty(); }, 5000));
  EXPECT_THAT(body, ::testing::HasSubstr("corral_dns_zone_generation"));
  EXPECT_THAT(body, ::testing::HasSubstr("corral_dns_event_to_zone_seconds_count"));
  EXPECT_THAT(body, ::testing::HasSubstr("corral_dns_queries_total{type=\"SRV\"}"));

  (*service)->stop();
  marathon.close();
  EXPECT_TRUE(loop.runUntil([&] { return uv_loop_alive(loop.raw()) == 0; }, 5000));
}

TEST(DnsService, StartErrorsAreReported) {
  Loop loop;
  DnsServiceConfig c;
  c.server = localConfig(1);
  EXPECT_FALSE(DnsService::start(loop, c).ok());  // no master
  c.naming.masters = {"no-port-here:"};
  EXPECT_FALSE(DnsService::start(loop, c).ok());
  c.naming.masters = {"127.0.0.1:1"};
  c.server.address = "not-an-address";
  auto bad = DnsService::start(loop, c);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, ::testing::HasSubstr("invalid listen address"));
  c.server = localConfig(1);
  c.httpHost = "300.1.1.1";
  EXPECT_FALSE(DnsService::start(loop, c).ok());
  EXPECT_TRUE(loop.runUntil([&] { return uv_loop_alive(loop.raw()) == 0; }, 5000));
}

}  // namespace
}  // namespace corral::dns
