// A socket-free HTTP/1.1 request parser on llhttp: bytes in, complete
// requests or one precise error out. The server feeds it what it reads; the
// fuzzer feeds it anything.
#pragma once

#include <llhttp.h>

#include <string>
#include <string_view>

#include "base/http_message.h"

namespace corral::http {

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
  bool keepAlive() const { return keepAlive_; }
  // After kError: the status to answer (400, 413, 431) and why.
  int errorStatus() const { return errorStatus_; }
  const std::string& errorReason() const { return errorReason_; }

 private:
  static RequestParser* self(llhttp_t* p) { return static_cast<RequestParser*>(p->data); }
  int checkHeaderBytes(size_t n);
  int tooLarge();

  Limits limits_;
  llhttp_t parser_;
  llhttp_settings_t settings_;
  Request current_;
  size_t headerBytes_ = 0;
  bool lastWasValue_ = true;
  bool keepAlive_ = true;
  int errorStatus_ = 0;
  std::string errorReason_;
};

}  // namespace corral::http
