// `corral dns` end to end: a real master, two agents and the DNS server run as
// child processes (each in its own process group, on loopback addresses of
// their own, on free ports, in a temporary work dir), and the answers are
// checked with /usr/bin/dig and with c-ares, the way clients see them.
//
// Every test gets its own 127.0.<net>.x addresses so that CTest may run them
// in parallel: master .1, agents .2 and .3, DNS .9. Every wait is bounded;
// teardown stops everything and prints the children's logs when a test failed.
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/http_client.h"
#include "base/json.h"
#include "base/loop.h"
#include "tests/integration/http_relay.h"

extern char** environ;

namespace corral {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int64_t msSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Polls pred every pollMs until it holds or timeoutMs passes.
bool waitFor(const std::function<bool()>& pred, int64_t timeoutMs, int64_t pollMs = 50) {
  auto t0 = Clock::now();
  while (true) {
    if (pred()) return true;
    if (msSince(t0) >= timeoutMs) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(pollMs));
  }
}

int freePort(const std::string& ip, int type = SOCK_STREAM) {
  int fd = ::socket(AF_INET, type, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A port free for both TCP and UDP on ip (DNS listens on both).
int freeDnsPort(const std::string& ip) {
  for (int i = 0; i < 50; ++i) {
    int p = freePort(ip, SOCK_STREAM);
    if (p <= 0) return -1;
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(p));
    inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return p;
  }
  return -1;
}

// ------------------------------------------------------------ processes

struct Child {
  std::string name;
  pid_t pid = -1;
  std::string logPath;
};

Child spawnChild(const std::string& name, const std::vector<std::string>& args,
                 const std::string& logPath) {
  Child c{name, -1, logPath};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);  // own process group
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  int rc = posix_spawn(&c.pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ADD_FAILURE() << "cannot spawn " << args[0] << ": " << strerror(rc);
    c.pid = -1;
  }
  return c;
}

bool running(const Child& c) {
  if (c.pid <= 0) return false;
  int st;
  return waitpid(c.pid, &st, WNOHANG) == 0;
}

// SIGTERM to the child's group, SIGKILL after graceMs.
void stopChild(Child& c, int64_t graceMs = 5000) {
  if (c.pid <= 0) return;
  ::kill(-c.pid, SIGTERM);
  auto t0 = Clock::now();
  while (true) {
    int st;
    pid_t r = waitpid(c.pid, &st, WNOHANG);
    if (r == c.pid || (r < 0 && errno == ECHILD)) break;
    if (msSince(t0) > graceMs) {
      ::kill(-c.pid, SIGKILL);
      waitpid(c.pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  c.pid = -1;
}

// Tasks run in process groups of their own; kill whatever still runs with a
// working directory under dir (tasks of agents killed with SIGKILL).
void killProcessesUnder(const std::string& dir) {
  DIR* d = opendir("/proc");
  if (!d) return;
  while (dirent* e = readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 1 || pid == getpid()) continue;
    std::error_code ec;
    auto cwd = fs::read_symlink(fs::path("/proc") / e->d_name / "cwd", ec);
    if (!ec && cwd.string().rfind(dir, 0) == 0) ::kill(static_cast<pid_t>(pid), SIGKILL);
  }
  closedir(d);
}

std::string tailFile(const std::string& path, size_t maxLines) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  std::string out;
  size_t start = lines.size() > maxLines ? lines.size() - maxLines : 0;
  for (size_t i = start; i < lines.size(); ++i) out += "  " + lines[i] + "\n";
  return out;
}

// Runs argv (no shell), returns stdout.
std::string capture(const std::vector<std::string>& args, int* exitCode = nullptr) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  std::string out;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    int st = 0;
    waitpid(pid, &st, 0);
    if (exitCode) *exitCode = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  ::close(fds[0]);
  return out;
}

std::vector<std::string> splitWs(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string stripDot(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  return lower(s);
}

// ------------------------------------------------------------------ HTTP

struct HttpResult {
  int status = 0;  // 0: transport error
  std::string body;
  Json json() const {
    auto j = parseJson(body);
    return j.ok() ? *j : Json();
  }
};

class Http {
 public:
  HttpResult request(const std::string& method, const std::string& host, int port,
                     const std::string& target, const std::string& body = "") {
    http::Request req;
    req.method = method;
    req.target = target;
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    req.body = body;
    auto out = std::make_shared<std::optional<HttpResult>>();
    CancelHandle call = http::fetch(
        loop_, host, port, std::move(req),
        [out](Result<http::Response> r) {
          HttpResult h;
          if (r.ok()) {
            h.status = r->status;
            h.body = r->body;
          } else {
            h.body = r.error().message;
          }
          *out = std::move(h);
        },
        http::ClientOptions{.timeoutMs = 5000, .tls = nullptr});
    loop_.runUntil([&] { return out->has_value(); }, 7000);
    return out->has_value() ? **out : HttpResult{};
  }

 private:
  Loop loop_;
};

// ------------------------------------------------------------------- dig

// One endpoint of a service: the address its SRV target resolves to, and the port.
using Endpoint = std::pair<std::string, int>;

struct DigAnswer {
  std::string status;  // NOERROR, NXDOMAIN, … ("" when dig got no answer)
  bool aa = false;
  std::vector<std::vector<std::string>> answer;      // records, split on white space
  std::vector<std::vector<std::string>> authority;   // idem
  std::vector<std::vector<std::string>> additional;  // idem
};

class Dig {
 public:
  Dig(std::string ip, int port) : ip_(std::move(ip)), port_(port) {}

  std::vector<std::string> shortAnswer(const std::string& name, const std::string& type,
                                       bool tcp = false) const {
    std::vector<std::string> args = base(tcp);
    args.push_back("+short");
    args.push_back(name);
    args.push_back(type);
    std::istringstream in(capture(args));
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line[0] != ';') out.push_back(line);
    }
    return out;
  }

  DigAnswer full(const std::string& name, const std::string& type, bool tcp = false) const {
    std::vector<std::string> args = base(tcp);
    for (const char* o : {"+noall", "+comments", "+answer", "+authority", "+additional"}) {
      args.push_back(o);
    }
    args.push_back(name);
    args.push_back(type);
    std::string text = capture(args);
    DigAnswer a;
    std::istringstream in(text);
    std::string line;
    std::vector<std::vector<std::string>>* section = nullptr;
    while (std::getline(in, line)) {
      if (auto p = line.find("status: "); p != std::string::npos) {
        a.status = line.substr(p + 8, line.find(',', p) - p - 8);
      }
      if (line.find(";; flags:") != std::string::npos) {
        auto flags = line.substr(line.find(";; flags:") + 9);
        flags = flags.substr(0, flags.find(';'));
        a.aa = (" " + flags + " ").find(" aa ") != std::string::npos;
      }
      if (line.find("ANSWER SECTION") != std::string::npos) section = &a.answer;
      if (line.find("AUTHORITY SECTION") != std::string::npos) section = &a.authority;
      if (line.find("ADDITIONAL SECTION") != std::string::npos) section = &a.additional;
      if (line.empty() || line[0] == ';' || !section) continue;
      section->push_back(splitWs(line));
    }
    return a;
  }

  std::set<std::string> addresses(const std::string& name, bool tcp = false) const {
    auto v = shortAnswer(name, "A", tcp);
    return {v.begin(), v.end()};
  }

  // SRV records of name resolved to (address, port), using the additional
  // section and, for targets missing there, an A query.
  std::multiset<Endpoint> endpoints(const std::string& name, bool tcp = false) const {
    DigAnswer a = full(name, "SRV", tcp);
    std::map<std::string, std::string> glue;
    for (const auto& r : a.additional) {
      if (r.size() >= 5 && r[3] == "A") glue[stripDot(r[0])] = r[4];
    }
    std::multiset<Endpoint> out;
    for (const auto& r : a.answer) {
      // name ttl IN SRV prio weight port target
      if (r.size() < 8 || r[3] != "SRV") continue;
      std::string target = stripDot(r[7]);
      std::string ip;
      if (auto it = glue.find(target); it != glue.end()) {
        ip = it->second;
      } else {
        auto ips = shortAnswer(target, "A", tcp);
        ip = ips.empty() ? "?" : ips[0];
      }
      out.insert({ip, std::stoi(r[6])});
    }
    return out;
  }

 private:
  std::vector<std::string> base(bool tcp) const {
    std::vector<std::string> args{"/usr/bin/dig", "@" + ip_,  "-p",        std::to_string(port_),
                                  "+time=1",      "+tries=2", "+norecurse"};
    if (tcp) args.push_back("+tcp");
    return args;
  }
  std::string ip_;
  int port_;
};

