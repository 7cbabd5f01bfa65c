// Server-sent events (text/event-stream): a socket-free parser and a formatter.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace corral::sse {

struct Event {
  std::string id;    // last "id:" seen (persists across events, per the spec)
  std::string type;  // "event:" or "message"
  std::string data;  // "data:" lines joined by '\n'
};

// Feed bytes as they arrive; complete events are delivered to onEvent and
// comment lines (":" heartbeats, ": resync-required") to onComment, in the
// order they arrive. The one SSE parser of the code base.
class Parser {
 public:
  // text: the comment after ':' and one optional space.
  using CommentCallback = std::function<void(std::string_view text)>;
  explicit Parser(std::function<void(const Event&)> onEvent, CommentCallback onComment = nullptr,
                  size_t maxEventBytes = 16 << 20);
  // Returns false if a line or an event grew past the bound (the stream
  // should be dropped).
  bool feed(std::string_view bytes);
  // Forgets everything (a new stream starts); a feed() running the callback
  // that called reset() delivers nothing more.
  void reset();
  const std::string& lastEventId() const { return lastId_; }

 private:
  void line(std::string_view l);
  std::function<void(const Event&)> onEvent_;
  CommentCallback onComment_;
  size_t maxEventBytes_;
  uint64_t generation_ = 0;
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
