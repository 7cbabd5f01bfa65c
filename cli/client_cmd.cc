#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/http_client.h"
#include "base/json.h"
#include "base/loop.h"
#include "base/sse.h"
#include "base/tls/tls_context.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/up_credentials.h"
#include "core_cluster/auth/credentials.h"

namespace corral::cli {

std::string defaultMaster() {
  const char* env = std::getenv("CORRAL_MASTER");
  return env && *env ? env : "127.0.0.1:8080";
}

std::string& masterCredentialsFile() {
  static std::string file = [] {
    const char* env = std::getenv("CORRAL_MASTER_CREDENTIALS");
    return std::string(env ? env : "");
  }();
  return file;
}

std::string& caFile() {
  static std::string file = [] {
    const char* env = std::getenv("CORRAL_CA_FILE");
    return std::string(env ? env : "");
  }();
  return file;
}

namespace {

// The master's address and, for https://, the TLS context trusting caFile().
struct Target {
  http::Endpoint endpoint;
  http::ClientOptions options;
};

Result<Target> targetOf(const std::string& address, uint64_t timeoutMs) {
  auto e = http::parseEndpoint(address, 8080);
  if (!e.ok()) return makeError(ErrorKind::kInvalid, "bad master address: " + e.error().message);
  Target t{*e, http::ClientOptions{.timeoutMs = timeoutMs, .tls = nullptr}};
  if (e->https) {
    auto ctx = tls::loadClientContext(caFile());
    if (!ctx.ok()) return ctx.error();
    t.options.tls = std::move(*ctx);
  }
  return t;
}

// The Authorization header for the master ("" without credentials). Without
// --master-credentials, a master on loopback gets the admin of a `corral up`
// run from this directory (.corral/credentials/admin), so that the README's
// `corral up` then `corral app list` works as shown; credentials never go to
// another machine unasked.
Result<std::string> masterAuthorization(const http::Endpoint& master) {
  std::string file = masterCredentialsFile();
  if (file.empty()) {
    const std::string& host = master.host;
    std::error_code ec;
    bool loopback = host.rfind("127.", 0) == 0 || host == "localhost" || host == "::1";
    if (!loopback || !std::filesystem::exists(upAdminFile(".corral"), ec)) return std::string();
    file = upAdminFile(".corral");
  }
  auto h = auth::loadBasicAuthorization(file);
  if (!h.ok()) return makeError(ErrorKind::kInvalid, "--master-credentials: " + h.error().message);
  return h;
}

}  // namespace

Result<http::Response> call(const std::string& hostPort, const std::string& method,
                            const std::string& target, const std::string& body,
                            uint64_t timeoutMs) {
  auto where = targetOf(hostPort, timeoutMs);
  if (!where.ok()) return where.error();
  Loop loop;
  std::optional<Result<http::Response>> out;
  http::Request req;
  req.method = method;
  req.target = target;
  req.body = body;
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  auto authorization = masterAuthorization(where->endpoint);
  if (!authorization.ok()) return authorization.error();
  if (!authorization->empty()) req.headers.emplace_back("Authorization", *authorization);
  CancelHandle call = http::fetch(
      loop, where->endpoint.host, where->endpoint.port, req,
      [&](Result<http::Response> r) { out = std::move(r); }, where->options);
  loop.runUntil([&] { return out.has_value(); }, timeoutMs + 1000);
  if (!out) return makeError(ErrorKind::kUnavailable, "no answer from " + hostPort);
  return std::move(*out);
}

namespace {

int report(const Result<http::Response>& r, bool printBody = true) {
  if (!r.ok()) {
    std::cerr << "error: " << r.error().message << "\n";
    return 1;
  }
  auto j = parseJson(r->body);
  if (r->status >= 400) {
    std::cerr << "error " << r->status << ": " << (j.ok() ? j->dump(2) : r->body) << "\n";
    return 1;
  }
  if (printBody) std::cout << (j.ok() ? j->dump(2) : r->body) << "\n";
  return 0;
}

std::string appPath(std::string id) {
  if (id.empty() || id[0] != '/') id = "/" + id;
  return "/v2/apps" + id;
}

int appList(const std::string& master) {
  auto r = call(master, "GET", "/v2/apps?embed=apps.counts");
  if (!r.ok() || r->status != 200) return report(r);
  auto j = parseJson(r->body);
  if (!j.ok()) return report(r);
  printf("%-30s %9s %8s %8s %s\n", "ID", "INSTANCES", "RUNNING", "HEALTHY", "DEPLOYING");
  for (const auto& a : (*j)["apps"]) {
    printf("%-30s %9d %8d %8d %s\n", a.value("id", "").c_str(), a.value("instances", 0),
           a.value("tasksRunning", 0), a.value("tasksHealthy", 0),
           a.value("deployments", Json::array()).empty() ? "no" : "yes");
  }
  return 0;
}

int taskList(const std::string& master) {
  auto r = call(master, "GET", "/v2/tasks");
  if (!r.ok() || r->status != 200) return report(r);
  auto j = parseJson(r->body);
  if (!j.ok()) return report(r);
  printf("%-50s %-14s %-16s %s\n", "ID", "STATE", "HOST", "PORTS");
  for (const auto& t : (*j)["tasks"]) {
    std::string ports;
    for (const auto& p : t["ports"])
      ports += (ports.empty() ? "" : ",") + std::to_string(p.get<int>());
    printf("%-50s %-14s %-16s %s\n", t.value("id", "").c_str(), t.value("state", "").c_str(),
           t.value("host", "").c_str(), ports.c_str());
  }
  return 0;
}

int taskLogs(const std::string& master, const std::string& taskId, const std::string& file) {
  auto r = call(master, "GET", "/v1/tasks/" + taskId + "/agent");
  if (!r.ok() || r->status != 200) return report(r);
  auto j = parseJson(r->body);
  if (!j.ok()) return report(r);
  std::string agent = (*j).value("agent", "");
  auto f = call(
      agent, "GET",
      "/files/read?taskId=" + http::percentEncode(taskId) + "&path=" + file + "&length=1048576");
  if (!f.ok() || f->status != 200) return report(f);
  auto d = parseJson(f->body);
  if (!d.ok()) return report(f);
  std::cout << (*d).value("data", "");
  return 0;
}

int events(const std::string& master, const std::vector<std::string>& types) {
  auto where = targetOf(master, 10000);
  if (!where.ok()) {
    std::cerr << "error: " << where.error().message << "\n";
    return 2;
  }
  Loop loop;
  std::string target = "/v2/events";
  for (size_t i = 0; i < types.size(); ++i) target += (i ? "&" : "?") + ("event_type=" + types[i]);
  http::Request req;
  req.target = target;
  req.headers.emplace_back("Accept", "text/event-stream");
  auto authorization = masterAuthorization(where->endpoint);
  if (!authorization.ok()) {
    std::cerr << "error: " << authorization.error().message << "\n";
    return 2;
  }
  if (!authorization->empty()) req.headers.emplace_back("Authorization", *authorization);
  sse::Parser parser(
      [](const sse::Event& e) { std::cout << e.type << " " << e.data << std::endl; });
  bool done = false;
  int rc = 0;
  auto h = http::openStream(
      loop, where->endpoint.host, where->endpoint.port, req,
      http::StreamCallbacks{.onHead =
                                [&](const http::Response& r) {
                                  if (r.status != 200) {
                                    std::cerr << "error: status " << r.status << "\n";
                                    rc = 1;
                                  }
                                },
                            .onData = [&](std::string_view d) { parser.feed(d); },
                            .onEnd =
                                [&](Status st) {
                                  if (!st.ok()) {
                                    std::cerr << "error: " << st.error().message << "\n";
                                    rc = 1;
                                  }
                                  done = true;
                                }},
      where->options);
  loop.runUntil([&] { return done; }, UINT64_MAX / 4);
  return rc;
}

}  // namespace

void addClientCommands(CLI::App& app, int& exitCode) {
  auto master = std::make_shared<std::string>(defaultMaster());
  auto* appCmd = app.add_subcommand("app", "Manage apps (Marathon v2 API)");
  appCmd->add_option("--master", *master, "Master host:port or https://host:port ($CORRAL_MASTER)");
  appCmd->require_subcommand(1);

  auto force = std::make_shared<bool>(false);
  auto forceSuffix = [force](const std::string& sep) {
    return *force ? sep + "force=true" : std::string();
  };
  auto file = std::make_shared<std::string>();
  auto* add = appCmd->add_subcommand("add", "Create an app from a JSON file ('-' for stdin)");
  add->add_option("file", *file)->required();
  add->callback([=, &exitCode] {
    std::stringstream ss;
    if (*file == "-") {
      ss << std::cin.rdbuf();
    } else {
      std::ifstream in(*file);
      if (!in) {
        std::cerr << "error: cannot read " << *file << "\n";
        exitCode = 1;
        return;
      }
      ss << in.rdbuf();
    }
    exitCode = report(call(*master, "POST", "/v2/apps", ss.str()));
  });
  appCmd->add_subcommand("list", "List apps")->callback([=, &exitCode] {
    exitCode = appList(*master);
  });
  auto id = std::make_shared<std::string>();
  auto* show = appCmd->add_subcommand("show", "Show one app with its tasks");
  show->add_option("id", *id)->required();
  show->callback([=, &exitCode] { exitCode = report(call(*master, "GET", appPath(*id))); });
  auto n = std::make_shared<int>(0);
  auto* scale = appCmd->add_subcommand("scale", "Set the number of instances");
  scale->add_option("id", *id)->required();
  scale->add_option("instances", *n)->required();
  scale->add_flag("--force", *force, "Override a deployment in progress");
  scale->callback([=, &exitCode] {
    exitCode = report(call(*master, "PUT", appPath(*id) + forceSuffix("?"),
                           "{\"instances\":" + std::to_string(*n) + "}"));
  });
  auto* restart = appCmd->add_subcommand("restart", "Rolling restart");
  restart->add_option("id", *id)->required();
  restart->add_flag("--force", *force, "Override a deployment in progress");
  restart->callback([=, &exitCode] {
    exitCode = report(call(*master, "POST", appPath(*id) + "/restart" + forceSuffix("?")));
  });
  auto* remove = appCmd->add_subcommand("remove", "Delete an app and stop its tasks");
  remove->add_option("id", *id)->required();
  remove->add_flag("--force", *force, "Override a deployment in progress");
  remove->callback([=, &exitCode] {
    exitCode = report(call(*master, "DELETE", appPath(*id) + forceSuffix("?")));
  });

  auto* taskCmd = app.add_subcommand("task", "Inspect and kill tasks");
  taskCmd->add_option("--master", *master,
                      "Master host:port or https://host:port ($CORRAL_MASTER)");
  taskCmd->require_subcommand(1);
  taskCmd->add_subcommand("list", "List tasks")->callback([=, &exitCode] {
    exitCode = taskList(*master);
  });
  auto tid = std::make_shared<std::string>();
  auto* kill = taskCmd->add_subcommand("kill", "Kill a task (it is replaced)");
  kill->add_option("id", *tid)->required();
  kill->callback([=, &exitCode] {
    exitCode = report(call(*master, "POST", "/v2/tasks/delete", "{\"ids\":[\"" + *tid + "\"]}"));
  });
  auto stream = std::make_shared<std::string>("stdout");
  auto* logs = taskCmd->add_subcommand("logs", "Print a task's stdout (or --stderr)");
  logs->add_option("id", *tid)->required();
  logs->add_flag_function("--stderr", [stream](int64_t) { *stream = "stderr"; });
  logs->callback([=, &exitCode] { exitCode = taskLogs(*master, *tid, *stream); });

  auto types = std::make_shared<std::vector<std::string>>();
  auto* ev = app.add_subcommand("events", "Follow the event stream");
  ev->add_option("--master", *master, "Master host:port or https://host:port ($CORRAL_MASTER)");
  ev->add_option("--type", *types, "Only these event types (repeatable)");
  ev->callback([=, &exitCode] { exitCode = events(*master, *types); });
  for (auto* group : {appCmd, taskCmd, ev}) {
    group->add_option("--master-credentials", masterCredentialsFile(),
                      "File with 'user:password' of a v2 API user (mode 600) "
                      "($CORRAL_MASTER_CREDENTIALS)");
    group->add_option("--ca-file", caFile(),
                      "PEM CA certificate(s) an https:// master's certificate must chain to "
                      "($CORRAL_CA_FILE; default: the system's CA store)");
  }
  // `corral app list --master X` as well as `corral app --master X list`.
  for (auto* group : {appCmd, taskCmd}) {
    for (auto* sub : group->get_subcommands({})) sub->fallthrough();
  }
}

}  // namespace corral::cli
