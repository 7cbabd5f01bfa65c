#include "base/sse.h"

namespace corral::sse {

Parser::Parser(std::function<void(const Event&)> onEvent, CommentCallback onComment,
               size_t maxEventBytes)
    : onEvent_(std::move(onEvent)),
      onComment_(std::move(onComment)),
      maxEventBytes_(maxEventBytes) {}

void Parser::reset() {
  ++generation_;
  buf_.clear();
  type_.clear();
  data_.clear();
  hasData_ = false;
  lastId_.clear();
  skipLf_ = false;
}

bool Parser::feed(std::string_view bytes) {
  // A line at a time, not a byte at a time: a burst of a thousand events is
  // megabytes read on the control thread, which shares a core with a worker.
  uint64_t generation = generation_;
  size_t at = 0;
  while (at < bytes.size()) {
    if (generation != generation_) return true;  // reset() by a callback
    if (skipLf_) {
      skipLf_ = false;
      if (bytes[at] == '\n') {
        ++at;
        continue;
      }
    }
    size_t end = at;
    while (end < bytes.size() && bytes[end] != '\n' && bytes[end] != '\r') ++end;
    if (end == bytes.size()) {  // the line goes on in the next read
      buf_.append(bytes.substr(at));
      return buf_.size() + data_.size() <= maxEventBytes_;
    }
    std::string_view piece = bytes.substr(at, end - at);
    skipLf_ = bytes[end] == '\r';
    at = end + 1;
    if (buf_.empty()) {  // the whole line is in this read: no copy
      if (piece.size() + data_.size() > maxEventBytes_) return false;
      line(piece);
      continue;
    }
    buf_.append(piece);
    if (buf_.size() + data_.size() > maxEventBytes_) return false;
    line(buf_);
    buf_.clear();
  }
  return true;
}

void Parser::line(std::string_view l) {
  if (l.empty()) {
    if (hasData_) {
      Event e{lastId_, type_.empty() ? "message" : type_, data_};
      onEvent_(e);
    }
    type_.clear();
    data_.clear();
    hasData_ = false;
    return;
  }
  if (l.front() == ':') {
    l.remove_prefix(1);
    if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
    if (onComment_) onComment_(l);
    return;
  }
  auto colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value =
      colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (hasData_) data_.push_back('\n');
    data_.append(value);
    hasData_ = true;
  } else if (field == "event") {
    type_ = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) lastId_ = std::string(value);
  }
}

std::string format(std::string_view id, std::string_view type, std::string_view data) {
  std::string out;
  out.reserve(data.size() + type.size() + 32);
  if (!id.empty()) {
    out += "id: ";
    out += id;
    out += '\n';
  }
  if (!type.empty()) {
    out += "event: ";
    out += type;
    out += '\n';
  }
  size_t start = 0;
  while (true) {
    auto nl = data.find('\n', start);
    out += "data: ";
    out += data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    out += '\n';
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out += '\n';
  return out;
}

}  // namespace corral::sse
