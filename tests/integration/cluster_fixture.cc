#include "tests/integration/cluster_fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace corral::it {

namespace fs = std::filesystem;

Json HttpResult::json() const {
  auto j = parseJson(body);
  return j.ok() ? *j : Json();
}

// ------------------------------------------------------------------ Client

HttpResult Client::request(const std::string& method, const std::string& host, int port,
                           const std::string& target, const std::string& body,
                           http::Headers headers, uint64_t timeoutMs,
                           std::shared_ptr<const tls::Context> tls) {
  http::Request req;
  req.method = method;
  req.target = target;
  req.headers = std::move(headers);
  if (!body.empty()) {
    bool hasType = false;
    for (const auto& [k, v] : req.headers) hasType |= strcasecmp(k.c_str(), "Content-Type") == 0;
    if (!hasType) req.headers.emplace_back("Content-Type", "application/json");
  }
  req.body = body;
  auto result = std::make_shared<std::optional<HttpResult>>();
  CancelHandle call = http::fetch(
      loop_, host, port, std::move(req),
      [result](Result<http::Response> r) {
        HttpResult out;
        if (r.ok()) {
          out.status = r->status;
          out.body = r->body;
          out.headers = r->headers;
        } else {
          out.error = r.error().message;
        }
        *result = std::move(out);
      },
      http::ClientOptions{.timeoutMs = timeoutMs, .tls = std::move(tls)});
  loop_.runUntil([&] { return result->has_value(); }, timeoutMs + 2000);
  if (!result->has_value()) {
    HttpResult out;
    out.error = "no answer within " + std::to_string(timeoutMs) + " ms";
    return out;
  }
  return **result;
}

void Client::pump(uint64_t ms) {
  loop_.runUntil([] { return false; }, ms);
}

bool Client::waitFor(const std::function<bool()>& pred, uint64_t timeoutMs, uint64_t pollMs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    pump(pollMs);
  }
}

// ------------------------------------------------------------- EventStream

EventStream::EventStream(Client& client, const std::string& host, int port,
                         const std::string& query, std::optional<uint64_t> lastEventId,
                         http::Headers headers)
    : client_(client), alive_(std::make_shared<bool>(true)) {
  http::Request req;
  req.headers = std::move(headers);
  req.method = "GET";
  req.target = "/v2/events" + query;
  req.headers.emplace_back("Accept", "text/event-stream");
  if (lastEventId) req.headers.emplace_back("Last-Event-ID", std::to_string(*lastEventId));
  std::weak_ptr<bool> alive = alive_;
  http::StreamCallbacks cb;
  cb.onHead = [this, alive](const http::Response& head) {
    if (alive.lock()) status_ = head.status;
  };
  cb.onData = [this, alive](std::string_view chunk) {
    if (alive.lock()) onData(chunk);
  };
  cb.onEnd = [this, alive](Status) {
    if (alive.lock()) ended_ = true;
  };
  handle_ = http::openStream(client_.loop(), host, port, std::move(req), std::move(cb),
                             http::ClientOptions{.timeoutMs = 5000, .tls = nullptr});
  client_.loop().runUntil([this] { return status_ != 0 || ended_; }, 5000);
}

EventStream::~EventStream() { close(); }

void EventStream::close() {
  handle_.reset();
  ended_ = true;
}

void EventStream::onData(std::string_view chunk) {
  raw_.append(chunk);
  buffer_.append(chunk);
  // Events are separated by a blank line.
  while (true) {
    auto end = buffer_.find("\n\n");
    if (end == std::string::npos) break;
    std::string block = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    SseEvent e;
    std::string data;
    bool any = false;
    std::istringstream in(block);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == ':') continue;
      auto colon = line.find(':');
      std::string field = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (field == "id") {
        e.id = std::strtoull(value.c_str(), nullptr, 10);
        any = true;
      } else if (field == "event") {
        e.type = value;
        any = true;
      } else if (field == "data") {
        if (!data.empty()) data += "\n";
        data += value;
        any = true;
      }
    }
    if (!any) continue;
    auto j = parseJson(data);
    if (j.ok()) e.data = *j;
    events_.push_back(std::move(e));
  }
}

std::optional<SseEvent> EventStream::waitFor(const std::function<bool(const SseEvent&)>& pred,
                                             uint64_t timeoutMs) {
  std::optional<SseEvent> found;
  size_t checked = 0;
  auto scan = [&] {
    for (; checked < events_.size(); ++checked) {
      if (pred(events_[checked])) {
        found = events_[checked];
        return true;
      }
    }
    return false;
  };
  client_.loop().runUntil(scan, timeoutMs);
  if (!found) scan();
  return found;
}

// ---------------------------------------------------------------- helpers

int freePort(const std::string& ip) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
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

