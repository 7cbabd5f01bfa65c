// Hitless restart end to end (reload/takeover.h): real master, agent and
// demo-server tasks; `corral proxy` and `corral dns` as processes started
// with --takeover, a second generation taking over while bounded load loops
// run through the first, and nothing may fail: every request answered,
// every DNS query answered (no retries), no connection refused or reset.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cluster_fixture.h"

namespace corral::it {
namespace {

using Clock = std::chrono::steady_clock;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// True once `pid` (a child of the test) exited; *status gets its exit code.
bool exited(pid_t pid, int* code) {
  int st = 0;
  pid_t r = ::waitpid(pid, &st, WNOHANG);
  if (r != pid) return false;
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return true;
}

// One blocking HTTP/1.1 connection (5 s socket timeouts). Responses are read
// by Content-Length; any transport problem is a failure with its reason.
class HttpConn {
 public:
  ~HttpConn() { close(); }
  bool open(const std::string& ip, int port, std::string* err) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      *err = std::string("connect: ") + std::strerror(errno);
      close();
      return false;
    }
    return true;
  }
  bool isOpen() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  // A GET; returns the status (0 on failure, *err says why). *serverCloses:
  // the response said Connection: close.
  int get(const std::string& host, const std::string& target, bool keepAlive, bool* serverCloses,
          std::string* err) {
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" +
                      (keepAlive ? "" : "Connection: close\r\n") + "\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      *err = std::string("send: ") + std::strerror(errno);
      return 0;
    }
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!readMore(err)) return 0;
    }
    std::string head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    int status = 0;
    if (std::sscanf(head.c_str(), "HTTP/1.%*d %d", &status) != 1) {
      *err = "bad status line: " + head.substr(0, 40);
      return 0;
    }
    size_t length = 0;
    *serverCloses = false;
    std::istringstream lines(head);
    std::string line;
    while (std::getline(lines, line)) {
      std::string lower;
      for (char c : line) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.rfind("content-length:", 0) == 0) length = std::stoul(lower.substr(15));
      if (lower.rfind("connection:", 0) == 0 && contains(lower, "close")) *serverCloses = true;
    }
    while (buf_.size() < length) {
      if (!readMore(err)) return 0;
    }
    buf_.erase(0, length);
    return status;
  }

 private:
  bool readMore(std::string* err) {
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
    *err = n == 0 ? "connection closed before the response ended"
                  : std::string("recv: ") + std::strerror(errno);
    return false;
  }
  int fd_ = -1;
  std::string buf_;
};

// Requests in a loop on one thread until stopped (or its bounds): keep-alive
// (reconnecting only when the server says Connection: close) or a new
// connection per request.
class LoadLoop {
 public:
  LoadLoop(std::string ip, int port, std::string host, bool keepAlive)
      : ip_(std::move(ip)), port_(port), host_(std::move(host)), keepAlive_(keepAlive) {
    thread_ = std::thread([this] { run(); });
  }
  ~LoadLoop() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t ok() const { return ok_; }
  uint64_t reconnects() const { return reconnects_; }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void run() {
    HttpConn conn;
    auto deadline = Clock::now() + std::chrono::seconds(90);
    for (int i = 0; i < 200000 && !stop_ && Clock::now() < deadline; ++i) {
      std::string err;
      if (!conn.isOpen()) {
        if (!conn.open(ip_, port_, &err)) {
          fail(err);
          continue;
        }
        ++reconnects_;
      }
      bool closes = false;
      int status = conn.get(host_, "/load", keepAlive_, &closes, &err);
      if (status != 200) {
        fail(status == 0 ? err : "status " + std::to_string(status));
        conn.close();
        continue;
      }
      ++ok_;
      if (closes || !keepAlive_) conn.close();
    }
  }
  void fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back(why);
    // Do not spin on a dead proxy: a failure is already a failed test.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  std::string ip_;
  int port_;
  std::string host_;
  bool keepAlive_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ok_{0}, reconnects_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::thread thread_;
};

class TakeoverTest : public ClusterFixture {
 protected:
  void TearDown() override {
    for (auto& p : procs_) {
      stopProcess(p, 5000);
    }
    if (HasFailure()) {
      for (const auto& p : procs_) {
        std::cerr << "----- " << p.name << " (" << p.logPath << ") -----\n"
                  << tailLog(p.logPath, 80);
      }
    }
    ClusterFixture::TearDown();
  }

