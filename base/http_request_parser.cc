#include "base/http_request_parser.h"

#include <climits>

namespace corral::http {

RequestParser::RequestParser(Limits limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = [](llhttp_t* p) {
    auto* s = self(p);
    s->current_ = Request();
    s->current_.target.clear();
    s->headerBytes_ = 0;
    s->lastWasValue_ = true;
    return 0;
  };
  settings_.on_url = [](llhttp_t* p, const char* at, size_t n) {
    self(p)->current_.target.append(at, n);
    return self(p)->checkHeaderBytes(n);
  };
  settings_.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->lastWasValue_) s->current_.headers.emplace_back();
    s->current_.headers.back().first.append(at, n);
    s->lastWasValue_ = false;
    return s->checkHeaderBytes(n);
  };
  settings_.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->current_.headers.empty()) s->current_.headers.emplace_back();
    s->current_.headers.back().second.append(at, n);
    s->lastWasValue_ = true;
    return s->checkHeaderBytes(n);
  };
  settings_.on_headers_complete = [](llhttp_t* p) {
    auto* s = self(p);
    s->current_.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
    // Both framings at once is how requests are smuggled past a proxy that
    // reads the other one; llhttp lets some through (e.g. an empty
    // Transfer-Encoding), so the parser refuses every such request itself.
    if (findHeader(s->current_.headers, "Content-Length") &&
        findHeader(s->current_.headers, "Transfer-Encoding")) {
      s->errorStatus_ = 400;
      s->errorReason_ = "both Content-Length and Transfer-Encoding";
      return -1;
    }
    if (p->content_length > s->limits_.maxBodyBytes && p->content_length != ULLONG_MAX) {
      return s->tooLarge();
    }
    return 0;
  };
  settings_.on_body = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->current_.body.size() + n > s->limits_.maxBodyBytes) return s->tooLarge();
    s->current_.body.append(at, n);
    return 0;
  };
  // Pausing at the end of each message lets the caller answer requests in
  // order (pipelining) and keeps later bytes unconsumed until then.
  settings_.on_message_complete = [](llhttp_t* p) {
    self(p)->keepAlive_ = llhttp_should_keep_alive(p) != 0;
    return static_cast<int>(HPE_PAUSED);
  };
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

int RequestParser::checkHeaderBytes(size_t n) {
  headerBytes_ += n;
  if (headerBytes_ > limits_.maxHeaderBytes) {
    errorStatus_ = 431;
    errorReason_ =
        "request headers larger than " + std::to_string(limits_.maxHeaderBytes) + " bytes";
    return -1;
  }
  return 0;
}

int RequestParser::tooLarge() {
  errorStatus_ = 413;
  errorReason_ = "request body larger than " + std::to_string(limits_.maxBodyBytes) + " bytes";
  return -1;
}

RequestParser::Outcome RequestParser::feed(std::string_view data, size_t* consumed) {
  *consumed = 0;
  if (errorStatus_ != 0) return Outcome::kError;
  if (data.empty()) return Outcome::kNeedMore;
  llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
  if (err == HPE_OK) {
    *consumed = data.size();
    return Outcome::kNeedMore;
  }
  if (err == HPE_PAUSED) {
    *consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data.data());
    llhttp_resume(&parser_);
    return Outcome::kRequest;
  }
  if (errorStatus_ == 0) {
    errorStatus_ = 400;
    errorReason_ = llhttp_get_error_reason(&parser_);
  }
  return Outcome::kError;
}

Request RequestParser::takeRequest() {
  Request r = std::move(current_);
  current_ = Request();
  splitTarget(r.target, &r.path, &r.query);
  return r;
}

}  // namespace corral::http