// ----------------------------------------------------------------- c-ares

struct AresAnswer {
  int status = -1;  // ARES_SUCCESS, ARES_ENOTFOUND, ARES_ENODATA, …
  int rcode = -1;
  bool aa = false;
  std::vector<std::string> addresses;
  std::vector<std::pair<std::string, int>> srv;  // (target, port)
  bool soaInAuthority = false;
};

// Walks a raw DNS message to the authority section and looks for an SOA.
bool hasSoaInAuthority(const unsigned char* buf, int len) {
  if (len < 12) return false;
  auto u16 = [&](int off) { return (buf[off] << 8) | buf[off + 1]; };
  int qd = u16(4), an = u16(6), ns = u16(8);
  int off = 12;
  auto skipName = [&]() -> bool {
    char* name = nullptr;
    long enclen = 0;
    if (ares_expand_name(buf + off, buf, len, &name, &enclen) != ARES_SUCCESS) return false;
    ares_free_string(name);
    off += static_cast<int>(enclen);
    return off <= len;
  };
  for (int i = 0; i < qd; ++i) {
    if (!skipName() || off + 4 > len) return false;
    off += 4;
  }
  for (int i = 0; i < an + ns; ++i) {
    if (!skipName() || off + 10 > len) return false;
    int type = u16(off);
    int rdlen = u16(off + 8);
    off += 10 + rdlen;
    if (off > len) return false;
    if (i >= an && type == ns_t_soa) return true;
  }
  return false;
}

class Ares {
 public:
  struct Options {
    bool tcp = false;
    bool edns = false;
    std::vector<std::string> domains;  // search list for search()
  };
  Ares(const std::string& ip, int port, Options o) {
    ares_options opts{};
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS;
    opts.flags = (o.tcp ? ARES_FLAG_USEVC : 0) | (o.edns ? ARES_FLAG_EDNS : 0);
    if (o.domains.empty()) opts.flags |= ARES_FLAG_NOSEARCH;
    opts.timeout = 1000;
    opts.tries = 2;
    opts.ndots = 2;  // "_web._tcp" is tried under the search list first
    std::vector<char*> domains;
    for (auto& d : o.domains) domains.push_back(const_cast<char*>(d.c_str()));
    if (!domains.empty()) {
      mask |= ARES_OPT_DOMAINS;
      opts.domains = domains.data();
      opts.ndomains = static_cast<int>(domains.size());
    }
    ok_ = ares_init_options(&channel_, &opts, mask) == ARES_SUCCESS;
    std::string servers = ip + ":" + std::to_string(port);
    ok_ = ok_ && ares_set_servers_ports_csv(channel_, servers.c_str()) == ARES_SUCCESS;
  }
  ~Ares() {
    if (channel_) ares_destroy(channel_);
  }
  Ares(const Ares&) = delete;
  Ares& operator=(const Ares&) = delete;
  bool ok() const { return ok_; }

  AresAnswer query(const std::string& name, int type) { return run(name, type, false); }
  AresAnswer search(const std::string& name, int type) { return run(name, type, true); }

  std::set<std::string> addresses(const std::string& name) {
    auto a = query(name, ns_t_a);
    return {a.addresses.begin(), a.addresses.end()};
  }
  std::multiset<Endpoint> endpoints(const std::string& name) {
    std::multiset<Endpoint> out;
    for (const auto& [target, port] : query(name, ns_t_srv).srv) {
      auto ips = query(target, ns_t_a).addresses;
      out.insert({ips.empty() ? "?" : ips[0], port});
    }
    return out;
  }

 private:
  struct Pending {
    bool done = false;
    int status = -1;
    std::vector<unsigned char> buf;
  };
  static void onAnswer(void* arg, int status, int, unsigned char* abuf, int alen) {
    auto* p = static_cast<Pending*>(arg);
    p->done = true;
    p->status = status;
    if (abuf && alen > 0) p->buf.assign(abuf, abuf + alen);
  }

  AresAnswer run(const std::string& name, int type, bool search) {
    Pending p;
    if (search) {
      ares_search(channel_, name.c_str(), ns_c_in, type, &Ares::onAnswer, &p);
    } else {
      ares_query(channel_, name.c_str(), ns_c_in, type, &Ares::onAnswer, &p);
    }
    auto t0 = Clock::now();
    while (!p.done && msSince(t0) < 10000) {
      fd_set r, w;
      FD_ZERO(&r);
      FD_ZERO(&w);
      int nfds = ares_fds(channel_, &r, &w);
      if (nfds == 0) break;
      timeval tv{}, *tvp = ares_timeout(channel_, nullptr, &tv);
      select(nfds, &r, &w, nullptr, tvp);
      ares_process(channel_, &r, &w);
    }
    AresAnswer a;
    a.status = p.status;
    if (p.buf.size() >= 12) {
      const unsigned char* b = p.buf.data();
      int len = static_cast<int>(p.buf.size());
      a.rcode = b[3] & 0x0f;
      a.aa = (b[2] & 0x04) != 0;
      a.soaInAuthority = hasSoaInAuthority(b, len);
      if (p.status == ARES_SUCCESS && type == ns_t_a) {
        ares_addrttl ttls[64];
        int n = 64;
        hostent* host = nullptr;
        if (ares_parse_a_reply(b, len, &host, ttls, &n) == ARES_SUCCESS) {
          char txt[INET_ADDRSTRLEN];
          for (int i = 0; i < n; ++i) {
            a.addresses.push_back(inet_ntop(AF_INET, &ttls[i].ipaddr, txt, sizeof txt));
          }
        }
        if (host) ares_free_hostent(host);
      }
      if (p.status == ARES_SUCCESS && type == ns_t_srv) {
        ares_srv_reply* srv = nullptr;
        if (ares_parse_srv_reply(b, len, &srv) == ARES_SUCCESS) {
          for (auto* s = srv; s; s = s->next) a.srv.emplace_back(lower(s->host), s->port);
        }
        if (srv) ares_free_data(srv);
      }
    }
    return a;
  }

  ares_channel channel_ = nullptr;
  bool ok_ = false;
};

// ---------------------------------------------------------------- fixture

const char* corralBin() { return CORRAL_BIN; }

std::string appBody(const std::string& id, int instances, Json extra = Json::object()) {
  Json j;
  j["id"] = id;
  j["cmd"] = std::string("exec ") + corralBin() + " demo-server";
  j["instances"] = instances;
  j["cpus"] = 0.05;
  j["mem"] = 16;
  j["portDefinitions"] = Json::array({Json{{"port", 0}, {"name", "http"}}});
  j["backoffSeconds"] = 1;
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return dumpJson(j);
}

class DnsCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ares_library_init(ARES_LIB_INIT_ALL); }
  static void TearDownTestSuite() { ares_library_cleanup(); }

  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "corral-dnsit-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    stopChild(dns_);
    for (auto& a : agents_) stopChild(a);
    stopChild(master_);
    killProcessesUnder(dir_);
    if (HasFailure()) {
      std::cerr << "\n===== logs (work dir " << dir_ << ") =====\n";
      std::set<std::string> seen;
      for (const auto& path : logs_) {
        if (!seen.insert(path).second) continue;
        std::cerr << "----- " << path << " -----\n" << tailFile(path, 200);
      }
      std::cerr << "===== end of logs =====\n";
    } else {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  // Master on 127.0.<net>.1, agents on .2…, DNS on .9.
  void startCluster(int net, int agents, std::vector<std::string> dnsArgs = {}) {
    prefix_ = "127.0." + std::to_string(net) + ".";
    masterIp_ = prefix_ + "1";
    masterPort_ = freePort(masterIp_);
    ASSERT_GT(masterPort_, 0) << "cannot bind " << masterIp_;
    startMaster();
    for (int i = 0; i < agents; ++i) {
      std::string ip = prefix_ + std::to_string(2 + i);
      int port = freePort(ip);
      std::string log = dir_ + "/agent" + std::to_string(i) + ".log";
      logs_.push_back(log);
      agents_.push_back(
          spawnChild("agent " + ip,
                     {corralBin(), "agent", "--ip", ip, "--port", std::to_string(port), "--master",
                      master(), "--resources", "cpus:4;mem:4096;disk:1000;ports:[31000-31100]",
                      "--work-dir", dir_ + "/agent" + std::to_string(i)},
                     log));
      ASSERT_GT(agents_.back().pid, 0);
    }
    if (agents > 0) {
      ASSERT_TRUE(waitAgentsActive(agents)) << "agents did not become ACTIVE";
    }
    dnsIp_ = prefix_ + "9";
    dnsPort_ = freeDnsPort(dnsIp_);
    dnsHttpPort_ = freePort(dnsIp_);
    ASSERT_GT(dnsPort_, 0);
    std::vector<std::string> args{corralBin(),     "dns",
                                  "--listen",      dnsIp_ + ":" + std::to_string(dnsPort_),
                                  "--http-listen", dnsIp_ + ":" + std::to_string(dnsHttpPort_),
                                  "--master",      dnsMaster_ ? dnsMaster_() : master(),
                                  "--workers",     "2",
                                  "--no-forward"};
    args.insert(args.end(), dnsArgs.begin(), dnsArgs.end());
    logs_.push_back(dir_ + "/dns.log");
    dns_ = spawnChild("dns", args, dir_ + "/dns.log");
    ASSERT_GT(dns_.pid, 0);
    dig_.emplace(dnsIp_, dnsPort_);
    // Up when the apex SOA answers and the registry is connected.
    ASSERT_TRUE(waitFor(
        [&] { return dig_->full("mesos", "SOA").status == "NOERROR" && registryConnected() == 1; },
        10000, 100))
        << "corral dns did not come up";
  }

  std::string master() const { return masterIp_ + ":" + std::to_string(masterPort_); }

  void startMaster() {
    std::string log = dir_ + "/master.log";
    logs_.push_back(log);
    master_ = spawnChild(
        "master", {corralBin(), "master", "--listen", master(), "--work-dir", dir_ + "/master"},
        log);
    ASSERT_GT(master_.pid, 0);
    ASSERT_TRUE(waitFor([&] { return api("GET", "/ping").status == 200; }, 15000))
        << "master did not answer /ping";
  }

  bool waitAgentsActive(int n, int64_t timeoutMs = 20000) {
    return waitFor(
        [&] {
          Json j = api("GET", "/v1/agents").json();
          if (!j.contains("agents")) return false;
          int active = 0;
          for (const auto& a : j["agents"]) active += a.value("status", "") == "ACTIVE";
          return active >= n;
        },
        timeoutMs, 100);
  }

  HttpResult api(const std::string& method, const std::string& target,
                 const std::string& body = "") {
    return http_.request(method, masterIp_, masterPort_, target, body);
  }
  HttpResult dnsHttp(const std::string& target) {
    return http_.request("GET", dnsIp_, dnsHttpPort_, target);
  }

  // corral_registry_connected{consumer="dns"} from /metrics; -1 if absent.
  double registryConnected() { return metric("corral_registry_connected"); }
  double metric(const std::string& name) { return metricIn(dnsHttp("/metrics"), name); }
  double masterMetric(const std::string& name) {
    return metricIn(api("GET", "/metrics/prometheus"), name);
  }
  static double metricIn(const HttpResult& r, const std::string& name) {
    std::istringstream in(r.body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(name, 0) != 0) continue;
      char next = line.size() > name.size() ? line[name.size()] : '\0';
      if (next != ' ' && next != '{') continue;
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
    return -1;
  }

  void createApp(const std::string& body) {
    auto r = api("POST", "/v2/apps", body);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // force: override a running deployment (Marathon's ?force=true).
  void scale(const std::string& id, int n, bool force = false) {
    auto r = api("PUT", "/v2/apps" + id + (force ? "?force=true" : ""),
                 dumpJson(Json{{"instances", n}}));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void destroy(const std::string& id, bool force = false) {
    auto r = api("DELETE", "/v2/apps" + id + (force ? "?force=true" : ""));
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::vector<Json> tasks(const std::string& id) {
    Json j = api("GET", "/v2/apps" + id + "/tasks").json();
    std::vector<Json> out;
    if (j.contains("tasks")) {
      for (const auto& t : j["tasks"]) out.push_back(t);
    }
    return out;
  }

  static bool healthy(const Json& t) {
    const auto& r = t.value("healthCheckResults", Json::array());
    if (r.empty()) return false;
    for (const auto& x : r) {
      if (!x.value("alive", false)) return false;
    }
    return true;
  }

  // Endpoints (host, port index) of running tasks, per the master's API.
  std::multiset<Endpoint> apiEndpoints(const std::string& id, size_t portIndex = 0,
                                       bool onlyHealthy = false) {
    std::multiset<Endpoint> out;
    for (const auto& t : tasks(id)) {
      if (t.value("state", "") != "TASK_RUNNING") continue;
      if (onlyHealthy && !healthy(t)) continue;
      const auto& ports = t.value("ports", Json::array());
      if (ports.size() > portIndex) out.insert({t.value("host", ""), ports[portIndex].get<int>()});
    }
    return out;
  }

  // Waits until the app has no deployment and `n` running tasks.
  bool waitAppStable(const std::string& id, size_t n, bool needHealthy = false,
                     int64_t timeoutMs = 30000) {
    return waitFor(
        [&] {
          Json j = api("GET", "/v2/apps" + id).json();
          if (!j.contains("app")) return false;
          if (!j["app"].value("deployments", Json::array()).empty()) return false;
          auto eps = apiEndpoints(id, 0, needHealthy);
          return eps.size() == n;
        },
        timeoutMs, 100);
  }

  static std::set<std::string> hostsOf(const std::multiset<Endpoint>& eps) {
    std::set<std::string> out;
    for (const auto& e : eps) out.insert(e.first);
    return out;
  }

  std::multiset<Endpoint> srvEndpoints(const std::string& app) {
    return dig_->endpoints("_" + app + "._tcp.marathon.mesos");
  }

  std::string dnsAddr() const { return dnsIp_ + ":" + std::to_string(dnsPort_); }

  Http http_;
  // Where corral dns follows the master (set before startCluster; called once
  // the master is up); unset: the master itself.
  std::function<std::string()> dnsMaster_;
  std::string dir_;
  std::string prefix_;
  std::string masterIp_;
  int masterPort_ = 0;
  std::string dnsIp_;
  int dnsPort_ = 0;
  int dnsHttpPort_ = 0;
  Child master_;
  std::vector<Child> agents_;
  Child dns_;
  std::vector<std::string> logs_;
  std::optional<Dig> dig_;
};

// ------------------------------------------------------------------ tests

TEST_F(DnsCluster, AAndSrvForTwoInstancesWithDigAndCaresOverUdpAndTcp) {
  startCluster(51, 2);
  createApp(appBody("/web", 2));
  ASSERT_TRUE(waitAppStable("/web", 2));
  auto expected = apiEndpoints("/web");
  ASSERT_EQ(expected.size(), 2u);

  // DNS follows within a bounded time (it is normally already there).
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("web") == expected; }, 5000))
      << "SRV never matched the API";

  // dig, UDP and TCP.
  EXPECT_EQ(dig_->addresses("web.marathon.mesos"), hostsOf(expected));
  EXPECT_EQ(dig_->addresses("web.marathon.mesos", true), hostsOf(expected));
  EXPECT_EQ(dig_->endpoints("_web._tcp.marathon.mesos", true), expected);
  auto full = dig_->full("web.marathon.mesos", "A");
  EXPECT_EQ(full.status, "NOERROR");
  EXPECT_TRUE(full.aa) << "authoritative answers carry AA";
  // SRV +short: "priority weight port target", targets {app}-{hash}-{agent}.marathon.mesos.
  auto srv = dig_->shortAnswer("_web._tcp.marathon.mesos", "SRV");
  ASSERT_EQ(srv.size(), 2u);
  for (const auto& line : srv) {
    auto f = splitWs(line);
    ASSERT_EQ(f.size(), 4u) << line;
    EXPECT_GE(std::stoi(f[2]), 31000);
    EXPECT_LE(std::stoi(f[2]), 31100);
    EXPECT_EQ(f[3].rfind("web-", 0), 0u) << f[3];
    EXPECT_NE(f[3].find(".marathon.mesos."), std::string::npos) << f[3];
  }
  // The case of the question is echoed.
  auto mixed = dig_->full("WeB.MaRaThOn.MeSoS", "A");
  ASSERT_FALSE(mixed.answer.empty());
  EXPECT_EQ(mixed.answer[0][0], "WeB.MaRaThOn.MeSoS.");

  // c-ares over UDP, over TCP (with EDNS0), and through its search list.
  for (bool tcp : {false, true}) {
    Ares ares(dnsIp_, dnsPort_, {.tcp = tcp, .edns = tcp, .domains = {}});
    ASSERT_TRUE(ares.ok());
    auto a = ares.query("web.marathon.mesos", ns_t_a);
    EXPECT_EQ(a.status, ARES_SUCCESS) << ares_strerror(a.status);
    EXPECT_TRUE(a.aa);
    EXPECT_EQ(std::set<std::string>(a.addresses.begin(), a.addresses.end()), hostsOf(expected));
    EXPECT_EQ(ares.endpoints("_web._tcp.marathon.mesos"), expected) << "tcp=" << tcp;
  }
  Ares searching(dnsIp_, dnsPort_, {.tcp = false, .edns = false, .domains = {"marathon.mesos"}});
  auto s = searching.search("web", ns_t_a);
  EXPECT_EQ(s.status, ARES_SUCCESS) << ares_strerror(s.status);
  EXPECT_EQ(std::set<std::string>(s.addresses.begin(), s.addresses.end()), hostsOf(expected));
  auto ssrv = searching.search("_web._tcp", ns_t_srv);
  EXPECT_EQ(ssrv.status, ARES_SUCCESS) << ares_strerror(ssrv.status);
  EXPECT_EQ(ssrv.srv.size(), 2u);

  // Names outside the domain, forwarding off: REFUSED.
  EXPECT_EQ(dig_->full("example.org", "A").status, "REFUSED");

  // Unknown names: NXDOMAIN with the SOA in authority, for dig and c-ares.
  auto nx = dig_->full("nope.marathon.mesos", "A");
  EXPECT_EQ(nx.status, "NXDOMAIN");
  ASSERT_EQ(nx.authority.size(), 1u);
  EXPECT_EQ(nx.authority[0][3], "SOA");
  EXPECT_EQ(nx.authority[0][0], "mesos.");
  Ares ares(dnsIp_, dnsPort_, {});
  auto anx = ares.query("_nope._tcp.marathon.mesos", ns_t_srv);
  EXPECT_EQ(anx.status, ARES_ENOTFOUND) << ares_strerror(anx.status);
  EXPECT_EQ(anx.rcode, ns_r_nxdomain);
  EXPECT_TRUE(anx.soaInAuthority);
  // A name that exists with another type: NOERROR, no data, SOA in authority.
  auto nodata = ares.query("web.marathon.mesos", ns_t_srv);
  EXPECT_EQ(nodata.status, ARES_ENODATA) << ares_strerror(nodata.status);
  EXPECT_EQ(nodata.rcode, ns_r_noerror);
  EXPECT_TRUE(nodata.soaInAuthority);
}

