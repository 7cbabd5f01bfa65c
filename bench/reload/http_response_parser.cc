#include "bench/reload/http_response_parser.h"

#include <algorithm>
#include <cstring>

namespace corral::bench {
namespace {

constexpr size_t kMaxTrailerLines = 64;
constexpr uint64_t kMaxBody = uint64_t{1} << 40;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// True when the comma-separated list `value` holds `token` (case-insensitive).
bool hasToken(std::string_view value, std::string_view token) {
  for (size_t start = 0; start <= value.size();) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    if (equalsNoCase(trim(value.substr(start, comma - start)), token)) return true;
    start = comma + 1;
  }
  return false;
}

// The last coding of a Transfer-Encoding list.
std::string_view lastToken(std::string_view value) {
  size_t comma = value.rfind(',');
  return trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
}

bool parseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 15) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool parseHex(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 10) return false;  // 10 hex digits: far beyond any chunk we accept
  uint64_t v = 0;
  for (char c : s) {
    int d = (c >= '0' && c <= '9')                 ? c - '0'
            : (lower(c) >= 'a' && lower(c) <= 'f') ? lower(c) - 'a' + 10
                                                   : -1;
    if (d < 0) return false;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

}  // namespace

void HttpResponseParser::reset() {
  phase_ = Phase::kHead;
  started_ = false;
  status_ = 0;
  close_after_ = false;
  remaining_ = 0;
  trailer_lines_ = 0;
  head_.clear();
  line_.clear();
  backend_.clear();
  error_ = "";
}

HttpResponseParser::State HttpResponseParser::fail(const char* why) {
  error_ = why;
  return State::kMalformed;
}

bool HttpResponseParser::takeLine(const char*& p, const char* end, bool* too_long) {
  const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
  const char* stop = nl ? nl : end;
  if (line_.size() + static_cast<size_t>(stop - p) > kMaxLine) {
    *too_long = true;
    return false;
  }
  line_.append(p, stop);
  p = nl ? nl + 1 : end;
  if (!nl) return false;
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  return true;
}

HttpResponseParser::State HttpResponseParser::parseHead() {
  // head_ ends with the blank line; lines are CRLF-separated.
  std::string_view head(head_);
  head.remove_suffix(4);
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  // "HTTP/1.x SSS[ reason]"
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    return fail("bad status line");
  }
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (status_line[i] < '0' || status_line[i] > '9') return fail("bad status code");
    status = status * 10 + (status_line[i] - '0');
  }
  if (status < 100) return fail("bad status code");
  bool http10 = status_line[7] == '0';
  bool keep_alive = false;
  bool chunked = false;
  bool has_te = false;
  bool has_length = false;
  uint64_t length = 0;
  std::string_view backend;
  // kMaxHead bounds the lines: each takes at least two bytes.
  while (!head.empty()) {
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail("header line without a name");
    std::string_view name = line.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos)
      return fail("whitespace in a header name");
    std::string_view value = trim(line.substr(colon + 1));
    if (equalsNoCase(name, "content-length")) {
      uint64_t v = 0;
      if (!parseDecimal(value, &v) || v > kMaxBody) return fail("bad Content-Length");
      if (has_length && v != length) return fail("conflicting Content-Length");
      has_length = true;
      length = v;
    } else if (equalsNoCase(name, "transfer-encoding")) {
      has_te = true;
      chunked = equalsNoCase(lastToken(value), "chunked");
    } else if (equalsNoCase(name, "connection")) {
      if (hasToken(value, "close")) close_after_ = true;
      if (hasToken(value, "keep-alive")) keep_alive = true;
    } else if (equalsNoCase(name, "x-backend")) {
      backend = value.substr(0, kMaxBackend);
    }
  }
  if (status < 200) {
    // An interim answer (100 Continue): the real one follows.
    head_.clear();
    close_after_ = false;
    return State::kNeedMore;
  }
  if (http10 && !keep_alive) close_after_ = true;
  status_ = status;
  backend_.assign(backend);
  if (status == 204 || status == 304) {
    phase_ = Phase::kDone;
  } else if (has_te) {
    // Transfer-Encoding wins over Content-Length (RFC 9112 6.3); a coding
    // other than chunked last means the body runs until close.
    phase_ = chunked ? Phase::kChunkSize : Phase::kUntilClose;
    if (!chunked) close_after_ = true;
  } else if (has_length) {
    remaining_ = length;
    phase_ = length == 0 ? Phase::kDone : Phase::kBodyLength;
  } else {
    phase_ = Phase::kUntilClose;
    close_after_ = true;
  }
  return phase_ == Phase::kDone ? State::kDone : State::kNeedMore;
}

HttpResponseParser::State HttpResponseParser::feed(const char* data, size_t len, size_t* used) {
  const char* p = data;
  const char* end = data + len;
  if (len > 0) started_ = true;
  // Each turn consumes bytes or changes phase; the bound only guards against a bug.
  for (size_t turns = 0; turns < len + 16 && phase_ != Phase::kDone; ++turns) {
    if (p == end && phase_ != Phase::kDone) break;
    bool too_long = false;
    switch (phase_) {
      case Phase::kHead: {
        size_t old = head_.size();
        size_t n = std::min(static_cast<size_t>(end - p), kMaxHead - old);
        head_.append(p, n);
        size_t pos = head_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
        if (pos == std::string::npos) {
          p += n;
          if (head_.size() >= kMaxHead) return fail("head too long");
          break;
        }
        p += pos + 4 - old;
        head_.resize(pos + 4);
        State s = parseHead();
        if (s == State::kMalformed) return s;
        break;
      }
      case Phase::kBodyLength:
      case Phase::kChunkData: {
        uint64_t take = std::min<uint64_t>(remaining_, static_cast<uint64_t>(end - p));
        p += take;
        remaining_ -= take;
        if (remaining_ == 0)
          phase_ = phase_ == Phase::kBodyLength ? Phase::kDone : Phase::kChunkDataEnd;
        break;
      }
      case Phase::kChunkSize: {
        if (!takeLine(p, end, &too_long)) {
          if (too_long) return fail("chunk size line too long");
          break;
        }
        std::string_view size = trim(std::string_view(line_).substr(0, line_.find(';')));
        uint64_t v = 0;
        if (!parseHex(size, &v) || v > kMaxBody) return fail("bad chunk size");
        line_.clear();
        remaining_ = v;
        phase_ = v == 0 ? Phase::kTrailer : Phase::kChunkData;
        break;
      }
      case Phase::kChunkDataEnd: {
        if (!takeLine(p, end, &too_long)) {
          if (too_long) return fail("chunk data longer than its size");
          break;
        }
        if (!line_.empty()) return fail("chunk data longer than its size");
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kTrailer: {
        if (!takeLine(p, end, &too_long)) {
          if (too_long) return fail("trailer line too long");
          break;
        }
        bool blank = line_.empty();
        line_.clear();
        if (blank) {
          phase_ = Phase::kDone;
        } else if (++trailer_lines_ > kMaxTrailerLines) {
          return fail("too many trailer lines");
        }
        break;
      }
      case Phase::kUntilClose:
        p = end;
        break;
      case Phase::kDone:
        break;
    }
  }
  *used = static_cast<size_t>(p - data);
  return phase_ == Phase::kDone ? State::kDone : State::kNeedMore;
}

HttpResponseParser::State HttpResponseParser::finishOnClose() {
  if (phase_ == Phase::kUntilClose) {
    phase_ = Phase::kDone;
    return State::kDone;
  }
  return phase_ == Phase::kDone ? State::kDone : State::kNeedMore;
}

}  // namespace corral::bench
