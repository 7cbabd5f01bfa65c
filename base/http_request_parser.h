// A socket-free HTTP/1.1 request parser on llhttp: bytes in, parse events or
// one precise error out. Two modes share one codec and one strictness:
//  * RequestStreamParser (the proxy): head, body slices as they arrive, end
//    of message; feed() returns after each event so the caller can stop
//    (backpressure) and resume later with the unconsumed bytes.
//  * RequestParser (base/http_server): whole requests, bodies bounded.
// The fuzzer feeds both anything.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/http_message.h"

namespace corral::http {

// A parsed request head: the bytes of method, target and headers in one
// buffer plus offsets, so a head costs no allocation once the buffers have
// grown (they are reused from request to request).
class RequestHead {
 public:
  std::string_view method() const { return method_; }
  std::string_view target() const { return slice(targetAt_, targetLen_); }
  int versionMajor() const { return versionMajor_; }
  int versionMinor() const { return versionMinor_; }
  size_t headerCount() const { return fields_.size(); }
  std::string_view headerName(size_t i) const {
    return slice(fields_[i].nameAt, fields_[i].nameLen);
  }
  std::string_view headerValue(size_t i) const {
    return slice(fields_[i].valueAt, fields_[i].valueLen);
  }
  // Case-insensitive; the first match wins.
  std::optional<std::string_view> header(std::string_view name) const;
  // Framing, decided by the parser: chunked, a length, or no body.
  bool chunked() const { return chunked_; }
  bool hasContentLength() const { return hasContentLength_; }
  uint64_t contentLength() const { return contentLength_; }
  // The client asked to switch protocols (Upgrade with Connection: upgrade).
  bool upgradeRequested() const { return upgrade_; }
  bool expectsContinue() const { return expectContinue_; }
  // Whether the client allows another request on this connection.
  bool keepAlive() const { return keepAlive_; }

 private:
  friend class RequestStreamParser;
  struct Field {
    uint32_t nameAt, nameLen, valueAt, valueLen;
  };
  std::string_view slice(uint32_t at, uint32_t len) const {
    return std::string_view(bytes_).substr(at, len);
  }
  void clear();

  std::string bytes_;
  std::vector<Field> fields_;
  std::string_view method_;  // llhttp's static method names
  uint32_t targetAt_ = 0;
  uint32_t targetLen_ = 0;
  int versionMajor_ = 1;
  int versionMinor_ = 1;
  bool chunked_ = false;
  bool hasContentLength_ = false;
  uint64_t contentLength_ = 0;
  bool upgrade_ = false;
  bool expectContinue_ = false;
  bool keepAlive_ = true;
};

// Checks chunked framing (RFC 9112 section 7.1) on exactly the bytes a
// parser consumed from a body, before any event about them is given out.
// llhttp 8 does not check the CRLF after chunk data (it skips two bytes) nor
// bare LF in chunk lines; a proxy that forwards the framing as it came must.
class ChunkedFramingCheck {
 public:
  explicit ChunkedFramingCheck(size_t maxTrailerBytes) : maxTrailerBytes_(maxTrailerBytes) {}
  void reset();
  // False at the first byte that breaks the framing: error() says how.
  bool check(std::string_view bytes);
  // The last chunk and the trailers are complete.
  bool done() const { return state_ == State::kDone; }
  const char* error() const { return error_; }
  bool trailersTooLarge() const { return trailersTooLarge_; }

 private:
  enum class State {
    kSize,
    kExt,
    kSizeLF,
    kData,
    kDataCR,
    kDataLF,
    kTrailerStart,
    kTrailer,
    kTrailerLF,
    kFinalLF,
    kDone
  };
  size_t maxTrailerBytes_;
  State state_ = State::kSize;
  uint64_t left_ = 0;
  int digits_ = 0;
  size_t trailerBytes_ = 0;
  bool trailersTooLarge_ = false;
  const char* error_ = "";
};

class RequestStreamParser {
 public:
  struct Limits {
    size_t maxHeaderBytes = 64 * 1024;
  };
  enum class Event {
    kNeedMore,  // everything given was consumed; no event
    kHead,      // head() is complete; the body (if any) follows
    kBody,      // body() holds the next slice of the body (chunk framing removed)
    kEnd,       // the message is complete; keepAlive()/upgraded() are final
    kError,     // malformed or over a limit: errorStatus()/errorReason(); final
  };

