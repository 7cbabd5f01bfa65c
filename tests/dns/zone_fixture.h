// The zone most dns tests answer from.
#pragma once

#include "dns/zone_input.h"

namespace corral::dns::testing {

inline TaskInfo task(std::string id, std::string agentId, std::vector<PortInfo> ports,
                     std::optional<bool> healthy = std::nullopt, bool running = true) {
  TaskInfo t;
  t.taskId = std::move(id);
  t.agentId = std::move(agentId);
  t.ports = std::move(ports);
  t.healthy = healthy;
  t.running = running;
  return t;
}

inline ZoneInput demoInput() {
  ZoneInput in;
  in.masters = {{"10.0.0.1", 5050}, {"10.0.0.2", 5050}};
  in.leaderIp = "10.0.0.1";
  in.frameworkPort = 8080;
  in.agents = {{"c0ffee-S1", "agent1", "10.0.1.1", 5051},
               {"c0ffee-S2", "agent2", "10.0.1.2", 5051}};
  AppInfo web;
  web.appId = "/shop/web";
  web.tasks = {task("shop_web.1", "c0ffee-S1", {{31000, "http", "tcp"}, {31001, "admin", "udp"}}),
               task("shop_web.2", "c0ffee-S2", {{31002, "http", "tcp"}})};
  AppInfo db;
  db.appId = "/db";
  db.hasHealthChecks = true;
  db.tasks = {task("db.1", "c0ffee-S1", {{31010, "", "tcp"}}, true),
              task("db.2", "c0ffee-S2", {{31011, "", "tcp"}}, false),
              task("db.3", "c0ffee-S2", {{31012, "", "tcp"}}),
              task("db.4", "c0ffee-S1", {{31013, "", "tcp"}}, true, false)};
  AppInfo v6;
  v6.appId = "/v6";
  v6.tasks = {task("v6.1", "c0ffee-S1", {{31020, "", ""}})};
  v6.tasks[0].ip = "fd00::1";
  v6.tasks[0].extraIps = {"10.9.9.9"};
  in.apps = {web, db, v6};
  in.options.soa.serial = 42;
  in.options.nameServerIps = {"10.0.0.53"};
  return in;
}

}  // namespace corral::dns::testing
