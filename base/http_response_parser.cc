#include "base/http_response_parser.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace corral::http {

namespace {

// RFC 9110 section 5.6.2: header names are tokens (a table: it is asked
// for every byte of every header name).
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = table[c - 'a' + 'A'] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

bool isTokenChar(char c) { return kTokenChars[static_cast<unsigned char>(c)]; }

ResponseParser::Error kindOf(llhttp_errno_t err) {
  switch (err) {
    case HPE_INVALID_CONTENT_LENGTH:
    case HPE_UNEXPECTED_CONTENT_LENGTH:
    case HPE_INVALID_CHUNK_SIZE:
    case HPE_INVALID_TRANSFER_ENCODING:
      return ResponseParser::Error::kFraming;
    default:
      return ResponseParser::Error::kMalformed;
  }
}

}  // namespace

ResponseParser::ResponseParser() : ResponseParser(Limits{}) {}

ResponseParser::ResponseParser(Limits limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = [](llhttp_t* p) {
    auto* s = self(p);
    s->status_ = 0;
    s->startHeaders();
    s->lastWasValue_ = true;
    s->headerBytes_ = 0;
    s->inMessage_ = true;
    s->inBody_ = false;
    s->headReported_ = false;
    s->untilClose_ = false;
    return 0;
  };
  settings_.on_status = [](llhttp_t* p, const char*, size_t n) {
    return self(p)->countHeaderBytes(n);
  };
  settings_.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->lastWasValue_) s->nextHeader();
    s->headers_[s->headerCount_ - 1].first.append(at, n);
    s->lastWasValue_ = false;
    return s->countHeaderBytes(n);
  };
  settings_.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->headerCount_ == 0) s->nextHeader();
    s->headers_[s->headerCount_ - 1].second.append(at, n);
    s->lastWasValue_ = true;
    return s->countHeaderBytes(n);
  };
  settings_.on_headers_complete = [](llhttp_t* p) { return self(p)->onHeadersComplete(); };
  // Pausing after every body span hands the caller each chunk in place (no
  // copy) and lets it stop reading until it has forwarded the chunk.
  settings_.on_body = [](llhttp_t* p, const char* at, size_t n) {
    if (n == 0) return 0;  // llhttp flushes an empty span at the end of the input
    auto* s = self(p);
    s->chunk_ = std::string_view(at, n);
    s->paused_ = Event::kBody;
    return static_cast<int>(HPE_PAUSED);
  };
  settings_.on_message_complete = [](llhttp_t* p) {
    auto* s = self(p);
    s->keepAlive_ = llhttp_should_keep_alive(p) != 0;
    s->inMessage_ = false;
    s->inBody_ = false;
    s->paused_ = s->status_ == 101 ? Event::kUpgrade : Event::kComplete;
    return static_cast<int>(HPE_PAUSED);
  };
  llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
  parser_.data = this;
}

void ResponseParser::reset() {
  llhttp_reset(&parser_);
  status_ = 0;
  startHeaders();
  lastWasValue_ = true;
  headerBytes_ = 0;
  inMessage_ = inBody_ = headReported_ = prevWasCr_ = lineStart_ = false;
  chunk_ = {};
  pending_ = Event::kNeedMore;
  upgraded_ = closed_ = keepAlive_ = untilClose_ = false;
  paused_ = Event::kNeedMore;
  error_ = Error::kNone;
  errorMessage_.clear();
}

void ResponseParser::expectResponseTo(std::string_view method) {
  requestWasHead_ = method == "HEAD";
}

int ResponseParser::fail(Error e, std::string message) {
  error_ = e;
  errorMessage_ = std::move(message);
  return -1;
}

int ResponseParser::countHeaderBytes(size_t n) {
  headerBytes_ += n;
  if (headerBytes_ > limits_.maxHeaderBytes) {
    return fail(Error::kHeadersTooLarge, "response headers larger than " +
                                             std::to_string(limits_.maxHeaderBytes) + " bytes");
  }
  return 0;
}

void ResponseParser::startHeaders() {
  // The strings of the last head are emptied, not freed: a next head with
  // as many fields reuses them (no allocation per response).
  for (size_t i = 0; i < headerCount_; ++i) {
    headers_[i].first.clear();
    headers_[i].second.clear();
  }
  headerCount_ = 0;
}

void ResponseParser::nextHeader() {
  if (headerCount_ == headers_.size()) headers_.emplace_back();
  ++headerCount_;
}

