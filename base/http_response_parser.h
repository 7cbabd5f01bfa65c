// A socket-free HTTP/1.1 response parser on llhttp: bytes in, events or one
// precise error out. Two ways to use it:
//  * ResponseParser streams: feed() stops after every event (head, each body
//    chunk, message end), so a proxy can forward a body of any size chunk by
//    chunk and stop reading while its client is slow, never buffering it.
//  * BufferedResponseParser assembles one whole Response up to a body limit,
//    for the HTTP client, health checks and the registry.
// Framing is strict (RFC 9112 section 6.3): a response whose length is in
// doubt (Content-Length beside Transfer-Encoding, several Content-Lengths,
// a bad chunk size, a bare CR or LF) is an error, never a body.
#pragma once

#include <llhttp.h>

#include <string>
#include <string_view>

#include "base/http_message.h"

namespace corral::http {

class ResponseParser {
 public:
  struct Limits {
    size_t maxHeaderBytes = 64 * 1024;  // status line and header fields
  };
  enum class Event {
    kNeedMore,  // everything given was consumed; nothing new to report
    kHead,      // status and headers are complete: head()
    kBody,      // body bytes: bodyChunk(), valid until the next feed()
    kComplete,  // the response ended; the parser is ready for the next one
    kUpgrade,   // 101 Switching Protocols: the bytes after it are another protocol
    kError,     // error(), errorMessage(); final
  };
  enum class Error {
    kNone,
    kMalformed,        // not HTTP/1.x, bad characters, bare CR or LF
    kFraming,          // Content-Length with Transfer-Encoding, conflicting lengths, bad chunks
    kHeadersTooLarge,  // the head outgrew Limits::maxHeaderBytes
    kTruncated,        // the connection closed inside a response
    kBodyTooLarge,     // BufferedResponseParser: the body outgrew its limit
    kAfterUpgrade,     // bytes fed after kUpgrade
  };

  ResponseParser();
  explicit ResponseParser(Limits limits);
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Back to a new connection's state (errors and upgrades forgotten),
  // keeping the buffers grown so far.
  void reset();

  // The method of the request this response answers ("HEAD" responses have no
  // body, whatever their headers say). Call before feeding each response.
  void expectResponseTo(std::string_view method);

  // Parses from the start of `data` and stops after the first event;
  // *consumed says how many bytes were used. Call again with the rest.
  Event feed(std::string_view data, size_t* consumed);
  // The peer closed the connection: kComplete for a read-until-close body
  // (or between responses, kNeedMore), kError(kTruncated) inside a response.
  Event finish();

  // Valid from kHead until the next response starts.
  int status() const { return status_; }
  const Headers& headers() const { return headers_; }
  // The head as a Response without a body.
  Response head() const;
  std::string_view bodyChunk() const { return chunk_; }
  // After kComplete: whether the connection may carry another response.
  bool keepAlive() const { return keepAlive_; }
  // The body runs until the connection closes (no length, not chunked).
  bool bodyUntilClose() const { return untilClose_; }

  Error error() const { return error_; }
  const std::string& errorMessage() const { return errorMessage_; }

 private:
  static ResponseParser* self(llhttp_t* p) { return static_cast<ResponseParser*>(p->data); }
  int fail(Error e, std::string message);
  int countHeaderBytes(size_t n);
  int onHeadersComplete();
  // Header storage reused from head to head.
  void startHeaders();
  void nextHeader();
  Event failFromLlhttp(llhttp_errno_t err);
  // False (and failed) at a bare CR or LF among these head bytes.
  bool checkLineEnds(std::string_view head);
  Event takePending();

  Limits limits_;
  llhttp_t parser_;
  llhttp_settings_t settings_;
  bool requestWasHead_ = false;
  int status_ = 0;
  Headers headers_;  // [0, headerCount_) are this head's (all of them from kHead on)
  size_t headerCount_ = 0;
  bool lastWasValue_ = true;
  size_t headerBytes_ = 0;
  bool inMessage_ = false;
  bool inBody_ = false;  // between kHead and the end of the response
  bool headReported_ = false;
  bool prevWasCr_ = false;  // the last head byte seen was CR (CRLF split across feeds)
  bool lineStart_ = false;  // the last head byte seen ended a line
  std::string_view chunk_;
  Event pending_ = Event::kNeedMore;  // kHead was reported; this end is next
  bool upgraded_ = false;
  bool closed_ = false;  // finish() has run
  bool keepAlive_ = false;
  bool untilClose_ = false;
  Event paused_ = Event::kNeedMore;  // what the pause in a callback means
  Error error_ = Error::kNone;
  std::string errorMessage_;
};

// Collects one final response (interim 1xx responses are skipped) with its
// whole body, refusing bodies larger than maxBodyBytes.
class BufferedResponseParser {
 public:
  enum class Outcome { kNeedMore, kDone, kError };

  explicit BufferedResponseParser(std::string_view requestMethod = "GET",
                                  size_t maxBodyBytes = 256 * 1024 * 1024,
                                  ResponseParser::Limits limits = {});
  // Consumes all of `data` (bytes after the response are ignored).
  Outcome feed(std::string_view data);
  // The peer closed the connection.
  Outcome finish();
  // After kDone.
  Response take() { return std::move(response_); }
  // After kError: why, ready to show to a user.
  const std::string& errorMessage() const { return errorMessage_; }
  ResponseParser::Error error() const { return error_; }

 private:
  Outcome onEvent(ResponseParser::Event e);

  ResponseParser parser_;
  size_t maxBodyBytes_;
  Response response_;
  bool done_ = false;
  ResponseParser::Error error_ = ResponseParser::Error::kNone;
  std::string errorMessage_;
};

}  // namespace corral::http