  void pickProxyPorts() {
    proxyIp_ = "127." + std::to_string(net_) + ".0.9";
    httpPort_ = freePort(proxyIp_);
    adminPort_ = freePort(proxyIp_);
    sockPath_ = dir_ + "/proxy.sock";
  }

  std::vector<std::string> proxyArgs(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {
        corralBin(),
        "proxy",
        "--master=" + masterIp_ + ":" + std::to_string(masterPort_),
        "--group=external",
        "--http-listen=" + proxyIp_ + ":" + std::to_string(httpPort_),
        "--admin-listen=" + proxyIp_ + ":" + std::to_string(adminPort_),
        "--workers=2",
        "--service-bind=" + proxyIp_,
        "--takeover=" + sockPath_,
        "--drain-timeout=20"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // Starts a proxy generation; returns its index in procs_.
  size_t startProxy(const std::vector<std::string>& args) {
    size_t i = procs_.size();
    std::string name = "proxy" + std::to_string(i + 1);
    procs_.push_back(spawnProcess(name, args, dir_ + "/" + name + ".log"));
    EXPECT_GT(procs_.back().pid, 0);
    return i;
  }
  std::string log(size_t i) { return readFile(procs_[i].logPath); }
  bool waitLog(size_t i, const std::string& text, uint64_t timeoutMs) {
    return client_.waitFor([&] { return contains(log(i), text); }, timeoutMs, 20);
  }
  // Waits for generation i to exit; its exit code, or -1 on timeout.
  int waitExit(size_t i, uint64_t timeoutMs) {
    int code = -1;
    bool done = client_.waitFor([&] { return exited(procs_[i].pid, &code); }, timeoutMs, 20);
    if (done) procs_[i].pid = -1;
    return done ? code : -1;
  }

  void deploy(const std::string& id, int instances, Json labels) {
    Json app;
    app["id"] = id;
    app["cmd"] = demoCmd();
    app["instances"] = instances;
    app["cpus"] = 0.01;
    app["mem"] = 16;
    app["portDefinitions"] = Json::array({Json{{"port", 0}}});
    app["labels"] = std::move(labels);
    auto r = api("POST", "/v2/apps", dumpJson(app), {{"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 201) << r.body;
    ASSERT_TRUE(waitAppStable(id, instances)) << id;
  }
  int servicePort(const std::string& id) {
    Json a = app(id);
    return a.is_null() ? 0 : a["portDefinitions"][0].value("port", 0);
  }
  bool webAnswers(uint64_t timeoutMs) {
    return client_.waitFor(
        [&] {
          auto r = client_.request("GET", proxyIp_, httpPort_, "/", "",
                                   {{"Host", "web.example.test"}}, 2000);
          return r.status == 200;
        },
        timeoutMs, 50);
  }

  std::vector<Child> procs_;
  std::string proxyIp_;
  int httpPort_ = 0;
  int adminPort_ = 0;
  std::string sockPath_;
};

// A takeover under keep-alive and new-connection load, with a TCP tunnel
// through a service port open across it: nothing fails, the tunnel keeps
// working through the old process, which exits 0 once it closes.
TEST_F(TakeoverTest, ProxyTakeoverUnderLoadLosesNothing) {
  startCluster(95, 1);
  pickProxyPorts();
  deploy("/web", 2, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "web.example.test"}});
  deploy("/raw", 1, {{"HAPROXY_GROUP", "external"}});  // a TCP-mode service port
  size_t a = startProxy(proxyArgs());
  ASSERT_TRUE(webAnswers(20000)) << "the first generation never served";
  int rawPort = servicePort("/raw");
  ASSERT_GT(rawPort, 0);

  // The long-lived connection: HTTP requests over a TCP tunnel.
  HttpConn tunnel;
  std::string err;
  bool closes = false;
  ASSERT_TRUE(client_.waitFor([&] { return tunnel.open(proxyIp_, rawPort, &err); }, 10000, 50))
      << err;
  ASSERT_EQ(tunnel.get("raw", "/before", true, &closes, &err), 200) << err;

  LoadLoop keepAlive(proxyIp_, httpPort_, "web.example.test", true);
  LoadLoop fresh(proxyIp_, httpPort_, "web.example.test", false);
  ASSERT_TRUE(client_.waitFor([&] { return keepAlive.ok() > 200 && fresh.ok() > 100; }, 20000, 20));

  uint64_t reconnectsAt = keepAlive.reconnects();
  size_t b = startProxy(proxyArgs());
  ASSERT_TRUE(waitLog(b, "serving every socket", 30000)) << "the second generation never served";
  ASSERT_TRUE(waitLog(a, "stopped accepting and drains", 5000));
  uint64_t keepAliveAt = keepAlive.ok(), freshAt = fresh.ok();
  // Load keeps flowing through the new generation.
  ASSERT_TRUE(client_.waitFor(
      [&] { return keepAlive.ok() > keepAliveAt + 300 && fresh.ok() > freshAt + 150; }, 20000, 20));
  keepAlive.stop();
  fresh.stop();
  EXPECT_TRUE(keepAlive.failures().empty())
      << keepAlive.failures().size() << " failed, first: " << keepAlive.failures().front();
  EXPECT_TRUE(fresh.failures().empty())
      << fresh.failures().size() << " failed, first: " << fresh.failures().front();
  // The keep-alive client was told Connection: close by the old process and
  // reconnected (to the new one).
  EXPECT_GT(keepAlive.reconnects(), reconnectsAt);

  // The old generation drains: alive while the tunnel is open, which still works.
  int code = 0;
  EXPECT_FALSE(exited(procs_[a].pid, &code));
  ASSERT_EQ(tunnel.get("raw", "/during", true, &closes, &err), 200) << err;
  tunnel.close();
  EXPECT_EQ(waitExit(a, 10000), 0) << "the drained generation did not exit 0";
  EXPECT_TRUE(contains(log(a), "every connection ended"));

  // The new generation serves the service port and the frontend alone.
  HttpConn after;
  ASSERT_TRUE(after.open(proxyIp_, rawPort, &err)) << err;
  EXPECT_EQ(after.get("raw", "/after", true, &closes, &err), 200) << err;
  EXPECT_TRUE(webAnswers(2000));
  auto admin = client_.request("GET", proxyIp_, adminPort_, "/healthz", "", {}, 2000);
  EXPECT_EQ(admin.status, 200);
}

// At most two generations: a third process arriving while the first still
// drains (its tunnel open) makes the first finish at once (its tunnel is
// closed, not reset), then takes over from the second, which drains in turn.
TEST_F(TakeoverTest, AThirdGenerationEndsTheDrainingOne) {
  startCluster(96, 1);
  pickProxyPorts();
  deploy("/web", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "web.example.test"}});
  deploy("/raw", 1, {{"HAPROXY_GROUP", "external"}});
  size_t a = startProxy(proxyArgs());
  ASSERT_TRUE(webAnswers(20000));
  int rawPort = servicePort("/raw");
  HttpConn tunnel;
  std::string err;
  bool closes = false;
  ASSERT_TRUE(client_.waitFor([&] { return tunnel.open(proxyIp_, rawPort, &err); }, 10000, 50));
  ASSERT_EQ(tunnel.get("raw", "/", true, &closes, &err), 200) << err;

  size_t b = startProxy(proxyArgs());
  ASSERT_TRUE(waitLog(a, "stopped accepting and drains", 30000));
  // The tunnel keeps the first generation draining (its drain timeout is long).
  client_.pump(500);
  int code = 0;
  EXPECT_FALSE(exited(procs_[a].pid, &code));

  size_t c = startProxy(proxyArgs());
  ASSERT_TRUE(waitLog(b, "told to finish its drain now", 10000));
  ASSERT_TRUE(waitLog(a, "at most two generations", 10000));
  EXPECT_EQ(waitExit(a, 10000), 0) << "the draining generation did not finish when told";
  EXPECT_TRUE(contains(log(c), "waits for generation pid"));
  ASSERT_TRUE(waitLog(c, "serving every socket", 30000));
  EXPECT_EQ(waitExit(b, 10000), 0);
  EXPECT_TRUE(webAnswers(2000));
  // The first generation closed the tunnel when it finished.
  EXPECT_NE(tunnel.get("raw", "/", true, &closes, &err), 200);
}

// At most two processes: one that arrives while another takes over (holds
// the sockets, loading its routes) is refused at once and exits 1, and the
// running generation serves on.
TEST_F(TakeoverTest, AProcessArrivingDuringATakeoverIsRefused) {
  startCluster(90, 1);
  pickProxyPorts();
  deploy("/web", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "web.example.test"}});
  size_t a = startProxy(proxyArgs());
  ASSERT_TRUE(webAnswers(20000));
  // A successor that never becomes ready: its master does not answer.
  std::vector<std::string> stuck = proxyArgs();
  for (auto& arg : stuck) {
    if (arg.rfind("--master=", 0) == 0) arg = "--master=" + masterIp_ + ":1";
  }
  size_t b = startProxy(stuck);
  ASSERT_TRUE(waitLog(a, "it serves once ready", 10000));

  size_t c = startProxy(proxyArgs());
  EXPECT_EQ(waitExit(c, 10000), 1) << "a third process stayed alive";
  EXPECT_TRUE(contains(log(c), "at most two generations")) << log(c);
  EXPECT_TRUE(waitLog(a, "refused another process", 5000));
  EXPECT_TRUE(webAnswers(2000));

  // The stuck one goes; the first serves on and a later one can take over.
  ::kill(procs_[b].pid, SIGTERM);
  EXPECT_GE(waitExit(b, 10000), 0);
  ASSERT_TRUE(waitLog(a, "the new process left before serving", 5000));
  size_t d = startProxy(proxyArgs());
  ASSERT_TRUE(waitLog(d, "serving every socket", 30000));
  EXPECT_EQ(waitExit(a, 20000), 0);
  EXPECT_TRUE(webAnswers(2000));
}

