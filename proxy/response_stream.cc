#include "proxy/response_stream.h"

#include <strings.h>

namespace corral::proxy {

namespace {
bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}
const char kNothing[1] = {0};
}  // namespace

ResponseStream::ResponseStream(Limits limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = [](llhttp_t* p) {
    auto* s = self(p);
    s->bytes_.clear();
    s->fields_.clear();
    s->reasonLen_ = 0;
    s->lastWasValue_ = true;
    s->started_ = true;
    s->closeDelimited_ = false;
    return 0;
  };
  settings_.on_status = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    return s->append(at, n, &s->reasonLen_);
  };
  settings_.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->inBody_) return 0;
    if (s->lastWasValue_) {
      s->fields_.push_back({static_cast<uint32_t>(s->bytes_.size()), 0, 0, 0});
      s->lastWasValue_ = false;
    }
    return s->append(at, n, &s->fields_.back().nameLen);
  };
  settings_.on_header_field_complete = [](llhttp_t* p) {
    auto* s = self(p);
    if (!s->inBody_) s->fields_.back().valueAt = static_cast<uint32_t>(s->bytes_.size());
    return 0;
  };
  settings_.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->inBody_) return 0;
    return s->append(at, n, &s->fields_.back().valueLen);
  };
  settings_.on_header_value_complete = [](llhttp_t* p) {
    self(p)->lastWasValue_ = true;
    return 0;
  };
  settings_.on_headers_complete = [](llhttp_t* p) {
    auto* s = self(p);
    s->status_ = p->status_code;
    if (p->http_major != 1) return s->fail("unsupported HTTP version");
    if (s->header("Content-Length") && s->header("Transfer-Encoding")) {
      return s->fail("both Content-Length and Transfer-Encoding");
    }
    bool noBody = s->headRequest_ || s->status_ == 204 || s->status_ == 304 ||
                  (s->status_ >= 100 && s->status_ < 200);
    s->closeDelimited_ = !noBody && (p->flags & (F_CHUNKED | F_CONTENT_LENGTH)) == 0;
    s->keepAlive_ = llhttp_should_keep_alive(p) != 0;
    s->inBody_ = true;
    s->event_ = Event::kHead;
    // 1: no body (HEAD); llhttp knows 1xx/204/304 itself.
    return s->headRequest_ ? 1 : static_cast<int>(HPE_PAUSED);
  };
  settings_.on_body = [](llhttp_t* p, const char* at, size_t n) {
    if (n == 0) return 0;
    self(p)->event_ = Event::kBody;
    return static_cast<int>(HPE_PAUSED);
  };
  settings_.on_message_complete = [](llhttp_t* p) {
    auto* s = self(p);
    s->keepAlive_ = llhttp_should_keep_alive(p) != 0;
    s->inBody_ = false;
    if (s->event_ == Event::kHead) {
      s->endPending_ = true;  // head and end in one go (HEAD): the end on the next feed
    } else {
      s->event_ = Event::kEnd;
    }
    return static_cast<int>(HPE_PAUSED);
  };
  reset(false);
}

void ResponseStream::reset(bool headRequest) {
  llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
  parser_.data = this;
  headRequest_ = headRequest;
  started_ = inBody_ = closeDelimited_ = failed_ = endPending_ = false;
  sawCR_ = false;
  lineEmpty_ = true;
  sawStatusLine_ = false;
  keepAlive_ = true;
  status_ = 0;
  event_ = Event::kNeedMore;
}

int ResponseStream::append(const char* at, size_t n, uint32_t* len) {
  if (bytes_.size() + n > limits_.maxHeaderBytes) return fail("response head too large");
  bytes_.append(at, n);
  *len += static_cast<uint32_t>(n);
  return 0;
}

int ResponseStream::fail(std::string reason) {
  if (!failed_) errorReason_ = std::move(reason);
  failed_ = true;
  return -1;
}

ResponseStream::Event ResponseStream::feed(std::string_view data, size_t* consumed) {
  *consumed = 0;
  if (failed_) return Event::kError;
  if (endPending_) {
    endPending_ = false;
    lineEmpty_ = true;
    sawStatusLine_ = false;
    return Event::kEnd;
  }
  if (data.empty()) {
    if (!inBody_) return Event::kNeedMore;
    data = std::string_view(kNothing, 0);
  }
  size_t n = data.size();
  if (!inBody_) {
    n = scanHead(data);
    if (n == std::string_view::npos) return Event::kError;
    data = data.substr(0, n);
  }
  event_ = Event::kNeedMore;
  llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
  if (err == HPE_OK) {
    *consumed = data.size();
    if (event_ == Event::kHead) return Event::kHead;  // HEAD answer: ends next feed
    return Event::kNeedMore;
  }
  if (err == HPE_PAUSED) {
    *consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data.data());
    llhttp_resume(&parser_);
    if (event_ == Event::kEnd) {
      lineEmpty_ = true;  // an interim answer: the next head scans afresh
      sawStatusLine_ = false;
    }
    return event_;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    *consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data.data());
    return Event::kEnd;
  }
  fail(llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "bad response");
  return Event::kError;
}

// Up to the end of the head, refusing bare CR and LF (llhttp 8 accepts a
// bare LF) and obsolete line folding.
size_t ResponseStream::scanHead(std::string_view data) {
  for (size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (sawCR_) {
      if (c != '\n') {
        fail("bare CR in response head");
        return std::string_view::npos;
      }
      sawCR_ = false;
      if (lineEmpty_ && sawStatusLine_) return i + 1;
      lineEmpty_ = true;
    } else if (c == '\r') {
      sawCR_ = true;
    } else if (c == '\n') {
      fail("bare LF in response head");
      return std::string_view::npos;
    } else {
      if (lineEmpty_ && sawStatusLine_ && (c == ' ' || c == '\t')) {
        fail("obsolete line folding in response head");
        return std::string_view::npos;
      }
      lineEmpty_ = false;
      sawStatusLine_ = true;
    }
  }
  return data.size();
}

bool ResponseStream::finish() {
  if (!started_ || !inBody_ || !closeDelimited_ || failed_) return false;
  if (llhttp_finish(&parser_) != HPE_OK) return false;
  inBody_ = false;
  return true;
}

std::string_view ResponseStream::headerName(size_t i) const {
  return std::string_view(bytes_).substr(fields_[i].nameAt, fields_[i].nameLen);
}

std::string_view ResponseStream::headerValue(size_t i) const {
  return std::string_view(bytes_).substr(fields_[i].valueAt, fields_[i].valueLen);
}

std::optional<std::string_view> ResponseStream::header(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (equalsIgnoreCase(headerName(i), name)) return headerValue(i);
  }
  return std::nullopt;
}

}  // namespace corral::proxy
