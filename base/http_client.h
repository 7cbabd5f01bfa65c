// HTTP/1.1 client on libuv + llhttp. One connection per request (simple and
// robust for control-plane traffic); streaming mode delivers the body in
// chunks for long-lived responses such as server-sent events.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/cancel.h"
#include "base/http_message.h"
#include "base/loop.h"
#include "base/result.h"

namespace corral::tls {
class Context;
}  // namespace corral::tls

namespace corral::http {

struct ClientOptions {
  uint64_t timeoutMs = 10000;  // whole exchange for fetch(); connect+headers for streams
  size_t maxBodyBytes = 256 * 1024 * 1024;
  // Speak HTTPS with this client context (tls::loadClientContext): the
  // server's certificate must chain to its CAs and name the host dialled (a
  // DNS name or an IP address SAN); else the call fails before any request
  // byte is sent. Null: plain HTTP.
  std::shared_ptr<const tls::Context> tls;
};

using FetchCallback = std::function<void(Result<Response>)>;

// Sends req to host:port; cb runs at most once, on the loop thread, never
// inside fetch(). Host may be an IP address or a name (resolved
// asynchronously). The returned handle owns the request: keep it while the
// answer is wanted; destroying or reset()-ing it cancels (cb never runs).
[[nodiscard]] CancelHandle fetch(Loop& loop, const std::string& host, int port, Request req,
                                 FetchCallback cb, ClientOptions options = {});

struct StreamCallbacks {
  // Status and headers arrived. Body chunks follow.
  std::function<void(const Response& head)> onHead;
  std::function<void(std::string_view chunk)> onData;
  // The stream ended: ok() for a clean end, an error otherwise. Called once.
  std::function<void(Status)> onEnd;
};

// Like fetch(), delivering the body as it arrives; the handle stops the
// stream (no callback runs afterwards).
[[nodiscard]] CancelHandle openStream(Loop& loop, const std::string& host, int port, Request req,
                                      StreamCallbacks callbacks, ClientOptions options = {});

// Where a master is: "host:port", "http://host:port" or "https://host:port"
// (a trailing "/" allowed).
struct Endpoint {
  std::string host;
  int port = 0;
  bool https = false;
  std::string hostPort() const;
};
Result<Endpoint> parseEndpoint(std::string_view text, int defaultPort);

// Splits "host:port" (or "[v6]:port"); defaultPort when absent.
bool splitHostPort(std::string_view hostPort, int defaultPort, std::string* host, int* port);

}  // namespace corral::http