TEST_F(DnsCluster, ScalingChangesAnswersPromptlyAndDeletionGivesNxdomain) {
  startCluster(52, 2);
  createApp(appBody("/scaled", 2));
  ASSERT_TRUE(waitAppStable("/scaled", 2));
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("scaled") == apiEndpoints("/scaled"); }, 5000));

  Ares ares(dnsIp_, dnsPort_, {});
  auto t0 = Clock::now();
  scale("/scaled", 3);
  // Poll tightly (c-ares, one UDP query a time), bounded at 5 s.
  bool three = waitFor(
      [&] { return ares.query("_scaled._tcp.marathon.mesos", ns_t_srv).srv.size() == 3; }, 5000, 5);
  int64_t took = msSince(t0);
  ASSERT_TRUE(three) << "the third instance never showed up in DNS";
  EXPECT_LT(took, 2000) << "scale to 3 took " << took << " ms to reach DNS";
  std::cerr << "[ info ] scale 2->3 visible in DNS after " << took << " ms\n";
  ASSERT_TRUE(waitAppStable("/scaled", 3));
  EXPECT_TRUE(waitFor([&] { return srvEndpoints("scaled") == apiEndpoints("/scaled"); }, 5000));
  EXPECT_EQ(dig_->addresses("scaled.marathon.mesos"), hostsOf(apiEndpoints("/scaled")));

  // Scale down: the killed task leaves the answers.
  t0 = Clock::now();
  scale("/scaled", 1);
  bool one = waitFor(
      [&] { return ares.query("_scaled._tcp.marathon.mesos", ns_t_srv).srv.size() == 1; }, 5000, 5);
  took = msSince(t0);
  ASSERT_TRUE(one);
  EXPECT_LT(took, 2000) << "scale to 1 took " << took << " ms to reach DNS";
  ASSERT_TRUE(waitAppStable("/scaled", 1));
  EXPECT_TRUE(waitFor([&] { return srvEndpoints("scaled") == apiEndpoints("/scaled"); }, 5000));

  // Deleted: NXDOMAIN with the SOA, for A and SRV.
  t0 = Clock::now();
  destroy("/scaled");
  bool gone =
      waitFor([&] { return ares.query("scaled.marathon.mesos", ns_t_a).status == ARES_ENOTFOUND; },
              5000, 5);
  took = msSince(t0);
  ASSERT_TRUE(gone);
  EXPECT_LT(took, 2000) << "deletion took " << took << " ms to reach DNS";
  for (const char* type : {"A", "SRV"}) {
    std::string name =
        std::string(type) == "A" ? "scaled.marathon.mesos" : "_scaled._tcp.marathon.mesos";
    auto nx = dig_->full(name, type);
    EXPECT_EQ(nx.status, "NXDOMAIN") << name;
    ASSERT_EQ(nx.authority.size(), 1u) << name;
    EXPECT_EQ(nx.authority[0][3], "SOA");
    EXPECT_TRUE(nx.answer.empty());
  }
  auto tcpNx = dig_->full("scaled.marathon.mesos", "A", true);
  EXPECT_EQ(tcpNx.status, "NXDOMAIN");
}

