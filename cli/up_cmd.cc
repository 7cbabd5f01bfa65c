// `corral up`: a one-machine cluster. It runs the master and N agents as
// child processes of this one (so that a crashed or killed part can be
// restarted while tasks keep running), deploys the demo app, prints how to
// reach it, and stops everything on Ctrl-C / SIGTERM.
#include <fcntl.h>
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

namespace corral::cli {

namespace fs = std::filesystem;

std::string selfExe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "corral" : p.string();
}

namespace {

struct UpFlags {
  int agents = 2;
  bool demo = false;
  std::string workDir = ".corral";
  int masterPort = 8080;
  int dnsPort = 8053;
  int dnsHttpPort = 8123;
  bool noDns = false;
  int proxyHttpPort = 8000;
  int proxyAdminPort = 9090;
  bool noProxy = false;
};

volatile sig_atomic_t g_stop = 0;

struct Child {
  std::string name;
  std::vector<std::string> argv;
  std::string logFile;
  pid_t pid = -1;
};

pid_t spawn(const Child& c) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // own group: Ctrl-C goes to `up`, which stops children in order
    int fd = open(c.logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> args;
    for (const auto& a : c.argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

bool waitFor(const std::function<bool()>& pred, int seconds) {
  for (int i = 0; i < seconds * 10 && !g_stop; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

int runUp(const UpFlags& f) {
  log::setComponent("up");
  std::string exe = selfExe();
  std::error_code ec;
  fs::create_directories(f.workDir + "/logs", ec);
  std::string wd = fs::absolute(f.workDir).string();
  std::string master = "127.0.0.1:" + std::to_string(f.masterPort);
  std::vector<Child> children;
  children.push_back(Child{"master",
                           {exe, "master", "--listen", master, "--work-dir", wd + "/master"},
                           wd + "/logs/master.log"});
  for (int i = 0; i < f.agents; ++i) {
    std::string ip = "127.0.0." + std::to_string(i + 2);
    // Each agent has its own address, so all can offer Mesos' usual range;
    // it stays below Linux's ephemeral ports (32768 and up).
    std::string res = "cpus:4;mem:4096;disk:10000;ports:[31000-31999]";
    children.push_back(
        Child{"agent-" + ip,
              {exe, "agent", "--ip", ip, "--port", "5051", "--master", master, "--resources", res,
               "--attributes", "rack:r" + std::to_string(i % 2), "--work-dir", wd + "/agent-" + ip},
              wd + "/logs/agent-" + ip + ".log"});
  }
  if (!f.noDns) {
    children.push_back(
        Child{"dns",
              {exe, "dns", "--listen", "127.0.0.1:" + std::to_string(f.dnsPort), "--http-listen",
               "127.0.0.1:" + std::to_string(f.dnsHttpPort), "--master", master},
              wd + "/logs/dns.log"});
  }
  if (!f.noProxy) {
    // The edge proxy: apps labelled HAPROXY_GROUP=external, vhosts on :8000.
    children.push_back(
        Child{"proxy",
              {exe, "proxy", "--master", master, "--group", "external", "--http-listen",
               "127.0.0.1:" + std::to_string(f.proxyHttpPort), "--https-listen=", "--admin-listen",
               "127.0.0.1:" + std::to_string(f.proxyAdminPort), "--service-bind", "127.0.0.1"},
              wd + "/logs/proxy.log"});
  }
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = 1; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto pingOk = [&] {
    auto r = call(master, "GET", "/ping", "", 1000);
    return r.ok() && r->status == 200;
  };
  // The master first, so that agents and DNS find it on their first try.
  for (size_t i = 0; i < children.size(); ++i) {
    Child& c = children[i];
    c.pid = spawn(c);
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
  std::cout << "\ncorral is up: master http://" << master << " with " << f.agents
            << " agent(s) on 127.0.0.2..; state and logs in " << wd << "\n"
            << "  curl http://" << master << "/v2/apps\n"
            << "  curl -N -H 'Accept: text/event-stream' http://" << master << "/v2/events\n";
  if (f.demo) {
    auto t = call(master, "GET", "/v2/apps/demo/tasks", "", 2000);
    auto j = t.ok() ? parseJson(t->body) : Result<Json>(makeError("no answer"));
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
    auto j = a.ok() ? parseJson(a->body) : Result<Json>(makeError("no answer"));
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
  // Supervise: a part that dies is restarted; its state is in the work dir.
  while (!g_stop) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (auto& c : children) {
        if (c.pid != pid) continue;
        log::warn("{} exited ({}); restarting it", c.name,
                  WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                      : "status " + std::to_string(WEXITSTATUS(status)));
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        c.pid = spawn(c);
      }
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  log::info("stopping: agents first (they stop their tasks), then the master");
  for (size_t i = children.size(); i-- > 0;) {
    if (children[i].pid > 0) kill(children[i].pid, SIGTERM);
    if (i == 1 || children.size() == 1) {
      // Give agents time to stop their tasks before the master goes.
      for (size_t k = 1; k < children.size(); ++k) {
        for (int w = 0; w < 100 && children[k].pid > 0; ++w) {
          if (waitpid(children[k].pid, nullptr, WNOHANG) == children[k].pid)
            children[k].pid = -1;
          else
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    }
  }
  for (auto& c : children) {
    if (c.pid > 0) waitpid(c.pid, nullptr, 0);
  }
  log::info("stopped");
  return 0;
}

}  // namespace

void addUpCommand(CLI::App& app, int& exitCode) {
  auto f = std::make_shared<UpFlags>();
  auto* cmd = app.add_subcommand(
      "up", "Run a one-machine cluster (master + agents), optionally with a demo app");
  cmd->add_option("--agents", f->agents, "Number of agents (on 127.0.0.2, 127.0.0.3, ...)")
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
