// The session's view of a task's response: base/http_response_parser's
// streaming events, plus what forwarding needs on top of them: the chunked
// framing checked on the exact bytes that will be forwarded (llhttp 8 skips
// the CRLF after chunk data), interim 1xx answers told apart from the final
// one, and a fresh parser for every exchange.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/http_request_parser.h"
#include "base/http_response_parser.h"

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
  // Up to and including the next event; in a body, *consumed covers the
  // body's bytes as they are on the wire (framing included).
  Event feed(std::string_view data, size_t* consumed);
  // The connection reached EOF: true if that completes a body delimited by
  // the connection's end.
  bool finish();

  bool started() const { return started_; }
  // Between the head and the end (feed() then takes even no bytes).
  bool inBody() const { return inBody_; }
  // The last head was a 1xx other than 101: a final answer follows.
  bool interim() const { return status() >= 100 && status() < 200 && status() != 101; }
  bool closeDelimited() const { return parser_->bodyUntilClose(); }
  bool keepAlive() const { return parser_->keepAlive(); }

  int status() const { return parser_->status(); }
  // As the task sent it (may be empty).
  std::string_view reason() const;
  size_t headerCount() const { return parser_->headers().size(); }
  std::string_view headerName(size_t i) const { return parser_->headers()[i].first; }
  std::string_view headerValue(size_t i) const { return parser_->headers()[i].second; }
  std::optional<std::string_view> header(std::string_view name) const;
  const std::string& errorReason() const { return errorReason_; }

 private:
  Event fail(std::string reason);

  Limits limits_;
  std::optional<http::ResponseParser> parser_;
  http::ChunkedFramingCheck chunks_;
  bool headRequest_ = false;
  bool started_ = false;
  bool inBody_ = false;
  bool chunked_ = false;
  bool failed_ = false;
  std::string statusLine_;  // the first line of the current head
  bool statusLineOpen_ = true;
  std::string errorReason_;
};

}  // namespace corral::proxy
