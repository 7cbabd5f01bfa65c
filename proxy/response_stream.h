// The session's view of a task's response: parse events over the bytes of
// the upstream connection, with what the session needs to forward them
// (status, headers, framing, keep-alive, interim 1xx answers).
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::proxy {

class ResponseStream {
 public:
  enum class Event { kNeedMore, kHead, kBody, kEnd, kError };
  struct Limits {
    size_t maxHeaderBytes = 64 * 1024;
  };
  explicit ResponseStream(Limits limits);
  ResponseStream(const ResponseStream&) = delete;
  ResponseStream& operator=(const ResponseStream&) = delete;

  // Before each exchange: fresh state; a response to HEAD has no body.
  void reset(bool headRequest);
  // Like RequestStreamParser::feed: up to and including the next event.
  Event feed(std::string_view data, size_t* consumed);
  // The connection reached EOF: true if that completes a body delimited by
  // the connection's end.
  bool finish();

  bool started() const { return started_; }
  bool inBody() const { return inBody_ || endPending_; }
  // The last head was a 1xx other than 101: a final answer follows.
  bool interim() const { return status_ >= 100 && status_ < 200 && status_ != 101; }
  // The body runs until the task closes the connection.
  bool closeDelimited() const { return closeDelimited_; }
  bool keepAlive() const { return keepAlive_; }

  int status() const { return status_; }
  std::string_view reason() const { return std::string_view(bytes_).substr(0, reasonLen_); }
  size_t headerCount() const { return fields_.size(); }
  std::string_view headerName(size_t i) const;
  std::string_view headerValue(size_t i) const;
  std::optional<std::string_view> header(std::string_view name) const;
  const std::string& errorReason() const { return errorReason_; }

 private:
  struct Field {
    uint32_t nameAt, nameLen, valueAt, valueLen;
  };
  static ResponseStream* self(llhttp_t* p) { return static_cast<ResponseStream*>(p->data); }
  int append(const char* at, size_t n, uint32_t* len);
  int fail(std::string reason);
  size_t scanHead(std::string_view data);

  Limits limits_;
  llhttp_t parser_;
  llhttp_settings_t settings_;
  std::string bytes_;
  std::vector<Field> fields_;
  uint32_t reasonLen_ = 0;
  bool lastWasValue_ = true;
  bool headRequest_ = false;
  bool started_ = false;
  bool inBody_ = false;
  bool closeDelimited_ = false;
  bool keepAlive_ = true;
  bool failed_ = false;
  bool endPending_ = false;
  bool sawCR_ = false;
  bool lineEmpty_ = true;
  bool sawStatusLine_ = false;
  int status_ = 0;
  Event event_ = Event::kNeedMore;
  std::string errorReason_;
};

}  // namespace corral::proxy
