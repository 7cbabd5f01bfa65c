#include "proxy/response_stream.h"

#include <strings.h>

#include "base/http_message.h"

namespace corral::proxy {

ResponseStream::ResponseStream(Limits limits) : limits_(limits), chunks_(limits.maxHeaderBytes) {
  reset(false);
}

void ResponseStream::reset(bool headRequest) {
  // A parser that saw an error stays failed; every exchange starts afresh
  // (reset keeps the header storage grown by earlier responses).
  if (parser_) {
    parser_->reset();
  } else {
    parser_.emplace(http::ResponseParser::Limits{limits_.maxHeaderBytes});
  }
  parser_->expectResponseTo(headRequest ? "HEAD" : "GET");
  headRequest_ = headRequest;
  started_ = inBody_ = chunked_ = failed_ = false;
  statusLine_.clear();
  statusLineOpen_ = true;
  chunks_.reset();
}

ResponseStream::Event ResponseStream::fail(std::string reason) {
  failed_ = true;
  errorReason_ = std::move(reason);
  return Event::kError;
}

ResponseStream::Event ResponseStream::feed(std::string_view data, size_t* consumed) {
  *consumed = 0;
  if (failed_) return Event::kError;
  if (data.empty() && !inBody_) return Event::kNeedMore;
  bool wasInBody = inBody_;
  size_t used = 0;
  auto event = parser_->feed(data, &used);
  if (statusLineOpen_ && !wasInBody) {
    // The reason phrase is kept as the task sent it; the parser drops it.
    std::string_view seen = data.substr(0, used);
    size_t lf = seen.find('\n');
    statusLine_.append(seen.substr(0, lf));
    if (lf != std::string_view::npos) statusLineOpen_ = false;
  }
  if (used > 0) started_ = true;
  if (event == http::ResponseParser::Event::kError) return fail(parser_->errorMessage());
  if (wasInBody && chunked_ && !chunks_.check(data.substr(0, used))) {
    return fail(std::string("bad HTTP response: ") + chunks_.error());
  }
  *consumed = used;
  switch (event) {
    case http::ResponseParser::Event::kNeedMore:
      return Event::kNeedMore;
    case http::ResponseParser::Event::kHead:
      inBody_ = true;
      chunked_ = !headRequest_ && header("Transfer-Encoding") && !parser_->bodyUntilClose() &&
                 status() >= 200 && status() != 204 && status() != 304;
      chunks_.reset();
      return Event::kHead;
    case http::ResponseParser::Event::kBody:
      return Event::kBody;
    case http::ResponseParser::Event::kComplete:
    case http::ResponseParser::Event::kUpgrade:
      inBody_ = false;
      statusLine_.clear();
      statusLineOpen_ = true;
      if (chunked_ && !chunks_.done()) return fail("bad HTTP response: chunked body cut short");
      return Event::kEnd;
    case http::ResponseParser::Event::kError:
      break;
  }
  return fail(parser_->errorMessage());
}

bool ResponseStream::finish() {
  if (failed_ || !inBody_ || !closeDelimited()) return false;
  if (parser_->finish() != http::ResponseParser::Event::kComplete) return false;
  inBody_ = false;
  return true;
}

std::string_view ResponseStream::reason() const {
  // "HTTP/1.1 200 OK\r": what follows the second space, without the CR.
  std::string_view line(statusLine_);
  size_t first = line.find(' ');
  size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos) return {};
  std::string_view reason = line.substr(second + 1);
  if (!reason.empty() && reason.back() == '\r') reason.remove_suffix(1);
  return reason;
}

std::optional<std::string_view> ResponseStream::header(std::string_view name) const {
  return http::findHeader(parser_->headers(), name);
}

}  // namespace corral::proxy