TEST_F(DnsCluster, NestedAppIdAndNamedPorts) {
  startCluster(53, 2);
  Json extra;
  extra["portDefinitions"] =
      Json::array({Json{{"port", 0}, {"name", "http"}}, Json{{"port", 0}, {"name", "admin"}}});
  createApp(appBody("/shop/web", 2, extra));
  ASSERT_TRUE(waitAppStable("/shop/web", 2));
  auto http = apiEndpoints("/shop/web", 0);
  auto admin = apiEndpoints("/shop/web", 1);
  ASSERT_EQ(http.size(), 2u);
  ASSERT_EQ(admin.size(), 2u);
  std::multiset<Endpoint> all = http;
  all.insert(admin.begin(), admin.end());

  ASSERT_TRUE(waitFor([&] { return srvEndpoints("web-shop") == all; }, 5000))
      << "_web-shop._tcp lists every port of every task";
  EXPECT_EQ(dig_->addresses("web-shop.marathon.mesos"), hostsOf(http));
  EXPECT_EQ(dig_->endpoints("_http._web-shop._tcp.marathon.mesos"), http);
  EXPECT_EQ(dig_->endpoints("_admin._web-shop._tcp.marathon.mesos"), admin);
  EXPECT_EQ(dig_->endpoints("_admin._web-shop._tcp.marathon.mesos", true), admin);
  Ares ares(dnsIp_, dnsPort_, {});
  EXPECT_EQ(ares.endpoints("_http._web-shop._tcp.marathon.mesos"), http);
  EXPECT_EQ(ares.endpoints("_admin._web-shop._tcp.marathon.mesos"), admin);
  // Only the reversed, dashed form exists.
  EXPECT_EQ(dig_->full("shop-web.marathon.mesos", "A").status, "NXDOMAIN");
  EXPECT_EQ(dig_->full("_nope._web-shop._tcp.marathon.mesos", "SRV").status, "NXDOMAIN");
  // `_tcp.marathon.mesos` is an empty non-terminal: no-data, not NXDOMAIN (RFC 8020).
  EXPECT_EQ(dig_->full("_tcp.marathon.mesos", "A").status, "NOERROR");
}

TEST_F(DnsCluster, TasksFailingHealthChecksAreExcluded) {
  startCluster(54, 2);
  Json good;
  good["healthChecks"] = Json::array({Json{{"protocol", "HTTP"},
                                           {"path", "/health"},
                                           {"portIndex", 0},
                                           {"gracePeriodSeconds", 5},
                                           {"intervalSeconds", 1},
                                           {"timeoutSeconds", 1},
                                           {"delaySeconds", 0},
                                           {"maxConsecutiveFailures", 3}}});
  Json bad;
  bad["healthChecks"] = Json::array({Json{{"protocol", "COMMAND"},
                                          {"command", Json{{"value", "exit 1"}}},
                                          {"gracePeriodSeconds", 0},
                                          {"intervalSeconds", 1},
                                          {"timeoutSeconds", 1},
                                          {"delaySeconds", 0},
                                          {"maxConsecutiveFailures", 0}}});
  createApp(appBody("/good", 2, good));
  createApp(appBody("/bad", 2, bad));
  ASSERT_TRUE(waitAppStable("/good", 2, true));
  // The bad app's tasks run, and their health checks have failed.
  ASSERT_TRUE(waitFor(
      [&] {
        auto ts = tasks("/bad");
        if (ts.size() != 2) return false;
        for (const auto& t : ts) {
          if (t.value("state", "") != "TASK_RUNNING") return false;
          const auto& r = t.value("healthCheckResults", Json::array());
          if (r.empty() || r[0].value("alive", true)) return false;
        }
        return true;
      },
      20000, 100))
      << dumpJson(api("GET", "/v2/apps/bad/tasks").json());

  auto goodEps = apiEndpoints("/good", 0, true);
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("good") == goodEps; }, 5000));
  EXPECT_EQ(dig_->addresses("good.marathon.mesos"), hostsOf(goodEps));
  // The unhealthy tasks stay out of every answer, for a while.
  auto t0 = Clock::now();
  while (msSince(t0) < 1500) {
    EXPECT_TRUE(dig_->addresses("bad.marathon.mesos").empty());
    EXPECT_TRUE(srvEndpoints("bad").empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  Ares ares(dnsIp_, dnsPort_, {});
  EXPECT_TRUE(ares.query("bad.marathon.mesos", ns_t_a).addresses.empty());
  EXPECT_TRUE(ares.query("_bad._tcp.marathon.mesos", ns_t_srv).srv.empty());
  // The HTTP API agrees.
  Json hosts = dnsHttp("/v1/hosts/bad.marathon.mesos").json();
  ASSERT_TRUE(hosts.is_array());
  for (const auto& h : hosts) EXPECT_EQ(h.value("ip", ""), "");
}

TEST_F(DnsCluster, IncludeUnhealthyListsTasksFailingHealthChecks) {
  startCluster(55, 1, {"--include-unhealthy"});
  Json bad;
  bad["healthChecks"] = Json::array({Json{{"protocol", "COMMAND"},
                                          {"command", Json{{"value", "exit 1"}}},
                                          {"gracePeriodSeconds", 0},
                                          {"intervalSeconds", 1},
                                          {"timeoutSeconds", 1},
                                          {"delaySeconds", 0},
                                          {"maxConsecutiveFailures", 0}}});
  createApp(appBody("/bad", 1, bad));
  ASSERT_TRUE(waitFor(
      [&] {
        auto ts = tasks("/bad");
        return ts.size() == 1 && ts[0].value("state", "") == "TASK_RUNNING" &&
               !ts[0].value("healthCheckResults", Json::array()).empty();
      },
      20000, 100));
  auto eps = apiEndpoints("/bad");
  EXPECT_TRUE(waitFor([&] { return srvEndpoints("bad") == eps; }, 5000));
}

TEST_F(DnsCluster, HttpApiHostsServicesVersionConfigAndMetrics) {
  startCluster(56, 2);
  createApp(appBody("/api", 2));
  ASSERT_TRUE(waitAppStable("/api", 2));
  auto expected = apiEndpoints("/api");
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("api") == expected; }, 5000));

  Json hosts = dnsHttp("/v1/hosts/api.marathon.mesos").json();
  ASSERT_TRUE(hosts.is_array()) << dumpJson(hosts);
  std::set<std::string> ips;
  for (const auto& h : hosts) {
    EXPECT_EQ(h.value("host", ""), "api.marathon.mesos");
    ips.insert(h.value("ip", ""));
  }
  EXPECT_EQ(ips, hostsOf(expected));

  Json services = dnsHttp("/v1/services/_api._tcp.marathon.mesos").json();
  ASSERT_TRUE(services.is_array()) << dumpJson(services);
  std::multiset<Endpoint> got;
  for (const auto& s : services) {
    EXPECT_EQ(s.value("service", ""), "_api._tcp.marathon.mesos");
    EXPECT_EQ(s.value("host", "").rfind("api-", 0), 0u) << dumpJson(s);
    got.insert({s.value("ip", ""), std::stoi(s.value("port", "0"))});
  }
  EXPECT_EQ(got, expected);

  // Unknown: Mesos-DNS answers one empty record.
  Json none = dnsHttp("/v1/hosts/none.marathon.mesos").json();
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].value("ip", "x"), "");
  Json noService = dnsHttp("/v1/services/_none._tcp.marathon.mesos").json();
  ASSERT_EQ(noService.size(), 1u);
  EXPECT_EQ(noService[0].value("port", "x"), "");

  Json version = dnsHttp("/v1/version").json();
  EXPECT_EQ(version.value("Service", ""), "Mesos-DNS");
  Json config = dnsHttp("/v1/config").json();
  EXPECT_EQ(config.value("domain", ""), "mesos");
  EXPECT_EQ(config.value("port", 0), dnsPort_);

  // Queries are counted; the event-to-zone histogram has observations.
  dig_->addresses("api.marathon.mesos");
  auto m = dnsHttp("/metrics").body;
  EXPECT_NE(m.find("corral_dns_queries_total{type=\"A\"}"), std::string::npos) << m;
  EXPECT_NE(m.find("corral_dns_responses_total{rcode=\"NOERROR\"}"), std::string::npos);
  EXPECT_GT(metric("corral_dns_event_to_zone_seconds_count"), 0);
  EXPECT_EQ(metric("corral_registry_connected"), 1);
}

