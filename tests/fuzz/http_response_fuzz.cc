// libFuzzer target for the HTTP response path: arbitrary bytes, split into
// arbitrary chunks, through the socket-free ResponseParser (streaming),
// BufferedResponseParser (as the client uses it) and proxy::ResponseStream
// (the proxy's own view on top of the streaming parser, fed exactly as
// proxy/http_session.cc feeds it: heads, then body bytes as they arrive).
// Invariants: never crash or loop; consumed never exceeds what was given; a
// body chunk lies inside the bytes just fed; events come in order (head, body
// chunks, complete); no body byte of a response framed by both Content-Length
// and Transfer-Encoding, or by several Content-Lengths, is ever delivered; a
// response to HEAD has no body; an error is final; both parsers agree.
// ResponseStream: consumed never exceeds what was given, an error is final,
// and the bytes it lets through (what the proxy forwards) always make whole
// responses a fresh strict parser accepts: framing in doubt never gets out.
#include <strings.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/http_response_parser.h"
#include "proxy/response_stream.h"

namespace {

bool doubtfulFraming(const corral::http::Headers& headers) {
  int lengths = 0;
  bool te = false;
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), "content-length") == 0) ++lengths;
    if (strcasecmp(k.c_str(), "transfer-encoding") == 0) te = true;
  }
  return lengths > 1 || (lengths > 0 && te);
}

// Feeds input in pieces the way the proxy's session does and checks what it
// would forward against a fresh buffered parser.
void checkResponseStream(std::string_view input, size_t chunk, bool head) {
  using corral::proxy::ResponseStream;
  using Event = ResponseStream::Event;
  ResponseStream stream(ResponseStream::Limits{2048});
  stream.reset(head);
  std::string buffer;
  std::string forwarded;  // every byte fed and consumed: the proxy's output
  bool failed = false;
  bool finalDone = false;
  auto verifyForwarded = [&](bool closed) {
    corral::http::BufferedResponseParser check(head ? "HEAD" : "GET", 1 << 20,
                                               corral::http::ResponseParser::Limits{2048});
    auto outcome = check.feed(forwarded);
    if (outcome == corral::http::BufferedResponseParser::Outcome::kNeedMore && closed) {
      outcome = check.finish();
    }
    if (outcome != corral::http::BufferedResponseParser::Outcome::kDone) __builtin_trap();
  };
  for (size_t at = 0; at < input.size() && !failed && !finalDone; at += chunk) {
    buffer.append(input.substr(at, chunk));
    for (int guard = 0; guard < 10000; ++guard) {
      // In a body even no bytes are fed (a bodiless answer ends there).
      if (buffer.empty() && !stream.inBody()) break;
      size_t consumed = 0;
      Event e = stream.feed(buffer, &consumed);
      if (consumed > buffer.size()) __builtin_trap();
      if (e == Event::kError) {
        if (stream.errorReason().empty()) __builtin_trap();
        size_t again = 0;
        if (stream.feed("HTTP/1.1 200 OK\r\n\r\n", &again) != Event::kError || again != 0) {
          __builtin_trap();
        }
        failed = true;
        break;
      }
      forwarded.append(buffer, 0, consumed);
      buffer.erase(0, consumed);
      if (e == Event::kEnd && !stream.interim()) {
        if (stream.status() == 101) return;  // the rest is another protocol
        verifyForwarded(false);
        finalDone = true;
        break;
      }
      if (e == Event::kNeedMore) break;
      if (guard == 9999) __builtin_trap();
    }
  }
  // The connection ends: a body delimited by it is complete.
  if (!failed && !finalDone && stream.finish()) verifyForwarded(true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  using namespace corral::http;
  using Event = ResponseParser::Event;
  // The first byte chooses the chunk size and whether the request was HEAD.
  size_t chunk = 1 + data[0] % 64;
  bool head = (data[0] & 0x80) != 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  ResponseParser parser(ResponseParser::Limits{2048});
  parser.expectResponseTo(head ? "HEAD" : "GET");
  BufferedResponseParser buffered(head ? "HEAD" : "GET", 4096, ResponseParser::Limits{2048});
  std::string buffer;
  bool inResponse = false;
  bool stopped = false;
  bool streamFailed = false;
  std::string firstBody;
  int firstStatus = 0;
  int finals = 0;
  auto onEvent = [&](Event e) {
    switch (e) {
      case Event::kHead:
        if (inResponse) __builtin_trap();
        inResponse = true;
        if (doubtfulFraming(parser.headers())) __builtin_trap();
        break;
      case Event::kBody:
        if (!inResponse || head) __builtin_trap();
        if (parser.status() < 200 || parser.status() == 204 || parser.status() == 304) {
          __builtin_trap();
        }
        if (finals == 0) firstBody.append(parser.bodyChunk());
        break;
      case Event::kComplete:
      case Event::kUpgrade:
        if (!inResponse) __builtin_trap();
        inResponse = false;
        if (finals == 0 && (parser.status() >= 200 || parser.status() == 101)) {
          firstStatus = parser.status();
          ++finals;
        } else if (finals == 0) {
          firstBody.clear();
        }
        if (e == Event::kUpgrade) stopped = true;
        break;
      case Event::kError:
        if (parser.errorMessage().empty()) __builtin_trap();
        stopped = true;
        streamFailed = true;
        break;
      case Event::kNeedMore:
        break;
    }
  };
  auto bufferedOutcome = BufferedResponseParser::Outcome::kNeedMore;
  for (size_t at = 0; at < input.size() && !stopped; at += chunk) {
    std::string_view piece = input.substr(at, chunk);
    buffer.append(piece);
    if (bufferedOutcome == BufferedResponseParser::Outcome::kNeedMore) {
      bufferedOutcome = buffered.feed(piece);
    }
    for (int guard = 0; guard < 10000 && !stopped; ++guard) {
      size_t consumed = 0;
      Event e = parser.feed(buffer, &consumed);
      if (consumed > buffer.size()) __builtin_trap();
      if (e == Event::kBody) {
        const char* b = parser.bodyChunk().data();
        if (b < buffer.data() || b + parser.bodyChunk().size() > buffer.data() + consumed) {
          __builtin_trap();
        }
      }
      onEvent(e);
      buffer.erase(0, consumed);
      if (e == Event::kNeedMore) break;
      if (guard == 9999) __builtin_trap();
    }
  }
  for (int guard = 0; guard < 10 && !stopped; ++guard) {
    Event e = parser.finish();
    onEvent(e);
    if (e == Event::kNeedMore) break;
  }
  if (streamFailed) {
    size_t again = 0;
    if (parser.feed("HTTP/1.1 200 OK\r\n\r\n", &again) != Event::kError || again != 0) {
      __builtin_trap();
    }
  }
  if (bufferedOutcome == BufferedResponseParser::Outcome::kNeedMore) {
    bufferedOutcome = buffered.finish();
  }
  // Both views agree on the first final response when it fits the buffer limit.
  if (bufferedOutcome == BufferedResponseParser::Outcome::kDone) {
    Response r = buffered.take();
    if (finals == 0 || r.status != firstStatus || r.body != firstBody) __builtin_trap();
    if (head && !r.body.empty()) __builtin_trap();
    if (doubtfulFraming(r.headers)) __builtin_trap();
  } else if (finals > 0 && firstBody.size() <= 4096 &&
             buffered.error() != ResponseParser::Error::kBodyTooLarge) {
    __builtin_trap();
  }
  checkResponseStream(input, chunk, head);
  return 0;
}