int ResponseParser::onHeadersComplete() {
  // Fields a longer earlier head left behind go now (they are empty).
  headers_.resize(headerCount_);
  status_ = parser_.status_code;
  // RFC 9110 section 15: three digits, the first 1 to 5 (llhttp takes "0").
  if (status_ < 100 || status_ > 599) {
    return fail(Error::kMalformed, "bad HTTP response: status code " + std::to_string(status_));
  }
  // RFC 9112 section 6.3: a response carrying both framings, or several
  // lengths, has no length anyone can trust (llhttp lets some through).
  int lengths = 0;
  bool transferEncoding = false;
  for (const auto& [name, value] : headers_) {
    if (equalsIgnoreCase(name, "Content-Length")) ++lengths;
    if (equalsIgnoreCase(name, "Transfer-Encoding")) transferEncoding = true;
  }
  if (lengths > 0 && transferEncoding) {
    return fail(Error::kFraming, "response has both Content-Length and Transfer-Encoding");
  }
  if (lengths > 1) return fail(Error::kFraming, "response has several Content-Length headers");
  for (const auto& [name, value] : headers_) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), isTokenChar)) {
      return fail(Error::kMalformed,
                  "bad HTTP response: invalid header name '" + name.substr(0, 64) + "'");
    }
  }
  untilClose_ = !requestWasHead_ && status_ >= 200 && status_ != 204 && status_ != 304 &&
                llhttp_message_needs_eof(&parser_) != 0;
  // RFC 9112 section 6.3 rule 1: no body after these, whatever the headers
  // announce (llhttp would read one for a Content-Length or Transfer-Encoding).
  if (requestWasHead_ || status_ < 200 || status_ == 204 || status_ == 304) return 1;
  headReported_ = true;
  inBody_ = true;
  paused_ = Event::kHead;
  return static_cast<int>(HPE_PAUSED);
}

ResponseParser::Event ResponseParser::failFromLlhttp(llhttp_errno_t err) {
  if (error_ == Error::kNone) {
    fail(kindOf(err), std::string("bad HTTP response: ") + llhttp_get_error_reason(&parser_));
  }
  return Event::kError;
}

ResponseParser::Event ResponseParser::feed(std::string_view data, size_t* consumed) {
  *consumed = 0;
  chunk_ = {};
  if (error_ != Error::kNone) return Event::kError;
  if (Event e = takePending(); e != Event::kNeedMore) return e;
  if (upgraded_) {
    fail(Error::kAfterUpgrade, "bytes after 101 Switching Protocols belong to another protocol");
    return Event::kError;
  }
  // Even with no bytes the parser may have a step to take: a response with an
  // empty body ends right after its head.
  static const char kNothing = 0;
  if (data.empty()) data = std::string_view(&kNothing, 0);
  bool wasInBody = inBody_;
  paused_ = Event::kNeedMore;
  llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
  size_t used = data.size();
  if (err == HPE_PAUSED) {
    used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data.data());
    llhttp_resume(&parser_);
  } else if (err != HPE_OK) {
    return failFromLlhttp(err);
  }
  // Line endings in the head must be CRLF: a bare LF or CR is read one way by
  // one parser and another way by the next (llhttp 8 accepts a bare LF).
  if (!wasInBody && !checkLineEnds(data.substr(0, used))) return Event::kError;
  *consumed = used;
  if ((paused_ == Event::kComplete || paused_ == Event::kUpgrade) && !headReported_) {
    // A response without a body completes in the same step as its head:
    // report the head now and the end on the next call.
    headReported_ = true;
    pending_ = paused_;
    return Event::kHead;
  }
  if (paused_ == Event::kUpgrade) upgraded_ = true;
  return paused_;
}

bool ResponseParser::checkLineEnds(std::string_view head) {
  // Only CR and LF matter: jump from one to the next (memchr) instead of
  // looking at every byte.
  const char* p = head.data();
  const char* end = p + head.size();
  while (p < end) {
    // RFC 9112 section 5.2: a proxy refuses obs-fold (a header line that
    // starts with whitespace continues the previous one, which llhttp takes
    // and the next hop may not).
    if (lineStart_) {
      if (*p == ' ' || *p == '\t') {
        fail(Error::kMalformed, "bad HTTP response: obsolete line folding in the head");
        return false;
      }
      lineStart_ = false;
    }
    if (prevWasCr_) {
      if (*p != '\n') {
        fail(Error::kMalformed, "bad HTTP response: bare CR in the head");
        return false;
      }
      prevWasCr_ = false;
      lineStart_ = true;
      ++p;
      continue;
    }
    const void* cr = std::memchr(p, '\r', static_cast<size_t>(end - p));
    const char* stop = cr ? static_cast<const char*>(cr) : end;
    if (std::memchr(p, '\n', static_cast<size_t>(stop - p)) != nullptr) {
      fail(Error::kMalformed, "bad HTTP response: bare LF in the head");
      return false;
    }
    if (stop == end) break;
    prevWasCr_ = true;
    p = stop + 1;
  }
  return true;
}

