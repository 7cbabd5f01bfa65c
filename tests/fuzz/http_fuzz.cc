// libFuzzer target for the HTTP request path: arbitrary bytes, split into
// arbitrary chunks, through the server's socket-free RequestParser.
// Invariants: never crash or loop; an error is final; no accepted request
// carries both Content-Length and Transfer-Encoding (request smuggling);
// bodies and headers stay within the limits. The streaming mode (the proxy's)
// gets the same bytes with its own invariants.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/http_request_parser.h"

namespace {

// The proxy's streaming request path: the same bytes through
// RequestStreamParser, in chunks, pausing after each event as the proxy does.
// Invariants: every call makes progress (bytes or an event); an error is
// final with 400 or 431; no head has both Content-Length and
// Transfer-Encoding; a message with a Content-Length ends after exactly that
// many body bytes; a chunked message ends only after its last chunk.
void fuzzStreamingRequests(std::string_view input, size_t chunk) {
  using namespace corral::http;
  RequestStreamParser parser(RequestStreamParser::Limits{2048});
  std::string buffer;
  uint64_t bodyBytes = 0;
  for (size_t at = 0; at < input.size(); at += chunk) {
    buffer.append(input.substr(at, chunk));
    for (int guard = 0;; ++guard) {
      if (guard > 100000) __builtin_trap();
      size_t consumed = 0;
      auto event = parser.feed(buffer, &consumed);
      if (consumed > buffer.size()) __builtin_trap();
      if (event == RequestStreamParser::Event::kBody) {
        if (parser.body().empty() || parser.body().size() > consumed) __builtin_trap();
        bodyBytes += parser.body().size();
      }
      buffer.erase(0, consumed);
      if (event == RequestStreamParser::Event::kNeedMore) {
        if (!buffer.empty()) __builtin_trap();  // kNeedMore means all was taken
        break;
      }
      if (event == RequestStreamParser::Event::kError) {
        int status = parser.errorStatus();
        if (status != 400 && status != 431) __builtin_trap();
        size_t again = 0;
        if (parser.feed("GET / HTTP/1.1\r\n\r\n", &again) != RequestStreamParser::Event::kError) {
          __builtin_trap();
        }
        return;
      }
      const RequestHead& head = parser.head();
      if (event == RequestStreamParser::Event::kHead) {
        if (head.header("Content-Length") && head.header("Transfer-Encoding")) __builtin_trap();
        if (head.chunked() && head.hasContentLength()) __builtin_trap();
        bodyBytes = 0;
      }
      if (event == RequestStreamParser::Event::kEnd) {
        if (head.hasContentLength() && bodyBytes != head.contentLength()) __builtin_trap();
        if (!head.chunked() && !head.hasContentLength() && bodyBytes != 0) __builtin_trap();
        if (parser.upgraded()) return;  // the rest belongs to another protocol
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  using namespace corral::http;
  fuzzStreamingRequests(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1),
                        1 + data[0] % 64);
  RequestParser::Limits limits{2048, 4096};
  RequestParser parser(limits);
  // The first byte chooses the chunk size, so splits land everywhere.
  size_t chunk = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string buffer;
  bool failed = false;
  for (size_t at = 0; at < input.size() && !failed; at += chunk) {
    buffer.append(input.substr(at, chunk));
    for (int guard = 0; guard < 10000; ++guard) {
      size_t consumed = 0;
      auto outcome = parser.feed(buffer, &consumed);
      if (consumed > buffer.size()) __builtin_trap();
      buffer.erase(0, consumed);
      if (outcome == RequestParser::Outcome::kNeedMore) break;
      if (outcome == RequestParser::Outcome::kError) {
        int status = parser.errorStatus();
        if (status != 400 && status != 413 && status != 431) __builtin_trap();
        size_t again = 0;
        if (parser.feed("GET / HTTP/1.1\r\n\r\n", &again) != RequestParser::Outcome::kError) {
          __builtin_trap();
        }
        failed = true;
        break;
      }
      Request req = parser.takeRequest();
      if (req.header("Content-Length") && req.header("Transfer-Encoding")) __builtin_trap();
      if (req.body.size() > limits.maxBodyBytes) __builtin_trap();
      if (consumed == 0 && buffer.empty()) break;
    }
  }
  return 0;
}
