// `corral up`: a one-machine cluster. It runs the master and N agents as
// child processes of this one (so that a crashed or killed part can be
// restarted while tasks keep running), deploys the demo app, prints how to
// reach it, and stops everything on Ctrl-C / SIGTERM / SIGHUP. Its parts never
// outlive it, and a `corral up` on a work dir an earlier one was killed on
// stops what that one left running (see cli/up_parts.h).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "base/json.h"
#include "base/log.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/up_credentials.h"
#include "cli/up_parts.h"

namespace corral::cli {

namespace fs = std::filesystem;

std::string selfExe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "corral" : p.string();
}

namespace {

constexpr int kDefaultMasterPort = 8080;
constexpr int kAgentPort = 5051;
// Longest wait for a part to stop after SIGTERM before SIGKILL: agents stop
// their tasks first (grace periods, 5 s by default) and deliver the statuses.
constexpr uint64_t kPartStopMs = 20000;

struct UpFlags {
  int agents = 2;
  bool demo = false;
  std::string workDir = ".corral";
  int masterPort = kDefaultMasterPort;
  int dnsPort = 8053;
  int dnsHttpPort = 8123;
  bool noDns = false;
  int proxyHttpPort = 8000;
  int proxyAdminPort = 9090;
  bool noProxy = false;
};

volatile sig_atomic_t g_stop = 0;

bool waitFor(const std::function<bool()>& pred, int seconds) {
  for (int i = 0; i < seconds * 10 && !g_stop; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

// Agents listen on their own loopback addresses (each offers the same port
// range). With the default master port they are 127.0.0.2, 127.0.0.3, ...;
// with another one, 127.<port / 256>.<port % 256>.2, ..., so that a second
// cluster on the machine (its own --master-port) does not collide with the first.
std::string agentIp(int masterPort, int index) {
  std::string prefix = masterPort == kDefaultMasterPort
                           ? std::string("127.0.0.")
                           : "127." + std::to_string((masterPort >> 8) & 0xff) + "." +
                                 std::to_string(masterPort & 0xff) + ".";
  return prefix + std::to_string(index + 2);
}

// Everything that must be free before the parts start, so that a clash is one
// clear refusal rather than parts failing over and over.
Status checkAddresses(const UpFlags& f) {
  if (Status st = checkAddressFree("127.0.0.1", f.masterPort, false, "the master's",
                                   "Pass another --master-port.");
      !st.ok()) {
    return st;
  }
  for (int i = 0; i < f.agents; ++i) {
    if (Status st = checkAddressFree(agentIp(f.masterPort, i), kAgentPort, false, "an agent's",
                                     "Agents' addresses follow --master-port: pass another one.");
        !st.ok()) {
      return st;
    }
  }
  if (!f.noProxy) {
    const std::string proxyHint =
        "Pass another --proxy-http-port and --proxy-admin-port, or --no-proxy.";
    for (auto [port, what] : {std::pair{f.proxyHttpPort, "the proxy's"},
                              std::pair{f.proxyAdminPort, "the proxy admin"}}) {
      if (Status st = checkAddressFree("127.0.0.1", port, false, what, proxyHint); !st.ok()) {
        return st;
      }
    }
  }
  if (f.noDns) return Status::Ok();
  const std::string hint = "Pass another --dns-port and --dns-http-port, or --no-dns.";
  for (bool udp : {true, false}) {
    if (Status st = checkAddressFree("127.0.0.1", f.dnsPort, udp, "the DNS", hint); !st.ok()) {
      return st;
    }
  }
  return checkAddressFree("127.0.0.1", f.dnsHttpPort, false, "the DNS HTTP API's", hint);
}

// Stops the parts: DNS and agents first (agents stop their tasks and deliver
// the last statuses, bounded by the tasks' grace periods), then the master.
void stopParts(std::vector<Part>& parts) {
  auto stop = [](std::vector<Part*> group, uint64_t graceMs) {
    for (Part* p : group) {
      if (p->pid > 0) ::kill(p->pid, SIGTERM);
    }
    uint64_t deadline = steadyNowMs() + graceMs;
    for (Part* p : group) {
      while (p->pid > 0) {
        if (waitpid(p->pid, nullptr, WNOHANG) == p->pid) {
          p->pid = -1;
        } else if (steadyNowMs() >= deadline) {
          log::warn("{} did not stop within {} s: SIGKILL", p->name, graceMs / 1000);
          ::kill(p->pid, SIGKILL);
          waitpid(p->pid, nullptr, 0);
          p->pid = -1;
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    }
  };
  std::vector<Part*> first;
  for (size_t i = 1; i < parts.size(); ++i) first.push_back(&parts[i]);
  stop(first, kPartStopMs);
  stop({&parts[0]}, kPartStopMs);
}

int runUp(const UpFlags& f) {
  log::setComponent("up");
  std::string exe = selfExe();
  std::error_code ec;
  fs::create_directories(f.workDir + "/logs", ec);
  if (ec) {
    log::error("cannot create {}/logs: {}", f.workDir, ec.message());
    return 1;
  }
  std::string wd = fs::absolute(f.workDir).string();
  // SIGHUP (the terminal closed) stops the cluster like Ctrl-C and SIGTERM.
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = 1; };
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  if (f.agents < 0 || f.agents > 250) {
    log::error("--agents: expected 0 to 250, got {}", f.agents);
    return 2;
  }
  // In this order: never stop the parts of a `corral up` that still runs.
  Status ready = lockWorkDir(wd);
  if (ready.ok()) ready = stopLeftovers(wd, kPartStopMs);
  if (ready.ok()) ready = checkAddresses(f);
  if (!ready.ok()) {
    log::error("{}", ready.error().message);
    return 1;
  }
  // Every part authenticates: agents to the master, the master to agents,
  // API users to the master (an admin for up and the CLI, a viewer for dns
  // and proxy), with credentials kept in <work-dir>/credentials.
  auto creds = ensureUpCredentials(wd);
  if (!creds.ok()) {
    log::error("{}", creds.error().message);
    return 1;
  }
  masterCredentialsFile() = creds->adminFile;
  std::string master = "127.0.0.1:" + std::to_string(f.masterPort);
  std::vector<Part> children;
  children.push_back(
      Part{"master",
           {exe, "master", "--listen", master, "--work-dir", wd + "/master", "--credentials",
            creds->agentFile, "--http-credentials-file", creds->apiUsersFile},
           wd + "/logs/master.log"});
  std::vector<std::string> agentIps;
  for (int i = 0; i < f.agents; ++i) {
    std::string ip = agentIp(f.masterPort, i);
    agentIps.push_back(ip);
    // Each agent has its own address, so all can offer Mesos' usual range;
    // it stays below Linux's ephemeral ports (32768 and up).
    std::string res = "cpus:4;mem:4096;disk:10000;ports:[31000-31999]";
    children.push_back(
        Part{"agent-" + ip,
             {exe, "agent", "--ip", ip, "--port", std::to_string(kAgentPort), "--master", master,
              "--resources", res, "--attributes", "rack:r" + std::to_string(i % 2), "--work-dir",
              wd + "/agent-" + ip, "--credential", creds->agentFile, "--http-credentials-file",
              creds->apiUsersFile},
             wd + "/logs/agent-" + ip + ".log"});
  }
  if (!f.noDns) {
    children.push_back(Part{"dns",
                            {exe, "dns", "--listen", "127.0.0.1:" + std::to_string(f.dnsPort),
                             "--http-listen", "127.0.0.1:" + std::to_string(f.dnsHttpPort),
                             "--master", master, "--master-credentials", creds->viewerFile},
                            wd + "/logs/dns.log"});
  }
  if (!f.noProxy) {
    // The edge proxy: apps labelled HAPROXY_GROUP=external, vhosts on :8000.
    children.push_back(
        Part{"proxy",
             {exe, "proxy", "--master", master, "--group", "external", "--http-listen",
              "127.0.0.1:" + std::to_string(f.proxyHttpPort), "--https-listen=", "--admin-listen",
              "127.0.0.1:" + std::to_string(f.proxyAdminPort), "--service-bind", "127.0.0.1",
              "--master-credentials", creds->viewerFile},
             wd + "/logs/proxy.log"});
  }
  auto pingOk = [&] {
    auto r = call(master, "GET", "/ping", "", 1000);
    return r.ok() && r->status == 200;
  };
  // The master first, so that agents and DNS find it on their first try.
  for (size_t i = 0; i < children.size(); ++i) {
    Part& c = children[i];
    if (Status st = startPart(c); !st.ok()) {
      log::error("{}", st.error().message);
      stopParts(children);
      return 1;
    }
    recordParts(wd, children);
    log::info("started {} (pid {}), log: {}", c.name, c.pid, c.logFile);
    if (i == 0 && !waitFor(pingOk, 20)) {
      log::error("master did not come up; see {}", c.logFile);
    }
  }
  waitFor(
      [&] {
        auto r = call(master, "GET", "/v1/agents", "", 1000);
        if (!r.ok()) return false;
        auto j = parseJson(r->body);
        int active = 0;
        if (j.ok()) {
          for (const auto& a : (*j)["agents"]) active += a.value("status", "") == "ACTIVE";
        }
        return active >= f.agents;
      },
      20);
  if (f.demo) {
    Json app;
    app["id"] = "/demo";
    app["cmd"] = "exec '" + exe + "' demo-server";
    app["instances"] = 2;
    app["cpus"] = 0.1;
    app["mem"] = 32;
    app["portDefinitions"] = Json::array({Json{{"port", 0}, {"name", "http"}}});
    app["healthChecks"] = Json::array({Json{{"protocol", "HTTP"},
                                            {"path", "/health"},
                                            {"portIndex", 0},
                                            {"gracePeriodSeconds", 10},
                                            {"intervalSeconds", 2},
                                            {"timeoutSeconds", 2},
                                            {"delaySeconds", 0},
                                            {"maxConsecutiveFailures", 3}}});
    app["labels"] = Json{{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "demo.example.test"}};
    auto r = call(master, "POST", "/v2/apps", dumpJson(app));
    if (r.ok() && r->status == 201) {
      log::info("demo app /demo deployed");
    } else if (r.ok() && r->status == 409) {
      log::info("demo app /demo already exists (recovered from {})", wd);
    } else {
      log::error("cannot deploy the demo app: {}", r.ok() ? r->body : r.error().message);
    }
    waitFor(
        [&] {
          auto t = call(master, "GET", "/v2/apps/demo", "", 1000);
          if (!t.ok()) return false;
          auto j = parseJson(t->body);
          return j.ok() && (*j)["app"].value("tasksHealthy", 0) >= 2;
        },
        30);
  }
  // The API needs credentials (README, "Credentials"): the curl lines carry them.
  std::string userPass = creds->adminUser + ":" + creds->adminPassword;
  // The client verbs as they work from here: they find .corral/credentials/admin
  // themselves (a master on loopback), other work dirs are named.
  bool defaultDir = fs::path(wd).lexically_normal() == fs::absolute(".corral").lexically_normal();
  std::string cli = (defaultDir ? "" : "CORRAL_MASTER_CREDENTIALS=" + creds->adminFile + " ") +
                    "corral app list" +
                    (f.masterPort == kDefaultMasterPort ? "" : " --master " + master);
  std::cout << "\ncorral is up: master http://" << master << " with " << f.agents << " agent(s) on "
            << (agentIps.empty() ? "-" : agentIps.front()) << (agentIps.size() > 1 ? ".." : "")
            << "; state and logs in " << wd << "\n"
            << "  curl -u " << userPass << " http://" << master << "/v2/apps\n"
            << "  curl -u " << userPass << " -N -H 'Accept: text/event-stream' http://" << master
            << "/v2/events\n"
            << "  " << cli << "\n";
  if (f.demo) {
    auto t = call(master, "GET", "/v2/apps/demo/tasks", "", 2000);
    auto j =
        t.ok() ? parseJson(t->body) : Result<Json>(makeError(ErrorKind::kUnavailable, "no answer"));
    if (j.ok()) {
      for (const auto& task : (*j)["tasks"]) {
        if (task["ports"].empty()) continue;
        std::cout << "  curl http://" << task.value("host", "") << ":"
                  << task["ports"][0].get<int>() << "/   # demo task " << task.value("id", "")
                  << "\n";
      }
    }
  }
  if (f.demo && !f.noProxy) {
    std::cout << "  curl -H 'Host: demo.example.test' localhost:" << f.proxyHttpPort
              << "/   # through corral proxy\n";
    auto a = call(master, "GET", "/v2/apps/demo", "", 2000);
    auto j =
        a.ok() ? parseJson(a->body) : Result<Json>(makeError(ErrorKind::kUnavailable, "no answer"));
    if (j.ok() && !(*j)["app"]["portDefinitions"].empty()) {
      std::cout << "  curl localhost:" << (*j)["app"]["portDefinitions"][0].value("port", 0)
                << "/   # the demo's service port, through corral proxy\n";
    }
    std::cout << "  curl localhost:" << f.proxyAdminPort << "/routes   # proxy admin\n";
  }
  if (!f.noDns) {
    std::cout << "  dig @127.0.0.1 -p " << f.dnsPort << " demo.marathon.mesos\n"
              << "  dig @127.0.0.1 -p " << f.dnsPort << " SRV _demo._tcp.marathon.mesos\n"
              << "  curl http://127.0.0.1:" << f.dnsHttpPort
              << "/v1/services/_demo._tcp.marathon.mesos\n";
  }
  std::cout << "Ctrl-C stops the cluster (tasks are stopped too).\n" << std::flush;
  // Supervise: a part that dies is restarted (its state is in the work dir);
  // one that keeps failing is restarted less and less often.
  while (!g_stop) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    for (auto& c : children) {
      if (pid <= 0 || c.pid != pid) continue;
      uint64_t ran = steadyNowMs() - c.startedAtMs;
      c.pid = -1;
      c.restartDelayMs = nextRestartDelay(c.restartDelayMs, ran);
      c.restartAtMs = steadyNowMs() + c.restartDelayMs;
      recordParts(wd, children);
      std::string line = lastLogLine(c);
      log::warn("{} exited ({}) after {:.1f} s{}{}; restarting it in {:.1f} s", c.name,
                WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                    : "status " + std::to_string(WEXITSTATUS(status)),
                static_cast<double>(ran) / 1000, line.empty() ? "" : ": ", line,
                static_cast<double>(c.restartDelayMs) / 1000);
    }
    for (auto& c : children) {
      if (c.pid > 0 || c.restartAtMs == 0 || steadyNowMs() < c.restartAtMs) continue;
      if (Status st = startPart(c); !st.ok()) {
        log::error("{}", st.error().message);
        c.restartAtMs = steadyNowMs() + kRestartMaxMs;
        continue;
      }
      recordParts(wd, children);
      log::info("restarted {} (pid {})", c.name, c.pid);
    }
    if (pid <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  log::info("stopping: agents first (they stop their tasks), then the master");
  stopParts(children);
  fs::remove(wd + "/up.pids", ec);
  log::info("stopped");
  return 0;
}

}  // namespace

void addUpCommand(CLI::App& app, int& exitCode) {
  auto f = std::make_shared<UpFlags>();
  auto* cmd = app.add_subcommand(
      "up", "Run a one-machine cluster (master + agents), optionally with a demo app");
  cmd->add_option("--agents", f->agents,
                  "Number of agents (on 127.0.0.2, 127.0.0.3, ...; with another "
                  "--master-port P: 127.<P/256>.<P%256>.2, ...)")
      ->capture_default_str();
  cmd->add_flag("--demo", f->demo, "Deploy the demo HTTP app /demo");
  cmd->add_option("--work-dir", f->workDir, "State and logs")->capture_default_str();
  cmd->add_option("--master-port", f->masterPort, "Port of the master's v2 API")
      ->capture_default_str();
  cmd->add_option("--dns-port", f->dnsPort, "DNS port (UDP+TCP) on 127.0.0.1")
      ->capture_default_str();
  cmd->add_option("--dns-http-port", f->dnsHttpPort, "Mesos-DNS HTTP API port")
      ->capture_default_str();
  cmd->add_flag("--no-dns", f->noDns, "Do not run the DNS server");
  cmd->add_option("--proxy-http-port", f->proxyHttpPort, "corral proxy's vhost frontend port")
      ->capture_default_str();
  cmd->add_option("--proxy-admin-port", f->proxyAdminPort, "corral proxy's admin port")
      ->capture_default_str();
  cmd->add_flag("--no-proxy", f->noProxy, "Do not run the edge proxy");
  cmd->callback([f, &exitCode] { exitCode = runUp(*f); });
}

}  // namespace corral::cli
