// /stats on the admin listener: JSON by default, HTML when the client asks
// (?format=html or Accept: text/html, ?format=json winning), per backend
// requests, errors, latency, active and health.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "proxy/admin.h"
#include "proxy/proxy_snapshot.h"
#include "proxy/routing_builder.h"
#include "registry/catalog.h"

namespace corral::proxy {
namespace {

class AdminStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto app = std::make_shared<registry::App>();
    app->id = "/shop<x>";  // the registry is lenient: the page must escape it
    app->labels = {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "shop.test"}};
    app->portDefinitions.push_back(registry::PortDefinition{10000, "", "tcp", {}});
    for (const char* id : {"a", "b"}) {
      registry::Task t;
      t.id = std::string("shop.") + id;
      t.appId = app->id;
      t.host = "127.0.0.1";
      t.ports = {31000};
      t.state = conf::TaskState::kRunning;
      app->tasks.push_back(t);
    }
    app->hasHealthChecks = true;
    app->tasks[0].healthy = true;  // b has no result yet: not up
    registry::Snapshot s;
    s.version = 1;
    s.apps[app->id] = app;
    auto built = builder_.update(s, registry::Diff{{app->id}, {}, {}});
    ASSERT_TRUE(built.ok());
    view_.builder = &builder_;
    view_.snapshot = *built;
    const BackendSet* set = view_.snapshot->backend(BackendKey{app->id, 0});
    ASSERT_NE(set, nullptr);
    set->counters->requests = 5;
    set->counters->active = 1;
    set->counters->failures = 1;
    RouteCounters& c = view_.routeStats[BackendKey{app->id, 0}];
    c.requests = 4;
    c.statusClass[2] = 3;
    c.statusClass[5] = 1;
    c.errors = 1;
    c.latencyUsSum = 9000;
    c.latencyCount = 4;
  }
  http::Response get(const std::string& query, const std::string& accept = "") {
    http::Request req;
    req.path = "/stats";
    req.query = query;
    req.target = "/stats" + (query.empty() ? "" : "?" + query);
    if (!accept.empty()) req.headers.emplace_back("Accept", accept);
    return adminResponse(req, view_);
  }

  RoutingBuilder builder_{conf::ProxyLabelOptions{}};
  AdminView view_;
};

TEST_F(AdminStatsTest, JsonByDefaultWithEveryCounter) {
  auto r = get("");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type").value_or("").find("application/json"), 0u);
  auto json = parseJson(r.body);
  ASSERT_TRUE(json.ok());
  const Json& b = (*json)["backends"][0];
  EXPECT_EQ(b["app"], "/shop<x>");
  EXPECT_EQ(b["route"], "shop.test :10000") << "the vhost, and the service port";
  EXPECT_EQ(b["requests"], 5);
  EXPECT_EQ(b["active"], 1);
  EXPECT_EQ(b["failures"], 1);
  EXPECT_EQ(b["health"]["taskPortsUp"], 1);
  EXPECT_EQ(b["health"]["tasks"], 2);
  EXPECT_EQ(b["http"]["exchanges"], 4);
  EXPECT_EQ(b["http"]["responses"]["2xx"], 3);
  EXPECT_EQ(b["http"]["responses"]["5xx"], 1);
  EXPECT_EQ(b["http"]["errors"], 1);
  EXPECT_DOUBLE_EQ(b["http"]["latencyAvgMs"].get<double>(), 2.25);
}

TEST_F(AdminStatsTest, HtmlWhenAskedEitherWay) {
  for (auto [query, accept] : std::vector<std::pair<std::string, std::string>>{
           {"format=html", ""}, {"", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}}) {
    auto r = get(query, accept);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type").value_or(""), "text/html; charset=utf-8") << query << accept;
    EXPECT_EQ(r.body.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(r.body.find("/shop&lt;x&gt;"), std::string::npos) << "escaped";
    EXPECT_EQ(r.body.find("/shop<x>"), std::string::npos);
    EXPECT_NE(r.body.find("<td>3</td>"), std::string::npos) << "2xx";
    EXPECT_NE(r.body.find("<td>2.250</td>"), std::string::npos) << "average ms";
    EXPECT_NE(r.body.find(">1/2 up</td>"), std::string::npos) << "health";
    EXPECT_NE(r.body.find("<tr class=\"partial\">"), std::string::npos) << "some tasks not up";
  }
  auto forced = get("format=json", "text/html");
  EXPECT_EQ(forced.header("Content-Type").value_or("").find("application/json"), 0u);
  EXPECT_EQ(
      get("", "application/json").header("Content-Type").value_or("").find("application/json"), 0u);
}

}  // namespace
}  // namespace corral::proxy