TEST_F(DnsCluster, BurstOfChangesConverges) {
  startCluster(57, 2);
  // Many changes back to back, without waiting for anything.
  for (int i = 0; i < 6; ++i) createApp(appBody("/burst" + std::to_string(i), 1 + i % 3));
  for (int i = 0; i < 6; i += 2) scale("/burst" + std::to_string(i), 3, true);
  destroy("/burst1", true);
  destroy("/burst4", true);
  scale("/burst5", 1, true);
  // Re-created under the same name as soon as the master let it go.
  ASSERT_TRUE(waitFor([&] { return api("GET", "/v2/apps/burst1").status == 404; }, 10000));
  createApp(appBody("/burst1", 2));
  std::map<std::string, size_t> want{
      {"/burst0", 3}, {"/burst1", 2}, {"/burst2", 3}, {"/burst3", 1}, {"/burst5", 1}};
  for (const auto& [id, n] : want) ASSERT_TRUE(waitAppStable(id, n)) << id;
  for (const auto& [id, n] : want) {
    std::string app = id.substr(1);
    auto expected = apiEndpoints(id);
    EXPECT_TRUE(waitFor([&] { return srvEndpoints(app) == expected; }, 5000)) << id;
    EXPECT_EQ(dig_->addresses(app + ".marathon.mesos"), hostsOf(expected)) << id;
  }
  EXPECT_TRUE(
      waitFor([&] { return dig_->full("burst4.marathon.mesos", "A").status == "NXDOMAIN"; }, 5000));
  EXPECT_EQ(dig_->full("_burst4._tcp.marathon.mesos", "SRV").status, "NXDOMAIN");
}

TEST_F(DnsCluster, MasterDownKeepsLastGoodAnswersAndRestartFollowsAgain) {
  startCluster(58, 2);
  createApp(appBody("/steady", 2));
  ASSERT_TRUE(waitAppStable("/steady", 2));
  auto before = apiEndpoints("/steady");
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("steady") == before; }, 5000));

  ::kill(-master_.pid, SIGKILL);
  waitpid(master_.pid, nullptr, 0);
  master_.pid = -1;
  EXPECT_TRUE(waitFor([&] { return registryConnected() == 0; }, 5000))
      << "corral_registry_connected stayed " << registryConnected();
  // The last good data keeps being served, over UDP and TCP, for a while.
  auto t0 = Clock::now();
  Ares ares(dnsIp_, dnsPort_, {});
  while (msSince(t0) < 2000) {
    EXPECT_EQ(srvEndpoints("steady"), before);
    EXPECT_EQ(ares.endpoints("_steady._tcp.marathon.mesos"), before);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(dig_->endpoints("_steady._tcp.marathon.mesos", true), before);
  EXPECT_GT(metric("corral_registry_snapshot_age_seconds"), 0);

  startMaster();
  ASSERT_TRUE(waitFor([&] { return registryConnected() == 1; }, 15000))
      << "the registry did not reconnect";
  ASSERT_TRUE(waitAgentsActive(2));
  EXPECT_EQ(srvEndpoints("steady"), before);
  // Follows again: a change made after the restart shows up.
  scale("/steady", 3);
  ASSERT_TRUE(waitAppStable("/steady", 3));
  auto after = apiEndpoints("/steady");
  EXPECT_TRUE(waitFor([&] { return srvEndpoints("steady") == after; }, 5000));
  createApp(appBody("/fresh", 1));
  ASSERT_TRUE(waitAppStable("/fresh", 1));
  auto fresh = apiEndpoints("/fresh");
  EXPECT_TRUE(waitFor([&] { return ares.endpoints("_fresh._tcp.marathon.mesos") == fresh; }, 5000));
}

// --------------------------------------------------- Last-Event-ID resume

// The DNS server's event stream is cut (a relay between it and the master
// drops the connection and refuses new ones while the cluster changes): on
// reconnect it resumes with Last-Event-ID and gets only what it missed, the
// master confirming the resume; it does not re-read /v2/apps.
TEST_F(DnsCluster, DroppedEventStreamResumesWithLastEventIdWithoutReloading) {
  std::unique_ptr<testing::HttpRelay> relay;
  dnsMaster_ = [&] {
    relay = std::make_unique<testing::HttpRelay>(prefix_ + "8", masterIp_, masterPort_);
    EXPECT_TRUE(relay->ok());
    return relay->address();
  };
  startCluster(141, 1);
  createApp(appBody("/web", 1));
  ASSERT_TRUE(waitAppStable("/web", 1));
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("web") == apiEndpoints("/web"); }, 5000));
  ASSERT_EQ(metric("corral_registry_resyncs_total"), 1) << "one initial load";
  const int appsReads = relay->count("GET /v2/apps?");
  ASSERT_EQ(appsReads, 1);
  const double resumesBefore = masterMetric("corral_event_stream_resumes_total");

  relay->cut();
  ASSERT_TRUE(waitFor([&] { return registryConnected() == 0; }, 5000));
  // Missed while cut: a scale-up (status updates, a deployment, corral's own
  // launch-queue events, which take ids the DNS stream is not sent) and a new app.
  scale("/web", 3);
  createApp(appBody("/late", 1));
  ASSERT_TRUE(waitAppStable("/web", 3));
  ASSERT_TRUE(waitAppStable("/late", 1));
  auto web = apiEndpoints("/web");
  auto late = apiEndpoints("/late");
  EXPECT_NE(srvEndpoints("web"), web) << "the DNS server saw the change while cut off";
  relay->resume();

  ASSERT_TRUE(waitFor([&] { return srvEndpoints("web") == web; }, 15000))
      << "the missed scale-up never arrived";
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("late") == late; }, 5000));
  EXPECT_EQ(registryConnected(), 1);
  // Resumed, not reloaded: no second /v2/apps read, no resync counted.
  EXPECT_EQ(metric("corral_registry_resyncs_total"), 1);
  EXPECT_EQ(relay->count("GET /v2/apps?"), appsReads);
  EXPECT_GE(masterMetric("corral_event_stream_resumes_total"), resumesBefore + 1);
  int resumedStreams = 0;
  for (const auto& h : relay->heads()) {
    resumedStreams +=
        h.rfind("GET /v2/events", 0) == 0 && h.find("Last-Event-ID: ") != std::string::npos;
  }
  EXPECT_GE(resumedStreams, 1);
  // Live again: the next change applies incrementally.
  scale("/web", 2);
  ASSERT_TRUE(waitAppStable("/web", 2));
  auto two = apiEndpoints("/web");
  EXPECT_TRUE(waitFor([&] { return srvEndpoints("web") == two; }, 5000));
  EXPECT_EQ(metric("corral_registry_resyncs_total"), 1);
}

