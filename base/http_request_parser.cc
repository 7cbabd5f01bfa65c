#include "base/http_request_parser.h"

#include <algorithm>
#include <climits>

namespace corral::http {

namespace {
// llhttp needs a valid pointer even for an empty execute.
const char kNothing[1] = {0};
}  // namespace

void RequestHead::clear() {
  bytes_.clear();
  fields_.clear();
  method_ = {};
  targetAt_ = targetLen_ = 0;
  versionMajor_ = versionMinor_ = 1;
  chunked_ = hasContentLength_ = upgrade_ = expectContinue_ = false;
  contentLength_ = 0;
  keepAlive_ = true;
}

std::optional<std::string_view> RequestHead::header(std::string_view name) const {
  for (const Field& f : fields_) {
    if (equalsIgnoreCase(slice(f.nameAt, f.nameLen), name)) return slice(f.valueAt, f.valueLen);
  }
  return std::nullopt;
}

RequestStreamParser::RequestStreamParser(Limits limits)
    : limits_(limits), chunks_(limits.maxHeaderBytes) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = [](llhttp_t* p) {
    auto* s = self(p);
    s->head_.clear();
    s->headBytes_ = 0;
    s->lastWasValue_ = true;
    return 0;
  };
  settings_.on_url = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    return s->appendHead(at, n, &s->head_.targetLen_);
  };
  settings_.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->state_ == State::kBody) return 0;  // a trailer: checked, not kept
    auto& fields = s->head_.fields_;
    if (s->lastWasValue_) {
      fields.push_back({static_cast<uint32_t>(s->head_.bytes_.size()), 0, 0, 0});
      s->lastWasValue_ = false;
    }
    return s->appendHead(at, n, &fields.back().nameLen);
  };
  // The value starts where the name ended; marking it here (not in
  // on_header_value) keeps empty values, for which llhttp may call nothing.
  settings_.on_header_field_complete = [](llhttp_t* p) {
    auto* s = self(p);
    if (s->state_ == State::kBody) return 0;
    s->head_.fields_.back().valueAt = static_cast<uint32_t>(s->head_.bytes_.size());
    return 0;
  };
  settings_.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->state_ == State::kBody) return 0;
    return s->appendHead(at, n, &s->head_.fields_.back().valueLen);
  };
  settings_.on_header_value_complete = [](llhttp_t* p) {
    self(p)->lastWasValue_ = true;
    return 0;
  };
  settings_.on_headers_complete = [](llhttp_t* p) {
    auto* s = self(p);
    RequestHead& h = s->head_;
    h.method_ = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
    h.versionMajor_ = p->http_major;
    h.versionMinor_ = p->http_minor;
    // llhttp reads "GET /x" + CRLF as HTTP/0.9, ending the message before the
    // header lines; a proxy must never frame those differently from a task.
    if (p->http_major != 1) return s->fail(400, "unsupported HTTP version");
    // Both framings at once is how requests are smuggled past a proxy that
    // reads the other one; llhttp lets some through (e.g. an empty
    // Transfer-Encoding), so the parser refuses every such request itself.
    if (h.header("Content-Length") && h.header("Transfer-Encoding")) {
      return s->fail(400, "both Content-Length and Transfer-Encoding");
    }
    // RFC 9112 section 6.3: a request whose last transfer coding is not
    // chunked has no length anyone can trust. llhttp says so only when the
    // body starts, after its head has gone on to a task: refused here.
    if (h.header("Transfer-Encoding") && (p->flags & F_CHUNKED) == 0) {
      return s->fail(400, "Transfer-Encoding whose last coding is not chunked");
    }
    h.chunked_ = (p->flags & F_CHUNKED) != 0;
    h.hasContentLength_ = (p->flags & F_CONTENT_LENGTH) != 0;
    h.contentLength_ = h.hasContentLength_ ? p->content_length : 0;
    h.upgrade_ = p->method == HTTP_CONNECT ||
                 ((p->flags & F_UPGRADE) != 0 && (p->flags & F_CONNECTION_UPGRADE) != 0);
    auto expect = h.header("Expect");
    h.expectContinue_ = expect && equalsIgnoreCase(*expect, "100-continue");
    h.keepAlive_ = llhttp_should_keep_alive(p) != 0;
    s->chunks_.reset();
    s->event_ = Event::kHead;
    return static_cast<int>(HPE_PAUSED);
  };
  settings_.on_body = [](llhttp_t* p, const char* at, size_t n) {
    if (n == 0) return 0;  // llhttp reopens the span on every execute
    auto* s = self(p);
    s->body_ = std::string_view(at, n);
    s->event_ = Event::kBody;
    return static_cast<int>(HPE_PAUSED);
  };
  // Pausing at the end of each message lets the caller answer requests in
  // order (pipelining) and keeps later bytes unconsumed until then.
  settings_.on_message_complete = [](llhttp_t* p) {
    auto* s = self(p);
    s->keepAlive_ = llhttp_should_keep_alive(p) != 0;
    s->upgraded_ = p->upgrade != 0;
    s->event_ = Event::kEnd;
    return static_cast<int>(HPE_PAUSED);
  };
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