ResponseParser::Event ResponseParser::finish() {
  chunk_ = {};
  if (error_ != Error::kNone) return Event::kError;
  if (Event e = takePending(); e != Event::kNeedMore) return e;
  if (upgraded_ || closed_) return Event::kNeedMore;
  // Take any step that needs no bytes first (an empty body after its head, the
  // bookkeeping after a response's end).
  size_t used = 0;
  Event e = feed(std::string_view(), &used);
  if (e != Event::kNeedMore) return e;
  closed_ = true;
  bool reading = inMessage_;
  paused_ = Event::kNeedMore;
  llhttp_errno_t err = llhttp_finish(&parser_);
  if (err == HPE_PAUSED) {
    llhttp_resume(&parser_);
    keepAlive_ = false;
    return paused_;
  }
  if (err != HPE_OK || reading) {
    fail(Error::kTruncated, "connection closed before the response was complete");
    return Event::kError;
  }
  return Event::kNeedMore;
}

ResponseParser::Event ResponseParser::takePending() {
  Event e = pending_;
  pending_ = Event::kNeedMore;
  if (e == Event::kUpgrade) upgraded_ = true;
  return e;
}

Response ResponseParser::head() const {
  Response r;
  r.status = status_;
  r.headers = headers_;
  return r;
}

BufferedResponseParser::BufferedResponseParser(std::string_view requestMethod, size_t maxBodyBytes,
                                               ResponseParser::Limits limits)
    : parser_(limits), maxBodyBytes_(maxBodyBytes) {
  parser_.expectResponseTo(requestMethod);
}

BufferedResponseParser::Outcome BufferedResponseParser::onEvent(ResponseParser::Event e) {
  using Event = ResponseParser::Event;
  switch (e) {
    case Event::kNeedMore:
      return Outcome::kNeedMore;
    case Event::kHead:
      response_.status = parser_.status();
      response_.headers = parser_.headers();
      return Outcome::kNeedMore;
    case Event::kBody:
      if (response_.body.size() + parser_.bodyChunk().size() > maxBodyBytes_) {
        error_ = ResponseParser::Error::kBodyTooLarge;
        errorMessage_ = "response body larger than " + std::to_string(maxBodyBytes_) + " bytes";
        return Outcome::kError;
      }
      response_.body.append(parser_.bodyChunk());
      return Outcome::kNeedMore;
    case Event::kComplete:
      // 100 Continue, 103 Early Hints: interim; the final response follows.
      if (response_.status >= 100 && response_.status < 200) {
        response_ = Response();
        return Outcome::kNeedMore;
      }
      done_ = true;
      return Outcome::kDone;
    case Event::kUpgrade:
      done_ = true;
      return Outcome::kDone;
    case Event::kError:
      error_ = parser_.error();
      errorMessage_ = parser_.errorMessage();
      return Outcome::kError;
  }
  return Outcome::kError;
}

BufferedResponseParser::Outcome BufferedResponseParser::feed(std::string_view data) {
  if (done_) return Outcome::kDone;
  if (error_ != ResponseParser::Error::kNone) return Outcome::kError;
  while (true) {
    size_t used = 0;
    auto event = parser_.feed(data, &used);
    data.remove_prefix(used);
    Outcome o = onEvent(event);
    if (o != Outcome::kNeedMore) return o;
    if (event == ResponseParser::Event::kNeedMore) return o;
  }
}

BufferedResponseParser::Outcome BufferedResponseParser::finish() {
  if (done_) return Outcome::kDone;
  if (error_ != ResponseParser::Error::kNone) return Outcome::kError;
  while (true) {
    auto event = parser_.finish();
    if (event == ResponseParser::Event::kNeedMore) {
      error_ = ResponseParser::Error::kTruncated;
      errorMessage_ = "connection closed before a response";
      return Outcome::kError;
    }
    Outcome o = onEvent(event);
    if (o != Outcome::kNeedMore) return o;
  }
}

}  // namespace corral::http
