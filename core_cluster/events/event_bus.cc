#include "core_cluster/events/event_bus.h"

#include <charconv>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/sse.h"
#include "core_cluster/events/marathon_event_shape.h"

namespace corral::events {

namespace {
metrics::Counter& eventsPublished() {
  static auto& c =
      metrics::global().counter("corral_events_published_total", "Events published on /v2/events.");
  return c;
}
metrics::Counter& slowCutoffs() {
  static auto& c = metrics::global().counter("corral_event_stream_slow_consumers_total",
                                             "Event stream subscribers cut off for lagging.");
  return c;
}
metrics::Counter& resumes() {
  static auto& c = metrics::global().counter(
      "corral_event_stream_resumes_total",
      "Event stream reconnects resumed from their Last-Event-ID (missed events replayed).");
  return c;
}
metrics::Counter& resyncsAsked() {
  static auto& c = metrics::global().counter(
      "corral_event_stream_resyncs_required_total",
      "Event stream reconnects whose Last-Event-ID could not be resumed (told to re-read).");
  return c;
}
}  // namespace

EventBus::EventBus(Loop& loop, EventBusOptions options)
    : options_(options), heartbeat_(loop), detachTimer_(loop) {
  resumes();  // listed from the start (at 0)
  resyncsAsked();
  heartbeat_.start(options_.heartbeatMs, options_.heartbeatMs, [this] { heartbeat(); });
  metrics::global().gaugeFn(
      "corral_event_stream_subscribers", "Open /v2/events streams.",
      [this] { return static_cast<double>(streams_.size()); }, "", this);
}

EventBus::~EventBus() {
  metrics::global().removeOwner(this);
  closeAll();
}

void EventBus::closeAll() {
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& s : streams) s->exchange->end();
}

uint64_t EventBus::publish(const std::string& type, Json data) {
  data["eventType"] = type;
  if (!data.contains("timestamp")) data["timestamp"] = isoNow();
  toMarathonShape(type, data, clientIp_);
  StoredEvent e{nextId_++, type, dumpJson(data)};
  eventsPublished().inc();
  // Formatted once for every subscriber that takes it.
  std::string wire;
  for (size_t i = 0; i < streams_.size();) {
    auto s = streams_[i];
    deliver(*s, e, wire);
    // end() keeps a keep-alive connection open, so a cut-off stream is not closed().
    if (s->exchange->closed() || s->cutOff) {
      streams_.erase(streams_.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
  for (auto& [token, fn] : std::vector(local_)) fn(e);
  recent_.push_back(std::move(e));
  while (recent_.size() > options_.retainEvents) recent_.pop_front();
  return nextId_ - 1;
}

void EventBus::deliver(Stream& s, const StoredEvent& e, std::string& wire) {
  if (s.cutOff) return;
  if (s.filter.empty() ? !isMarathonEventType(e.type) : !s.filter.count(e.type)) return;
  if (s.exchange->bufferedBytes() > options_.maxSubscriberBufferBytes) {
    log::warn("event stream to {} cut off: {} bytes unread", s.remote, s.exchange->bufferedBytes());
    slowCutoffs().inc();
    s.cutOff = true;
    s.exchange->end();
    return;
  }
  if (wire.empty()) wire = sse::format(std::to_string(e.id), e.type, e.data);
  s.exchange->write(wire);
}

void EventBus::heartbeat() {
  for (auto& s : streams_) s->exchange->write(":\n\n");
}

int EventBus::attach(const http::Request& request, std::shared_ptr<http::Exchange> exchange) {
  auto accept = request.header("Accept").value_or("");
  if (accept.find("text/event-stream") == std::string_view::npos) {
    exchange->respond(http::Response::json(
        406, R"({"message":"/v2/events requires the header Accept: text/event-stream"})"));
    return 406;
  }
  auto s = std::make_shared<Stream>();
  s->exchange = exchange;
  s->remote = request.remoteAddress;
  for (const auto& t : request.queryParams("event_type")) s->filter.insert(t);
  exchange->startStream(200, {{"Content-Type", "text/event-stream"},
                              {"Cache-Control", "no-cache, no-store, must-revalidate"},
                              {"X-Accel-Buffering", "no"}});
  // Resume: replay what the client missed when we still hold it; otherwise tell
  // it that it must resync from /v2/apps.
  if (auto last = request.header("Last-Event-ID")) {
    uint64_t after = 0;
    if (canResumeAfter(*last, &after)) {
      exchange->write(": resumed " + std::to_string(after) + "\n\n");
      for (const auto& e : recent_) {
        std::string wire;
        if (e.id > after) deliver(*s, e, wire);
      }
      resumes().inc();
    } else {
      exchange->write(": resync-required\n\n");
      resyncsAsked().inc();
    }
  }
  std::string remote = request.remoteAddress;
  // Raw `this`: the bus owns the exchange (streams_) and ends every one
  // before it goes, and an ended exchange never calls onClose (base/loop.h).
  exchange->onClose([this, remote] {
    log::info("event stream detached: {}", remote);
    // Deferred to a timer the bus owns: we may be inside a publish() iteration.
    detached_.push_back(remote);
    if (!detachTimer_.active()) detachTimer_.start(0, 0, [this] { publishDetached(); });
  });
  streams_.push_back(s);
  log::info("event stream attached: {} filter={}", remote, s->filter.size());
  Json d;
  d["remoteAddress"] = remote;
  publish("event_stream_attached", d);
  return 200;
}

bool EventBus::canResumeAfter(std::string_view lastEventId, uint64_t* after) const {
  const char* end = lastEventId.data() + lastEventId.size();
  auto [stop, ec] = std::from_chars(lastEventId.data(), end, *after);
  if (lastEventId.empty() || ec != std::errc() || stop != end) return false;
  // Issued by this process: not from before a restart, not ahead of us.
  if (*after < firstId_ || *after > lastId()) return false;
  // Everything after it is still held.
  return *after == lastId() || (!recent_.empty() && recent_.front().id <= *after + 1);
}

void EventBus::publishDetached() {
  for (auto& remote : std::exchange(detached_, {})) {
    Json d;
    d["remoteAddress"] = remote;
    publish("event_stream_detached", d);
  }
}

uint64_t EventBus::subscribe(std::function<void(const StoredEvent&)> fn) {
  local_.emplace_back(nextToken_, std::move(fn));
  return nextToken_++;
}

void EventBus::unsubscribe(uint64_t token) {
  std::erase_if(local_, [token](const auto& p) { return p.first == token; });
}

}  // namespace corral::events