int RequestStreamParser::fail(int status, std::string reason) {
  if (errorStatus_ == 0) {
    errorStatus_ = status;
    errorReason_ = std::move(reason);
  }
  state_ = State::kError;
  return -1;
}

int RequestStreamParser::appendHead(const char* at, size_t n, uint32_t* len) {
  headBytes_ += n;
  if (headBytes_ > limits_.maxHeaderBytes) {
    return fail(431,
                "request headers larger than " + std::to_string(limits_.maxHeaderBytes) + " bytes");
  }
  head_.bytes_.append(at, n);
  *len += static_cast<uint32_t>(n);
  return 0;
}

size_t RequestStreamParser::scanHead(std::string_view data) {
  // The state lives in locals while scanning (members would be reloaded
  // after every byte: a char may alias them) and is stored back at the end.
  bool sawCR = sawCR_;
  bool lineEmpty = lineEmpty_;
  bool sawRequestLine = sawRequestLine_;
  bool inName = inName_;
  const char* error = nullptr;
  size_t end = data.size();
  bool headEnded = false;
  for (size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (sawCR) {
      if (c != '\n') {
        error = "bare CR in request head";
        break;
      }
      sawCR = false;
      if (lineEmpty && sawRequestLine) {  // the empty line ends the head
        end = i + 1;
        headEnded = true;
        break;
      }
      lineEmpty = true;
      inName = sawRequestLine;
    } else if (c == '\r') {
      sawCR = true;
    } else if (c == '\n') {
      error = "bare LF in request head";
      break;
    } else {
      if (lineEmpty && sawRequestLine && (c == ' ' || c == '\t')) {
        error = "obsolete header line folding";
        break;
      }
      if (inName && (c == ' ' || c == '\t')) {
        error = "whitespace in a header name";
        break;
      }
      if (c == ':') inName = false;
      lineEmpty = false;
      sawRequestLine = true;
    }
  }
  sawCR_ = sawCR;
  lineEmpty_ = lineEmpty;
  sawRequestLine_ = sawRequestLine;
  inName_ = inName;
  headEnded_ = headEnded;
  if (error != nullptr) {
    fail(400, error);
    return std::string_view::npos;
  }
  return end;
}

RequestStreamParser::Event RequestStreamParser::feed(std::string_view data, size_t* consumed) {
  *consumed = 0;
  body_ = {};
  switch (state_) {
    case State::kError:
      return Event::kError;
    case State::kUpgraded:
      fail(400, "request bytes after a protocol upgrade");
      return Event::kError;
    case State::kClosed:
      if (data.empty()) return Event::kNeedMore;
      fail(400, "request bytes after a request that closes the connection");
      return Event::kError;
    case State::kHead: {
      if (data.empty()) return Event::kNeedMore;
      size_t n = scanHead(data);
      if (n == std::string_view::npos) return Event::kError;
      Event e = afterExecute(llhttp_execute(&parser_, data.data(), n), data, n, consumed);
      if (e == Event::kNeedMore && headEnded_) {
        // A whole head that llhttp did not report: "PRI * HTTP/2.0", whose
        // preface it waits to complete. Waiting would leave the bytes after
        // it unread until the client sends more, which it never does.
        *consumed = 0;
        fail(400, "HTTP/2 connection preface: only HTTP/1.x is served here");
        return Event::kError;
      }
      return e;
    }
    case State::kBody:
      // Executed even with no bytes: a message without a body ends right here.
      if (data.empty()) data = std::string_view(kNothing, 0);
      return afterExecute(llhttp_execute(&parser_, data.data(), data.size()), data, data.size(),
                          consumed);
  }
  return Event::kError;
}

RequestStreamParser::Event RequestStreamParser::afterExecute(llhttp_errno_t err,
                                                             std::string_view data, size_t given,
                                                             size_t* consumed) {
  bool wasBody = state_ == State::kBody;
  size_t used = given;
  if (err == HPE_PAUSED) {
    used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data.data());
  } else if (err != HPE_OK) {
    fail(400, llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_)
                                                : llhttp_errno_name(err));
    return Event::kError;
  }
  if (wasBody && head_.chunked_ && !chunks_.check(data.substr(0, used))) {
    fail(chunks_.trailersTooLarge() ? 431 : 400, chunks_.error());
    return Event::kError;
  }
  *consumed = used;
  if (err == HPE_OK) return Event::kNeedMore;
  llhttp_resume(&parser_);
  Event e = event_;
  event_ = Event::kNeedMore;
  if (e == Event::kHead) {
    state_ = State::kBody;
  } else if (e == Event::kEnd) {
    if (head_.chunked_ && !chunks_.done()) {
      fail(400, "chunked body ended before its last chunk");
      return Event::kError;
    }
    // The next head starts a fresh scan.
    sawCR_ = false;
    lineEmpty_ = true;
    sawRequestLine_ = false;
    inName_ = false;
    state_ = upgraded_ ? State::kUpgraded : keepAlive_ ? State::kHead : State::kClosed;
  }
  return e;
}