// After a master restart the DNS server's Last-Event-ID names an event of the
// previous process: the new master asks for a resync instead of replaying
// nothing, and the DNS server re-reads /v2/apps, so what changed while it was
// away is not missed.
TEST_F(DnsCluster, LastEventIdFromBeforeAMasterRestartIsReReadNotMissed) {
  std::unique_ptr<testing::HttpRelay> relay;
  dnsMaster_ = [&] {
    relay = std::make_unique<testing::HttpRelay>(prefix_ + "8", masterIp_, masterPort_);
    EXPECT_TRUE(relay->ok());
    return relay->address();
  };
  startCluster(142, 1);
  createApp(appBody("/web", 1));
  ASSERT_TRUE(waitAppStable("/web", 1));
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("web") == apiEndpoints("/web"); }, 5000));
  ASSERT_EQ(metric("corral_registry_resyncs_total"), 1);

  relay->cut();
  ASSERT_TRUE(waitFor([&] { return registryConnected() == 0; }, 5000));
  stopChild(master_);
  startMaster();
  ASSERT_TRUE(waitAgentsActive(1));
  // Changed on the new master before the DNS server is back.
  scale("/web", 2);
  createApp(appBody("/late", 1));
  ASSERT_TRUE(waitAppStable("/web", 2));
  ASSERT_TRUE(waitAppStable("/late", 1));
  auto web = apiEndpoints("/web");
  auto late = apiEndpoints("/late");
  relay->resume();

  ASSERT_TRUE(waitFor([&] { return srvEndpoints("web") == web; }, 15000));
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("late") == late; }, 5000));
  EXPECT_EQ(metric("corral_registry_resyncs_total"), 2) << "one reload after the restart";
  EXPECT_GE(masterMetric("corral_event_stream_resyncs_required_total"), 1);
  EXPECT_EQ(relay->count("GET /v2/apps?"), 2);
}

// --------------------------------------------------------- hostile input

int udpSocket(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int tcpConnect(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Waits up to timeoutMs for a datagram or stream bytes; "" when none (or closed).
std::string recvFor(int fd, int timeoutMs, bool* closed = nullptr) {
  pollfd p{fd, POLLIN, 0};
  if (closed) *closed = false;
  if (poll(&p, 1, timeoutMs) <= 0) return "";
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0) {
    if (closed) *closed = true;
    return "";
  }
  return std::string(buf, static_cast<size_t>(n));
}

// A well-formed query for name/type with the given id.
std::string makeQuery(uint16_t id, const std::string& name, uint16_t type) {
  std::string q;
  q += static_cast<char>(id >> 8);
  q += static_cast<char>(id & 0xff);
  q += std::string("\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
  std::istringstream in(name);
  std::string label;
  while (std::getline(in, label, '.')) {
    q += static_cast<char>(label.size());
    q += label;
  }
  q += '\0';
  q += static_cast<char>(type >> 8);
  q += static_cast<char>(type & 0xff);
  q += std::string("\x00\x01", 2);
  return q;
}

TEST_F(DnsCluster, HostileInputNeverStopsTheServerFromAnsweringOthers) {
  startCluster(59, 1);
  createApp(appBody("/victim", 1));
  ASSERT_TRUE(waitAppStable("/victim", 1));
  auto expected = apiEndpoints("/victim");
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("victim") == expected; }, 5000));
  Ares ares(dnsIp_, dnsPort_, {});
  Ares aresTcp(dnsIp_, dnsPort_, {.tcp = true, .edns = false, .domains = {}});
  auto stillServing = [&](const std::string& what) {
    EXPECT_TRUE(running(dns_)) << "corral dns died after " << what;
    EXPECT_EQ(dig_->addresses("victim.marathon.mesos"), hostsOf(expected)) << what;
    EXPECT_EQ(aresTcp.endpoints("_victim._tcp.marathon.mesos"), expected) << what;
    EXPECT_EQ(ares.endpoints("_victim._tcp.marathon.mesos"), expected) << what;
  };

  // TCP clients that connect and send nothing, held open through the test.
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    int fd = tcpConnect(dnsIp_, dnsPort_);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  stillServing("20 idle TCP connections");

  // UDP garbage: nothing or FORMERR comes back, never a crash.
  std::string good = makeQuery(0x1234, "victim.marathon.mesos", ns_t_a);
  std::string selfLoop = makeQuery(0x2222, "victim.marathon.mesos", ns_t_a);
  selfLoop.replace(12, 2, std::string("\xc0\x0c", 2));  // pointer to itself
  std::string liar = good;
  liar[5] = 9;  // QDCOUNT 9, one question present
  std::string outOfRange = good;
  outOfRange.replace(12, 2, std::string("\xc0\xff", 2));  // pointer past the end
  std::string longLabel = good.substr(0, 12) + std::string(1, '\x3f') + std::string(63, 'a') +
                          std::string(1, '\x3f') + std::string(63, 'b') + std::string(1, '\x3f') +
                          std::string(63, 'c') + std::string(1, '\x3f') + std::string(63, 'd') +
                          std::string(1, '\x3f') + std::string(63, 'e') +
                          std::string("\0\0\1\0\1", 5);
  std::string random;
  srand(42);
  for (int i = 0; i < 512; ++i) random += static_cast<char>(rand() & 0xff);
  std::vector<std::pair<std::string, std::string>> udpCases{
      {"empty datagram", ""},
      {"one byte", "\x01"},
      {"11 bytes (short header)", good.substr(0, 11)},
      {"header only", good.substr(0, 12)},
      {"truncated in the name", good.substr(0, 20)},
      {"truncated before the class", good.substr(0, good.size() - 2)},
      {"compression loop", selfLoop},
      {"pointer out of range", outOfRange},
      {"QDCOUNT lies", liar},
      {"name over 255 octets", longLabel},
      {"random bytes", random},
      {"response bit set", std::string(good).replace(2, 1, "\x80")},
  };
  int udp = udpSocket(dnsIp_, dnsPort_);
  ASSERT_GE(udp, 0);
  for (const auto& [what, pkt] : udpCases) {
    ASSERT_GE(::send(udp, pkt.data(), pkt.size(), 0), 0) << what;
    std::string reply = recvFor(udp, 300);
    if (!reply.empty()) {
      ASSERT_GE(reply.size(), 12u) << what;
      int rcode = reply[3] & 0x0f;
      EXPECT_TRUE(rcode == ns_r_formerr || rcode == ns_r_notimpl || rcode == ns_r_nxdomain ||
                  rcode == ns_r_noerror)
          << what << ": rcode " << rcode;
      if (pkt.size() >= 2) {
        EXPECT_EQ(reply.substr(0, 2), pkt.substr(0, 2)) << what << ": id";
      }
      // A response to a response would start a loop; it must never be answered.
      EXPECT_NE(what, "response bit set") << "answered a response";
    }
  }
  stillServing("UDP garbage");
  // The same socket still gets a real answer after all that.
  ASSERT_GE(::send(udp, good.data(), good.size(), 0), 0);
  std::string reply = recvFor(udp, 2000);
  ASSERT_GE(reply.size(), 12u);
  EXPECT_EQ(reply.substr(0, 2), good.substr(0, 2));
  EXPECT_EQ(reply[3] & 0x0f, ns_r_noerror);
  EXPECT_EQ((static_cast<unsigned char>(reply[6]) << 8) | static_cast<unsigned char>(reply[7]), 1);
  ::close(udp);

  // TCP garbage: FORMERR or a closed connection, within a bounded time.
  auto framed = [](const std::string& msg) {
    std::string out;
    out += static_cast<char>(msg.size() >> 8);
    out += static_cast<char>(msg.size() & 0xff);
    return out + msg;
  };
  std::vector<std::pair<std::string, std::string>> tcpCases{
      {"random bytes", random},
      {"framed random bytes", framed(random.substr(0, 100))},
      {"framed compression loop", framed(selfLoop)},
      {"zero length frame", std::string("\0\0", 2)},
      {"framed short header", framed(good.substr(0, 5))},
      {"HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
  };
  for (const auto& [what, bytes] : tcpCases) {
    int fd = tcpConnect(dnsIp_, dnsPort_);
    ASSERT_GE(fd, 0);
    ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    // Either a (FORMERR) reply and/or a close; whatever comes, it comes soon
    // or the connection is left to its idle timeout — and others are served.
    bool closed = false;
    std::string got = recvFor(fd, 1000, &closed);
    if (got.size() >= 14) {
      int rcode = got[5] & 0x0f;
      EXPECT_TRUE(rcode == ns_r_formerr || rcode == ns_r_notimpl) << what << ": rcode " << rcode;
    }
    stillServing("TCP " + what);
    ::close(fd);
  }

  // A TCP client that sends half a query and stalls does not block the others.
  int half = tcpConnect(dnsIp_, dnsPort_);
  std::string f = framed(good);
  ::send(half, f.data(), 7, MSG_NOSIGNAL);
  stillServing("half a TCP query");
  // …and a pipelined pair of queries on one connection both get answers.
  int piped = tcpConnect(dnsIp_, dnsPort_);
  std::string two = framed(makeQuery(1, "victim.marathon.mesos", ns_t_a)) +
                    framed(makeQuery(2, "_victim._tcp.marathon.mesos", ns_t_srv));
  ASSERT_EQ(::send(piped, two.data(), two.size(), MSG_NOSIGNAL), static_cast<ssize_t>(two.size()));
  std::string stream;
  std::set<int> ids;
  auto t0 = Clock::now();
  while (ids.size() < 2 && msSince(t0) < 3000) {
    stream += recvFor(piped, 500);
    while (stream.size() >= 2) {
      size_t len =
          (static_cast<unsigned char>(stream[0]) << 8) | static_cast<unsigned char>(stream[1]);
      if (stream.size() < 2 + len) break;
      if (len >= 2)
        ids.insert((static_cast<unsigned char>(stream[2]) << 8) |
                   static_cast<unsigned char>(stream[3]));
      stream.erase(0, 2 + len);
    }
  }
  EXPECT_EQ(ids, (std::set<int>{1, 2}));
  ::close(piped);
  ::close(half);
  for (int fd : idle) ::close(fd);
  stillServing("everything");
  EXPECT_TRUE(running(dns_));
}

