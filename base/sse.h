// Server-sent events (text/event-stream): a socket-free parser and a formatter.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace corral::sse {

struct Event {
  std::string id;    // last "id:" seen (persists across events, per the spec)
  std::string type;  // "event:" or "message"
  std::string data;  // "data:" lines joined by '\n'
};

// Feed bytes as they arrive; complete events are delivered to the callback.
// Comments (heartbeats, lines starting with ':') are reported to onComment.
class Parser {
 public:
  explicit Parser(std::function<void(const Event&)> onEvent,
                  std::function<void()> onComment = nullptr, size_t maxEventBytes = 16 << 20);
  // Returns false if an event grew past the bound (the stream should be dropped).
  bool feed(std::string_view bytes);
  const std::string& lastEventId() const { return lastId_; }

 private:
  void line(std::string_view l);
  std::function<void(const Event&)> onEvent_;
  std::function<void()> onComment_;
  size_t maxEventBytes_;
  std::string buf_;
  std::string type_;
  std::string data_;
  bool hasData_ = false;
  std::string lastId_;
  bool skipLf_ = false;
};

// "id: N\nevent: T\ndata: ...\n\n" (data split on newlines).
std::string format(std::string_view id, std::string_view type, std::string_view data);

}  // namespace corral::sse
