// A fake Marathon for the follower's tests: /v2/leader, /v2/apps(?embed),
// /v2/apps/{id} and a controllable /v2/events stream (ids, Last-Event-ID
// replay or ": resync-required", dropping streams, raw writes).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/http_server.h"
#include "base/json.h"
#include "base/loop.h"
#include "base/sse.h"

namespace corral::registry::testing {

class FakeMarathon {
 public:
  FakeMarathon(Loop& loop, std::string ip, int port = 0)
      : ip_(std::move(ip)),
        server_(loop, [this](http::Request& r, std::shared_ptr<http::Exchange> ex) {
          handle(r, std::move(ex));
        }) {
    auto bound = server_.listen(ip_, port);
    port_ = bound.ok() ? *bound : -1;
  }
  ~FakeMarathon() { close(); }

  bool ok() const { return port_ > 0; }
  int port() const { return port_; }
  std::string address() const { return ip_ + ":" + std::to_string(port_); }

  // The catalog /v2/apps serves.
  void setApp(Json app) {
    std::string id = app["id"].get<std::string>();
    apps_[id] = std::move(app);
  }
  void removeApp(const std::string& id) { apps_.erase(id); }
  void setRawAppsBody(std::string body) { rawApps_ = std::move(body); }

  // Appends an event (with the next id) and writes it to every open stream.
  uint64_t publish(const std::string& type, const Json& data) {
    return publishRaw(type, dumpJson(data));
  }
  uint64_t publishRaw(const std::string& type, std::string data) {
    uint64_t id = ++lastId_;
    events_.push_back({id, type, std::move(data)});
    while (events_.size() > retain) events_.erase(events_.begin());
    for (auto& s : streams_) s->write(format(events_.back()));
    prune();
    return id;
  }
  // Several events in one write (they reach the client in one read).
  void publishBatch(const std::vector<std::pair<std::string, Json>>& batch) {
    std::string bytes;
    for (const auto& [type, data] : batch) {
      events_.push_back({++lastId_, type, dumpJson(data)});
      bytes += format(events_.back());
    }
    while (events_.size() > retain) events_.erase(events_.begin());
    for (auto& s : streams_) s->write(bytes);
    prune();
  }
  // An event this stream's subscribers do not get (like corral's own event
  // types on an unfiltered stream): it takes an id, so the ids they see skip.
  void skipId() { ++lastId_; }
  void writeRaw(const std::string& bytes) {
    for (auto& s : streams_) s->write(bytes);
  }
  // Ends every open stream (the client sees a clean end of the response).
  void dropStreams() {
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& s : streams) s->end();
  }
  void close() {
    dropStreams();
    server_.close();
  }
  size_t openStreams() {
    prune();
    return streams_.size();
  }

  // Behaviour switches.
  bool honorLastEventId = true;
  bool sendIds = true;
  size_t retain = 1000;        // events kept for Last-Event-ID replay
  bool confirmResume = false;  // say ": resumed <id>" before a replay, as corral's master does
  std::string leader;          // what /v2/leader says ("" = ourselves)
  std::string eventsRedirect;  // non-empty: /v2/events answers 307 to this host:port

  // What was asked.
  int appsFetches = 0;
  std::vector<std::string> appFetches;
  int streamsOpened = 0;
  std::vector<std::string> lastEventIds;  // Last-Event-ID of each stream request ("" = none)

 private:
  struct Stored {
    uint64_t id;
    std::string type;
    std::string data;
  };

  std::string format(const Stored& e) const {
    return sse::format(sendIds ? std::to_string(e.id) : "", e.type, e.data);
  }
  void prune() {
    std::erase_if(streams_, [](const auto& s) { return s->closed(); });
  }

  void handle(http::Request& r, std::shared_ptr<http::Exchange> ex) {
    if (r.path == "/v2/leader") {
      return ex->respond(http::Response::json(
          200, dumpJson(Json{{"leader", leader.empty() ? address() : leader}})));
    }
    if (r.path == "/v2/apps") {
      appsFetches++;
      if (!rawApps_.empty()) return ex->respond(http::Response::json(200, rawApps_));
      Json list = Json::array();
      for (const auto& [id, app] : apps_) list.push_back(app);
      return ex->respond(http::Response::json(200, dumpJson(Json{{"apps", list}})));
    }
    if (r.path.rfind("/v2/apps/", 0) == 0) {
      std::string id = r.path.substr(8);
      appFetches.push_back(id);
      auto it = apps_.find(id);
      if (it == apps_.end()) {
        return ex->respond(
            http::Response::json(404, R"({"message":"App ')" + id + R"(' does not exist"})"));
      }
      return ex->respond(http::Response::json(200, dumpJson(Json{{"app", it->second}})));
    }
    if (r.path == "/v2/events") {
      if (!eventsRedirect.empty()) {
        http::Response resp = http::Response::text(307, "");
        resp.headers.emplace_back("Location", "http://" + eventsRedirect + "/v2/events");
        return ex->respond(std::move(resp));
      }
      streamsOpened++;
      auto last = r.header("Last-Event-ID");
      lastEventIds.push_back(last ? std::string(*last) : "");
      ex->startStream(200, {{"Content-Type", "text/event-stream"}});
      if (last && honorLastEventId) {
        uint64_t lastId = std::strtoull(std::string(*last).c_str(), nullptr, 10);
        bool covered = events_.empty() ? lastId >= lastId_ : events_.front().id <= lastId + 1;
        if (covered) {
          if (confirmResume) ex->write(": resumed " + std::string(*last) + "\n\n");
          for (const auto& e : events_) {
            if (e.id > lastId) ex->write(format(e));
          }
        } else {
          ex->write(": resync-required\n\n");
        }
      }
      streams_.push_back(ex);
      return;
    }
    ex->respond(http::Response::json(404, R"({"message":"not found"})"));
  }

  std::string ip_;
  int port_ = -1;
  http::Server server_;
  std::map<std::string, Json> apps_;
  std::string rawApps_;
  std::vector<Stored> events_;
  uint64_t lastId_ = 0;
  std::vector<std::shared_ptr<http::Exchange>> streams_;
};

// A Marathon-shaped app with running tasks "<name>.<i>" on 127.0.0.1.
inline Json makeApp(const std::string& id, int tasks, int firstPort = 31000) {
  Json app{{"id", id},
           {"instances", tasks},
           {"version", "v1"},
           {"labels", Json::object()},
           {"portDefinitions", Json::array({Json{{"port", 10000}, {"name", "http"}}})},
           {"healthChecks", Json::array()}};
  Json list = Json::array();
  for (int i = 0; i < tasks; ++i) {
    list.push_back(Json{{"id", id.substr(1) + "." + std::to_string(i)},
                        {"appId", id},
                        {"host", "127.0.0.1"},
                        {"slaveId", "S1"},
                        {"ports", Json::array({firstPort + i})},
                        {"servicePorts", Json::array({10000})},
                        {"state", "TASK_RUNNING"},
                        {"version", "v1"},
                        {"healthCheckResults", Json::array()}});
  }
  app["tasks"] = list;
  return app;
}

inline Json statusEvent(const std::string& appId, const std::string& taskId,
                        const std::string& state, int port = 31050) {
  return Json{
      {"taskId", taskId},
      {"taskStatus", state},
      {"appId", appId},
      {"host", "127.0.0.1"},
      {"slaveId", "S1"},
      {"ports", Json::array({port})},
      {"version", "v1"},
      {"message", ""},
      {"ipAddresses", Json::array({Json{{"ipAddress", "127.0.0.1"}, {"protocol", "IPv4"}}})}};
}

}  // namespace corral::registry::testing