namespace {

Child spawnChild(const std::string& name, const std::vector<std::string>& args,
                 const std::string& logPath) {
  Child c;
  c.name = name;
  c.logPath = logPath;
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
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ADD_FAILURE() << "cannot spawn " << args[0] << ": " << strerror(rc);
    return c;
  }
  c.pid = pid;
  return c;
}

bool reaped(pid_t pid) {
  int st;
  pid_t r = waitpid(pid, &st, WNOHANG);
  return r == pid || (r < 0 && errno == ECHILD);
}

// Stops a child's process group: SIGTERM, then SIGKILL after graceMs.
void stopChild(Child& c, uint64_t graceMs) {
  if (c.pid <= 0) return;
  ::kill(-c.pid, SIGCONT);
  ::kill(-c.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(graceMs);
  while (!reaped(c.pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-c.pid, SIGKILL);
      waitpid(c.pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  c.pid = -1;
}

std::string tailFile(const std::string& path, size_t maxLines) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  std::string out;
  size_t start = lines.size() > maxLines ? lines.size() - maxLines : 0;
  if (start > 0) out += "  … (" + std::to_string(start) + " earlier lines)\n";
  for (size_t i = start; i < lines.size(); ++i) out += "  " + lines[i] + "\n";
  return out;
}

// Kills every process whose working directory lies under dir: the tasks of
// agents that were killed with -9 (tasks run in their own process groups).
void killProcessesUnder(const std::string& dir) {
  DIR* d = opendir("/proc");
  if (!d) return;
  while (dirent* e = readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 1 || pid == getpid()) continue;
    std::error_code ec;
    auto cwd = fs::read_symlink(fs::path("/proc") / e->d_name / "cwd", ec);
    if (ec) continue;
    if (cwd.string().rfind(dir, 0) == 0) {
      ::kill(-static_cast<pid_t>(pid), SIGKILL);
      ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
  }
  closedir(d);
}

}  // namespace

const char* ClusterFixture::corralBin() { return CORRAL_BIN; }

std::string ClusterFixture::demoCmd(const std::string& prefix) {
  return prefix + "exec " + std::string(CORRAL_BIN) + " demo-server";
}

bool isHealthy(const Json& task) {
  if (task.value("state", "") != "TASK_RUNNING") return false;
  const auto& r = task.value("healthCheckResults", Json::array());
  if (!r.is_array() || r.empty()) return false;
  for (const auto& x : r) {
    if (!x.value("alive", false)) return false;
  }
  return true;
}

Child spawnProcess(const std::string& name, const std::vector<std::string>& args,
                   const std::string& logPath) {
  return spawnChild(name, args, logPath);
}
void stopProcess(Child& c, uint64_t graceMs) { stopChild(c, graceMs); }
std::string tailLog(const std::string& path, size_t maxLines) { return tailFile(path, maxLines); }

// ---------------------------------------------------------- ClusterFixture

void ClusterFixture::SetUp() {
  std::string tmpl = (fs::temp_directory_path() / "corral-it-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  dir_ = tmpl;
}

void ClusterFixture::TearDown() {
  for (auto& a : agents_) stopChild(a.child, 5000);
  stopChild(master_, 5000);
  killProcessesUnder(dir_);
  if (HasFailure()) {
    std::cerr << "\n===== cluster logs (work dir " << dir_ << ") =====\n";
    std::vector<Child> all = retired_;
    all.push_back(master_);
    if (master_.logPath.empty()) all.pop_back();
    for (const auto& a : agents_) all.push_back(a.child);
    std::set<std::string> seen;
    for (const auto& c : all) {
      if (c.logPath.empty() || !seen.insert(c.logPath).second) continue;
      std::cerr << "----- " << c.name << " (" << c.logPath << ") -----\n"
                << tailFile(c.logPath, 250);
    }
    std::cerr << "===== end of cluster logs =====\n";
  } else {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

void ClusterFixture::startCluster(int net, int agents, std::vector<std::string> masterArgs,
                                  std::vector<std::string> attributes) {
  net_ = net;
  masterIp_ = "127." + std::to_string(net) + ".0.1";
  masterPort_ = freePort(masterIp_);
  ASSERT_GT(masterPort_, 0) << "cannot bind " << masterIp_;
  masterArgs_ = std::move(masterArgs);
  startMaster();
  for (int i = 0; i < agents; ++i) {
    AgentProc a;
    a.ip = "127." + std::to_string(net) + ".0." + std::to_string(2 + i);
    a.port = freePort(a.ip);
    a.workDir = dir_ + "/agent" + std::to_string(i);
    a.attributes =
        i < static_cast<int>(attributes.size()) ? attributes[i] : "rack:r" + std::to_string(i);
    agents_.push_back(a);
    startAgent(agents_.size() - 1);
  }
  ASSERT_TRUE(waitAgentsActive(static_cast<size_t>(agents))) << "agents did not become ACTIVE";
}

void ClusterFixture::startMaster() {
  std::vector<std::string> args{corralBin(),  "master",
                                "--listen",   masterIp_ + ":" + std::to_string(masterPort_),
                                "--work-dir", dir_ + "/master"};
  args.insert(args.end(), masterArgs_.begin(), masterArgs_.end());
  if (master_.pid > 0) retired_.push_back(master_);
  master_ = spawnChild("master", args, dir_ + "/master.log");
  ASSERT_GT(master_.pid, 0);
  bool up = client_.waitFor([&] { return api("GET", "/ping").status == 200; }, 15000, 50);
  ASSERT_TRUE(up) << "master did not answer /ping";
}

void ClusterFixture::killMaster(int sig) {
  ASSERT_GT(master_.pid, 0);
  ::kill(-master_.pid, sig);
  waitpid(master_.pid, nullptr, 0);
  retired_.push_back(master_);
  master_.pid = -1;
}

void ClusterFixture::startAgent(size_t i) {
  AgentProc& a = agents_[i];
  std::vector<std::string> args{corralBin(),    "agent",
                                "--ip",         a.ip,
                                "--port",       std::to_string(a.port),
                                "--master",     masterUrl(),
                                "--resources",  "cpus:4;mem:4096;disk:1000;ports:[31000-31100]",
                                "--attributes", a.attributes,
                                "--work-dir",   a.workDir};
  if (masterTls_) args.insert(args.end(), {"--ca-file", masterCaFile_});
  args.insert(args.end(), agentArgs_.begin(), agentArgs_.end());
  a.child = spawnChild("agent " + a.ip, args, dir_ + "/agent" + std::to_string(i) + ".log");
  ASSERT_GT(a.child.pid, 0);
}

bool ClusterFixture::waitAgentsActive(size_t n, uint64_t timeoutMs) {
  return client_.waitFor(
      [&] {
        Json j = getJson("/v1/agents");
        if (!j.contains("agents")) return false;
        size_t active = 0;
        for (const auto& a : j["agents"]) active += a.value("status", "") == "ACTIVE";
        return active >= n;
      },
      timeoutMs);
}

std::string ClusterFixture::masterUrl() const {
  return (masterTls_ ? "https://" : "") + masterIp_ + ":" + std::to_string(masterPort_);
}

HttpResult ClusterFixture::api(const std::string& method, const std::string& target,
                               const std::string& body, http::Headers headers) {
  for (const auto& h : apiHeaders_) {
    if (!http::findHeader(headers, h.first)) headers.push_back(h);
  }
  return client_.request(method, masterIp_, masterPort_, target, body, std::move(headers), 10000,
                         masterTls_);
}

Json ClusterFixture::getJson(const std::string& target) {
  auto r = api("GET", target);
  if (r.status != 200) return Json();
  return r.json();
}

Json ClusterFixture::app(const std::string& id) {
  Json j = getJson("/v2/apps" + id);
  return j.contains("app") ? j["app"] : Json();
}

std::vector<Json> ClusterFixture::tasks(const std::string& appId) {
  Json j = getJson("/v2/apps" + appId + "/tasks");
  std::vector<Json> out;
  if (j.contains("tasks")) {
    for (const auto& t : j["tasks"]) out.push_back(t);
  }
  return out;
}

bool ClusterFixture::waitAppStable(const std::string& appId, int instances, uint64_t timeoutMs) {
  return client_.waitFor(
      [&] {
        Json a = app(appId);
        if (a.is_null()) return false;
        if (!a["deployments"].empty()) return false;
        bool checks = !a.value("healthChecks", Json::array()).empty();
        const auto& ts = a["tasks"];
        if (static_cast<int>(ts.size()) != instances) return false;
        for (const auto& t : ts) {
          if (t.value("state", "") != "TASK_RUNNING") return false;
          if (checks && !isHealthy(t)) return false;
        }
        return true;
      },
      timeoutMs, 150);
}

Json ClusterFixture::agentState(const AgentProc& a) {
  auto r = client_.request("GET", a.ip, a.port, "/state", "", agentHeaders_, 3000);
  return r.status == 200 ? r.json() : Json();
}

const AgentProc* ClusterFixture::agentByIp(const std::string& ip) const {
  for (const auto& a : agents_) {
    if (a.ip == ip) return &a;
  }
  return nullptr;
}

int ClusterFixture::taskPid(const std::string& host, const std::string& taskId) {
  const AgentProc* a = agentByIp(host);
  if (!a) return -1;
  Json st = agentState(*a);
  for (const auto& t : st.value("tasks", Json::array())) {
    if (t.value("id", "") == taskId) return t.value("pid", -1);
  }
  return -1;
}

std::string ClusterFixture::hitTask(const std::string& host, int port, uint64_t timeoutMs) {
  auto r = client_.request("GET", host, port, "/", "", {}, timeoutMs);
  return r.status == 200 ? r.body : "";
}

}  // namespace corral::it