// ------------------------------------------------ rate limiting and sizes

// A UDP socket bound to `source` (any loopback address works on Linux) and
// connected to the server.
int udpSocketFrom(const std::string& source, const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// makeQuery plus an OPT record advertising `udpSize`.
std::string makeEdnsQuery(uint16_t id, const std::string& name, uint16_t type, uint16_t udpSize) {
  std::string q = makeQuery(id, name, type);
  q[11] = 1;  // ARCOUNT
  q += std::string("\x00\x00\x29", 3);
  q += static_cast<char>(udpSize >> 8);
  q += static_cast<char>(udpSize & 0xff);
  q += std::string("\x00\x00\x00\x00\x00\x00", 6);
  return q;
}

struct Reply {
  uint16_t id = 0;
  bool tc = false;
  int answers = 0;
  size_t size = 0;
};

Reply parseReply(const std::string& r) {
  Reply out;
  if (r.size() < 12) return out;
  auto u8 = [&](size_t i) { return static_cast<uint8_t>(r[i]); };
  out.id = static_cast<uint16_t>(u8(0) << 8 | u8(1));
  out.tc = (u8(2) & 0x02) != 0;
  out.answers = u8(6) << 8 | u8(7);
  out.size = r.size();
  return out;
}

TEST_F(DnsCluster, RateLimitingHoldsBackAFloodFromOneSourceWhileOthersAreAnswered) {
  // Loopback turns RRL off unless asked; /32 so that .77 and .78 are apart.
  startCluster(60, 0, {"--rrl-rate", "20", "--rrl-slip", "2", "--rrl-ipv4-prefix", "32"});
  int flood = udpSocketFrom("127.0.0.77", dnsIp_, dnsPort_);
  int other = udpSocketFrom("127.0.0.78", dnsIp_, dnsPort_);
  ASSERT_GE(flood, 0);
  ASSERT_GE(other, 0);
  const int kFlood = 600;
  const int kOther = 10;
  auto t0 = Clock::now();
  int otherAnswered = 0;
  int answered = 0, slipped = 0, total = 0;
  Reply r;
  // Replies are read as they come, so that none is lost to a full socket buffer.
  auto take = [&](int timeoutMs) {
    while (true) {
      std::string got = recvFor(flood, timeoutMs);
      if (got.empty()) return;
      r = parseReply(got);
      ++total;
      if (r.tc && r.answers == 0) {
        ++slipped;
      } else if (!r.tc && r.answers == 1) {
        ++answered;
      }
    }
  };
  for (int i = 0; i < kFlood; ++i) {
    std::string q = makeQuery(static_cast<uint16_t>(i), "leader.mesos", 1);
    ASSERT_EQ(::send(flood, q.data(), q.size(), 0), static_cast<ssize_t>(q.size()));
    take(0);
    if (i % (kFlood / kOther) == 0) {
      // The other source, at well under the rate, in the middle of the flood.
      std::string oq = makeQuery(static_cast<uint16_t>(50000 + i), "leader.mesos", 1);
      ASSERT_EQ(::send(other, oq.data(), oq.size(), 0), static_cast<ssize_t>(oq.size()));
      Reply o = parseReply(recvFor(other, 2000));
      if (o.id == 50000 + i && !o.tc && o.answers == 1) ++otherAnswered;
    }
  }
  int64_t floodMs = msSince(t0);
  take(500);
  ::close(flood);
  ::close(other);
  EXPECT_EQ(otherAnswered, kOther);
  // One second's worth at the start, plus what the rate refills while the flood lasts.
  EXPECT_GE(answered, 20);
  EXPECT_LE(answered, 20 + 20 * (floodMs / 1000 + 1)) << "in " << floodMs << " ms";
  int limited = kFlood - answered;
  // slip 2: every other limited answer comes back empty with TC, the rest are dropped.
  EXPECT_NEAR(slipped, limited / 2, 2) << total << " replies";
  EXPECT_EQ(total, answered + slipped);
  EXPECT_EQ(metric("corral_dns_rrl_slipped_total"), slipped);
  EXPECT_EQ(metric("corral_dns_rrl_dropped_total"), limited - slipped);
}

TEST_F(DnsCluster, LargeSrvAnswersOverUdpNeverExceedTheClientsEdnsSize) {
  startCluster(61, 2);
  // 100 tasks: their SRV set is ~5 KB, far above any UDP size we answer with.
  createApp(appBody("/big", 100, Json{{"cmd", "exec sleep 600"}, {"cpus", 0.01}, {"mem", 4}}));
  ASSERT_TRUE(waitAppStable("/big", 100, false, 120000)) << tasks("/big").size() << " tasks";
  ASSERT_TRUE(waitFor([&] { return srvEndpoints("big").size() == 100; }, 10000, 200))
      << srvEndpoints("big").size() << " SRV records over TCP";
  int fd = udpSocket(dnsIp_, dnsPort_);
  ASSERT_GE(fd, 0);
  struct Case {
    int ednsSize;  // -1: no EDNS
    size_t limit;
  };
  // Ours is 1232 (the default EDNS size): a client asking for more gets 1232.
  for (Case c : {Case{-1, 512}, Case{512, 512}, Case{1232, 1232}, Case{4096, 1232},
                 Case{65535, 1232}, Case{100, 512}}) {
    std::string q = c.ednsSize < 0 ? makeQuery(7, "_big._tcp.marathon.mesos", 33)
                                   : makeEdnsQuery(7, "_big._tcp.marathon.mesos", 33,
                                                   static_cast<uint16_t>(c.ednsSize));
    ASSERT_EQ(::send(fd, q.data(), q.size(), 0), static_cast<ssize_t>(q.size()));
    Reply r = parseReply(recvFor(fd, 2000));
    EXPECT_EQ(r.id, 7) << "EDNS " << c.ednsSize;
    EXPECT_GT(r.size, 0u) << "EDNS " << c.ednsSize;
    EXPECT_LE(r.size, c.limit) << "EDNS " << c.ednsSize;
    EXPECT_TRUE(r.tc) << "EDNS " << c.ednsSize;
  }
  ::close(fd);
  // dig retries over TCP after TC and gets all 100.
  EXPECT_EQ(dig_->endpoints("_big._tcp.marathon.mesos", false).size(), 100u);
}

}  // namespace
}  // namespace corral