// A DNS query for `name` (type A), id `id`.
std::string dnsQuery(uint16_t id, const std::string& name) {
  std::string q;
  q.push_back(static_cast<char>(id >> 8));
  q.push_back(static_cast<char>(id));
  q += std::string("\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);  // RD, one question
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<char>(dot - start));
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q += std::string("\x00\x00\x01\x00\x01", 5);  // root, A, IN
  return q;
}

// UDP queries one at a time until stopped (or its bounds); each must be
// answered within 2 s with its id, NOERROR and at least one record: there
// are no retries, so a query the switch lost is a failure.
class DnsLoop {
 public:
  DnsLoop(std::string ip, int port, std::string name)
      : ip_(std::move(ip)), port_(port), name_(std::move(name)) {
    thread_ = std::thread([this] { run(); });
  }
  ~DnsLoop() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t ok() const { return ok_; }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void run() {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port_));
    ::inet_pton(AF_INET, ip_.c_str(), &to.sin_addr);
    ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
    auto deadline = Clock::now() + std::chrono::seconds(90);
    for (uint32_t i = 0; i < 200000 && !stop_ && Clock::now() < deadline; ++i) {
      uint16_t id = static_cast<uint16_t>(i);
      std::string q = dnsQuery(id, name_);
      if (::send(fd, q.data(), q.size(), 0) != static_cast<ssize_t>(q.size())) {
        fail("send: " + std::string(std::strerror(errno)));
        continue;
      }
      unsigned char buf[1500];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 12) {
        fail(n < 0 ? "query " + std::to_string(id) + ": no answer within 2 s" : "short answer");
        continue;
      }
      uint16_t gotId = static_cast<uint16_t>((buf[0] << 8) | buf[1]);
      int rcode = buf[3] & 0x0f;
      int answers = (buf[6] << 8) | buf[7];
      if (gotId != id || rcode != 0 || answers < 1) {
        fail("query " + std::to_string(id) + ": id " + std::to_string(gotId) + " rcode " +
             std::to_string(rcode) + " answers " + std::to_string(answers));
        continue;
      }
      ++ok_;
    }
    ::close(fd);
  }
  void fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back(why);
  }

  std::string ip_;
  int port_;
  std::string name_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ok_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;
  std::thread thread_;
};

