// The scheduler's event stream: Marathon's /v2/events as server-sent events,
// plus an increasing id and Last-Event-ID resume while events are retained.
//
// A reconnect's Last-Event-ID gets one unambiguous answer, as a comment before
// anything else on the stream:
//   ": resumed <id>"    every retained event after <id> follows (ids are not
//                       contiguous on a filtered stream: corral's own event
//                       types take ids too), then the live ones;
//   ": resync-required" the id is not one this process issued and still
//                       holds (older than the retention, from before a
//                       restart, ahead of the last id, or not a number): the
//                       client must re-read /v2/apps.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/http_server.h"
#include "base/json.h"
#include "base/loop.h"

namespace corral::events {

struct EventBusOptions {
  size_t retainEvents = 20000;                // how many recent events a reconnect can resume from
  uint64_t heartbeatMs = 10000;               // comment line to keep proxies and clients alive
  size_t maxSubscriberBufferBytes = 8 << 20;  // slow consumers past this are cut off
};

struct StoredEvent {
  uint64_t id;
  std::string type;
  std::string data;  // serialised JSON
};

class EventBus {
 public:
  EventBus(Loop& loop, EventBusOptions options = {});
  ~EventBus();

  // Adds eventType and timestamp to data, puts it in Marathon's shape
  // (marathon_event_shape.h), assigns the next id and fans out.
  uint64_t publish(const std::string& type, Json data);
  // The address of the API caller whose request is being handled: events
  // published meanwhile carry it as their clientIp. Set by ApiCaller.
  void setClientIp(std::string ip) { clientIp_ = std::move(ip); }
  // Serves GET /v2/events: Accept check, event_type filters, Last-Event-ID resume.
  // A stream without event_type gets Marathon's event types only; corral's
  // own (launch_queue_waiting_event ...) go to streams that name them.
  // Returns the status it answered with (200: a stream; 406: not asked for one).
  int attach(const http::Request& request, std::shared_ptr<http::Exchange> exchange);
  // In-process subscribers (e.g. tests, embedded consumers). Returns a token for unsubscribe.
  uint64_t subscribe(std::function<void(const StoredEvent&)> fn);
  void unsubscribe(uint64_t token);

  size_t subscriberCount() const { return streams_.size(); }
  uint64_t lastId() const { return nextId_ - 1; }
  // Continue numbering after a restart (ids must keep increasing). Ids below
  // `id` are from another process: a Last-Event-ID among them asks for a resync.
  void setNextId(uint64_t id) { nextId_ = firstId_ = id; }
  void closeAll();

 private:
  struct Stream {
    std::shared_ptr<http::Exchange> exchange;
    std::set<std::string> filter;  // empty = everything
    std::string remote;
    bool cutOff = false;  // ended for lagging; dropped at the next publish
  };
  // wire: the event in SSE form, formatted by the first stream that takes it.
  void deliver(Stream& s, const StoredEvent& e, std::string& wire);
  void heartbeat();
  void publishDetached();
  // Whether every event after lastId is still held (and lastId is ours).
  bool canResumeAfter(std::string_view lastEventId, uint64_t* after) const;

  EventBusOptions options_;
  uint64_t nextId_ = 1;
  uint64_t firstId_ = 1;  // the first id this process issued
  std::deque<StoredEvent> recent_;
  std::vector<std::shared_ptr<Stream>> streams_;
  std::vector<std::pair<uint64_t, std::function<void(const StoredEvent&)>>> local_;
  uint64_t nextToken_ = 1;
  std::string clientIp_;
  Timer heartbeat_;
  Timer detachTimer_;                  // publishes event_stream_detached after the callback
  std::vector<std::string> detached_;  // remote addresses of streams that closed
};

// While it lives, events published on the bus carry `ip` as their clientIp:
// the API holds one around each request it hands to the scheduler.
class ApiCaller {
 public:
  ApiCaller(EventBus& bus, std::string ip) : bus_(bus) { bus_.setClientIp(std::move(ip)); }
  ~ApiCaller() { bus_.setClientIp(""); }
  ApiCaller(const ApiCaller&) = delete;
  ApiCaller& operator=(const ApiCaller&) = delete;

 private:
  EventBus& bus_;
};

}  // namespace corral::events