namespace {
int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
bool isControl(char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; }
}  // namespace

void ChunkedFramingCheck::reset() {
  state_ = State::kSize;
  left_ = 0;
  digits_ = 0;
  trailerBytes_ = 0;
  trailersTooLarge_ = false;
  error_ = "";
}

bool ChunkedFramingCheck::check(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    switch (state_) {
      case State::kSize: {
        int d = hexDigit(c);
        if (d >= 0 && digits_ < 16) {
          left_ = left_ * 16 + static_cast<uint64_t>(d);
          ++digits_;
          continue;
        }
        if (digits_ == 0 || (c != ';' && c != '\r')) {
          error_ = "invalid chunk size line";
          return false;
        }
        state_ = c == ';' ? State::kExt : State::kSizeLF;
        continue;
      }
      case State::kExt:
        if (c == '\r') {
          state_ = State::kSizeLF;
        } else if (isControl(c)) {
          error_ = "invalid chunk extension";
          return false;
        }
        continue;
      case State::kSizeLF:
        if (c != '\n') break;
        state_ = left_ == 0 ? State::kTrailerStart : State::kData;
        continue;
      case State::kData: {
        uint64_t skip = std::min<uint64_t>(left_, bytes.size() - i);
        left_ -= skip;
        i += skip - 1;
        if (left_ == 0) state_ = State::kDataCR;
        continue;
      }
      case State::kDataCR:
        if (c != '\r') break;
        state_ = State::kDataLF;
        continue;
      case State::kDataLF:
        if (c != '\n') break;
        state_ = State::kSize;
        digits_ = 0;
        continue;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLF;
          continue;
        }
        if (isControl(c) || c == ' ') break;
        state_ = State::kTrailer;
        continue;
      case State::kTrailer:
        if (++trailerBytes_ > maxTrailerBytes_) {
          error_ = "trailers larger than the header limit";
          trailersTooLarge_ = true;
          return false;
        }
        if (c == '\r') {
          state_ = State::kTrailerLF;
        } else if (isControl(c)) {
          break;
        }
        continue;
      case State::kTrailerLF:
        if (c != '\n') break;
        state_ = State::kTrailerStart;
        continue;
      case State::kFinalLF:
        if (c != '\n') break;
        state_ = State::kDone;
        continue;
      case State::kDone:
        break;
    }
    error_ = "invalid chunked framing (bare CR or LF, or data longer than its chunk size)";
    return false;
  }
  return true;
}

RequestParser::RequestParser(Limits limits)
    : limits_(limits), stream_(RequestStreamParser::Limits{limits.maxHeaderBytes}) {}

RequestParser::Outcome RequestParser::tooLarge() {
  errorStatus_ = 413;
  errorReason_ = "request body larger than " + std::to_string(limits_.maxBodyBytes) + " bytes";
  return Outcome::kError;
}

RequestParser::Outcome RequestParser::feed(std::string_view data, size_t* consumed) {
  *consumed = 0;
  if (errorStatus_ != 0) return Outcome::kError;
  for (;;) {
    size_t used = 0;
    auto event = stream_.feed(data.substr(*consumed), &used);
    *consumed += used;
    switch (event) {
      case RequestStreamParser::Event::kNeedMore:
        return Outcome::kNeedMore;
      case RequestStreamParser::Event::kHead: {
        const RequestHead& h = stream_.head();
        if (h.hasContentLength() && h.contentLength() > limits_.maxBodyBytes) return tooLarge();
        current_ = Request();
        current_.method = h.method();
        current_.target = h.target();
        current_.headers.reserve(h.headerCount());
        for (size_t i = 0; i < h.headerCount(); ++i) {
          current_.headers.emplace_back(h.headerName(i), h.headerValue(i));
        }
        break;
      }
      case RequestStreamParser::Event::kBody:
        if (current_.body.size() + stream_.body().size() > limits_.maxBodyBytes) {
          return tooLarge();
        }
        current_.body.append(stream_.body());
        break;
      case RequestStreamParser::Event::kEnd:
        return Outcome::kRequest;
      case RequestStreamParser::Event::kError:
        errorStatus_ = stream_.errorStatus();
        errorReason_ = stream_.errorReason();
        return Outcome::kError;
    }
  }
}

Request RequestParser::takeRequest() {
  Request r = std::move(current_);
  current_ = Request();
  splitTarget(r.target, &r.path, &r.query);
  return r;
}

}  // namespace corral::http