// A new process that cannot start after receiving the sockets (its own
// frontend address cannot be bound) exits 1; the running one never stopped
// and hands over to the next process that can.
TEST_F(TakeoverTest, AFailedSuccessorLeavesTheRunningOneServing) {
  startCluster(94, 1);
  pickProxyPorts();
  deploy("/web", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "web.example.test"}});
  size_t a = startProxy(proxyArgs());
  ASSERT_TRUE(webAnswers(20000));
  LoadLoop load(proxyIp_, httpPort_, "web.example.test", false);
  ASSERT_TRUE(client_.waitFor([&] { return load.ok() > 50; }, 20000, 20));

  // 192.0.2.1 (TEST-NET-1) is no address of this machine.
  std::vector<std::string> bad = proxyArgs();
  for (auto& arg : bad) {
    if (arg.rfind("--http-listen=", 0) == 0) arg = "--http-listen=192.0.2.1:80";
  }
  size_t b = startProxy(bad);
  EXPECT_EQ(waitExit(b, 20000), 1);
  ASSERT_TRUE(waitLog(a, "the new process left before serving", 5000));
  uint64_t at = load.ok();
  ASSERT_TRUE(client_.waitFor([&] { return load.ok() > at + 50; }, 10000, 20));

  size_t c = startProxy(proxyArgs());
  ASSERT_TRUE(waitLog(c, "serving every socket", 30000));
  EXPECT_EQ(waitExit(a, 20000), 0);
  at = load.ok();
  ASSERT_TRUE(client_.waitFor([&] { return load.ok() > at + 50; }, 10000, 20));
  load.stop();
  EXPECT_TRUE(load.failures().empty())
      << load.failures().size() << " failed, first: " << load.failures().front();
}