  explicit RequestStreamParser(Limits limits);
  RequestStreamParser(const RequestStreamParser&) = delete;
  RequestStreamParser& operator=(const RequestStreamParser&) = delete;

  // Parses from the start of `data` up to and including the next event;
  // *consumed says how many bytes were used. Bytes after the event are left
  // for the next call (which may come later: that is how a caller pauses).
  Event feed(std::string_view data, size_t* consumed);

  const RequestHead& head() const { return head_; }
  // After kBody: a view into the data given to that feed() call.
  std::string_view body() const { return body_; }
  // After kEnd: whether another request may follow on this connection.
  bool keepAlive() const { return keepAlive_; }
  // After kEnd: the request was an Upgrade (or CONNECT); the bytes after it
  // belong to the other protocol and feed() refuses them.
  bool upgraded() const { return upgraded_; }
  // Between kHead and kEnd.
  bool inBody() const { return state_ == State::kBody; }
  int errorStatus() const { return errorStatus_; }
  const std::string& errorReason() const { return errorReason_; }

 private:
  enum class State { kHead, kBody, kUpgraded, kClosed, kError };
  static RequestStreamParser* self(llhttp_t* p) {
    return static_cast<RequestStreamParser*>(p->data);
  }
  // Finds where the head ends in `data` (bytes up to the empty line) while
  // refusing bare CR, bare LF and obsolete line folding, which llhttp 8
  // tolerates. Returns the bytes that may go to llhttp, or npos on error.
  size_t scanHead(std::string_view data);
  int fail(int status, std::string reason);
  int appendHead(const char* at, size_t n, uint32_t* len);
  Event afterExecute(llhttp_errno_t err, std::string_view data, size_t given, size_t* consumed);

  Limits limits_;
  llhttp_t parser_;
  llhttp_settings_t settings_;
  RequestHead head_;
  std::string_view body_;
  State state_ = State::kHead;
  // scanHead state, carried across feeds.
  bool sawCR_ = false;
  bool lineEmpty_ = true;
  bool sawRequestLine_ = false;
  bool inName_ = false;
  bool headEnded_ = false;  // the last scan reached the empty line
  size_t headBytes_ = 0;
  bool lastWasValue_ = true;
  Event event_ = Event::kNeedMore;  // set by the llhttp callback that paused
  ChunkedFramingCheck chunks_;
  bool keepAlive_ = true;
  bool upgraded_ = false;
  int errorStatus_ = 0;
  std::string errorReason_;
};

// Whole requests, for servers whose handlers want a complete body.
class RequestParser {
 public:
  struct Limits {
    size_t maxHeaderBytes = 64 * 1024;
    size_t maxBodyBytes = 4 * 1024 * 1024;
  };
  enum class Outcome {
    kNeedMore,  // everything given was consumed; no complete request yet
    kRequest,   // one request is complete: takeRequest(); the rest is unconsumed
    kError,     // malformed (smuggling-style framing included) or over a limit
  };

  explicit RequestParser(Limits limits);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses from the start of `data`; *consumed says how many bytes were used.
  Outcome feed(std::string_view data, size_t* consumed);
  // The request completed by the last feed() (path and query split out).
  Request takeRequest();
  // Whether the connection may carry another request after this one.
  bool keepAlive() const { return stream_.keepAlive(); }
  // After kError: the status to answer (400, 413, 431) and why.
  int errorStatus() const { return errorStatus_; }
  const std::string& errorReason() const { return errorReason_; }

 private:
  Outcome tooLarge();

  Limits limits_;
  RequestStreamParser stream_;
  Request current_;
  int errorStatus_ = 0;
  std::string errorReason_;
};

}  // namespace corral::http
