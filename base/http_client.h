// HTTP/1.1 client on libuv + llhttp. One connection per request (simple and
// robust for control-plane traffic); streaming mode delivers the body in
// chunks for long-lived responses such as server-sent events.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/http_message.h"
#include "base/loop.h"
#include "base/result.h"

namespace corral::http {

struct ClientOptions {
  uint64_t timeoutMs = 10000;  // whole exchange for fetch(); connect+headers for streams
  size_t maxBodyBytes = 256 * 1024 * 1024;
};

using FetchCallback = std::function<void(Result<Response>)>;

// Sends req to host:port; cb runs exactly once on the loop thread. Host may be
// an IP address or a name (resolved asynchronously).
void fetch(Loop& loop, const std::string& host, int port, Request req, FetchCallback cb,
           ClientOptions options = {});

struct StreamCallbacks {
  // Status and headers arrived. Body chunks follow.
  std::function<void(const Response& head)> onHead;
  std::function<void(std::string_view chunk)> onData;
  // The stream ended: ok() for a clean end, an error otherwise. Called once.
  std::function<void(Status)> onEnd;
};

class StreamHandle {
 public:
  virtual ~StreamHandle() = default;
  // Stops the stream; onEnd is not called after cancel().
  virtual void cancel() = 0;
};

std::shared_ptr<StreamHandle> openStream(Loop& loop, const std::string& host, int port, Request req,
                                         StreamCallbacks callbacks, ClientOptions options = {});

// Splits "host:port" (or "[v6]:port"); defaultPort when absent.
bool splitHostPort(std::string_view hostPort, int defaultPort, std::string* host, int* port);

}  // namespace corral::http