// `corral dns` handed over while UDP queries run: every query is answered.
TEST_F(TakeoverTest, DnsTakeoverAnswersEveryQuery) {
  startCluster(97, 1);
  deploy("/web", 2, {});
  std::string ip = "127." + std::to_string(net_) + ".0.9";
  int dnsPort = freePort(ip), httpPort = freePort(ip);
  std::vector<std::string> args = {corralBin(),
                                   "dns",
                                   "--listen=" + ip + ":" + std::to_string(dnsPort),
                                   "--http-listen=" + ip + ":" + std::to_string(httpPort),
                                   "--master=" + masterIp_ + ":" + std::to_string(masterPort_),
                                   "--workers=2",
                                   "--no-forward",
                                   "--takeover=" + dir_ + "/dns.sock",
                                   "--drain-timeout=10"};
  size_t a = procs_.size();
  procs_.push_back(spawnProcess("dns1", args, dir_ + "/dns1.log"));
  {
    DnsLoop probe(ip, dnsPort, "web.marathon.mesos");
    ASSERT_TRUE(client_.waitFor([&] { return probe.ok() > 0; }, 20000, 50))
        << "the first generation never answered";
  }
  DnsLoop queries(ip, dnsPort, "web.marathon.mesos");
  ASSERT_TRUE(client_.waitFor([&] { return queries.ok() > 300; }, 20000, 20));
  size_t b = procs_.size();
  procs_.push_back(spawnProcess("dns2", args, dir_ + "/dns2.log"));
  ASSERT_TRUE(waitLog(b, "serving every socket", 30000));
  ASSERT_TRUE(waitLog(a, "stopped accepting and drains", 5000));
  uint64_t at = queries.ok();
  ASSERT_TRUE(client_.waitFor([&] { return queries.ok() > at + 500; }, 20000, 20));
  EXPECT_EQ(waitExit(a, 15000), 0) << "the drained generation did not exit 0";
  uint64_t afterExit = queries.ok();
  ASSERT_TRUE(client_.waitFor([&] { return queries.ok() > afterExit + 200; }, 20000, 20));
  queries.stop();
  auto failures = queries.failures();
  EXPECT_TRUE(failures.empty()) << failures.size() << " lost, first: " << failures.front();
  auto api = client_.request("GET", ip, httpPort, "/v1/version", "", {}, 2000);
  EXPECT_EQ(api.status, 200);
}

// `corral dns --flags-file`: a bad file on SIGHUP changes nothing and is
// named with its line; a valid one is applied by a takeover that loses no
// query.
TEST_F(TakeoverTest, DnsSighupValidatesThenTakesOver) {
  startCluster(99, 1);
  deploy("/web", 1, {});
  std::string ip = "127." + std::to_string(net_) + ".0.9";
  int dnsPort = freePort(ip), httpPort = freePort(ip);
  std::string flags = dir_ + "/dns.flags";
  {
    std::ofstream out(flags);
    out << "--workers=2\n--no-forward\n";
  }
  std::vector<std::string> args = {corralBin(),
                                   "dns",
                                   "--listen=" + ip + ":" + std::to_string(dnsPort),
                                   "--http-listen=" + ip + ":" + std::to_string(httpPort),
                                   "--master=" + masterIp_ + ":" + std::to_string(masterPort_),
                                   "--takeover=" + dir_ + "/dns.sock",
                                   "--flags-file=" + flags};
  size_t a = procs_.size();
  procs_.push_back(spawnProcess("dns1", args, dir_ + "/dns1.log"));
  {
    DnsLoop probe(ip, dnsPort, "web.marathon.mesos");
    ASSERT_TRUE(client_.waitFor([&] { return probe.ok() > 0; }, 20000, 50));
  }
  DnsLoop queries(ip, dnsPort, "web.marathon.mesos");
  ASSERT_TRUE(client_.waitFor([&] { return queries.ok() > 100; }, 20000, 20));
  {
    std::ofstream out(flags);
    out << "--workers=2\n--ttl=soon\n";
  }
  ASSERT_EQ(::kill(procs_[a].pid, SIGHUP), 0);
  ASSERT_TRUE(waitLog(a, "SIGHUP: the running configuration stays", 5000));
  EXPECT_TRUE(contains(log(a), flags + ":2: --ttl: ")) << log(a);
  {
    std::ofstream out(flags);
    out << "--workers=2\n--no-forward\n--ttl=7\n";
  }
  ASSERT_EQ(::kill(procs_[a].pid, SIGHUP), 0);
  ASSERT_TRUE(waitLog(a, "takes over with it", 5000));
  std::string text = log(a);
  std::string marker = "SIGHUP: " + flags + " is valid; pid ";
  size_t at = text.find(marker);
  ASSERT_NE(at, std::string::npos);
  pid_t next = std::atoi(text.c_str() + at + marker.size());
  EXPECT_EQ(waitExit(a, 20000), 0);
  uint64_t after = queries.ok();
  ASSERT_TRUE(client_.waitFor([&] { return queries.ok() > after + 200; }, 20000, 20));
  queries.stop();
  auto failures = queries.failures();
  EXPECT_TRUE(failures.empty()) << failures.size() << " lost, first: " << failures.front();
  ::kill(next, SIGTERM);
  EXPECT_TRUE(client_.waitFor([&] { return ::kill(next, 0) != 0; }, 10000, 20));
}

// SIGHUP with a --flags-file that does not parse: the proxy keeps its
// configuration, serves on, and logs the file, line, flag and reason.
TEST_F(TakeoverTest, SighupWithABadFlagsFileKeepsServing) {
  startCluster(98, 1);
  pickProxyPorts();
  deploy("/web", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "web.example.test"}});
  std::string flags = dir_ + "/proxy.flags";
  {
    std::ofstream out(flags);
    out << "# the proxy's flags\n--group=external\n--workers=2\n";
  }
  std::vector<std::string> args = {corralBin(),
                                   "proxy",
                                   "--master=" + masterIp_ + ":" + std::to_string(masterPort_),
                                   "--http-listen=" + proxyIp_ + ":" + std::to_string(httpPort_),
                                   "--admin-listen=" + proxyIp_ + ":" + std::to_string(adminPort_),
                                   "--service-bind=" + proxyIp_,
                                   "--takeover=" + sockPath_,
                                   "--flags-file=" + flags};
  size_t a = startProxy(args);
  ASSERT_TRUE(webAnswers(20000));
  {
    std::ofstream out(flags);
    out << "# the proxy's flags\n--group=external\n--workers=many\n";
  }
  ASSERT_EQ(::kill(procs_[a].pid, SIGHUP), 0);
  ASSERT_TRUE(waitLog(a, "SIGHUP: the running configuration stays", 5000));
  EXPECT_TRUE(contains(log(a), flags + ":3: --workers: ")) << log(a);
  EXPECT_TRUE(webAnswers(2000));
  int code = 0;
  EXPECT_FALSE(exited(procs_[a].pid, &code));
  EXPECT_FALSE(contains(log(a), "takes over with it"));

  // A valid file is applied by a takeover: the new process serves the new
  // group list, the old one exits 0.
  {
    std::ofstream out(flags);
    out << "--group=external\n--group=internal\n--workers=1\n";
  }
  ASSERT_EQ(::kill(procs_[a].pid, SIGHUP), 0);
  ASSERT_TRUE(waitLog(a, "takes over with it", 5000));
  std::string text = log(a);
  size_t at = text.find("SIGHUP: " + flags + " is valid; pid ");
  ASSERT_NE(at, std::string::npos);
  pid_t next = std::atoi(text.c_str() + at + ("SIGHUP: " + flags + " is valid; pid ").size());
  ASSERT_GT(next, 0);
  EXPECT_EQ(waitExit(a, 20000), 0);
  EXPECT_TRUE(webAnswers(5000));
  // The new generation is not the test's child: stop it by its pid.
  ::kill(next, SIGTERM);
  EXPECT_TRUE(client_.waitFor([&] { return ::kill(next, 0) != 0; }, 10000, 20));
}

}  // namespace
}  // namespace corral::it
