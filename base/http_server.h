// HTTP/1.1 server on libuv + llhttp: keep-alive, pipelining (answered in
// order), bounded headers/bodies, chunked streaming responses (for SSE).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/http_message.h"
#include "base/loop.h"
#include "base/result.h"

namespace corral::tls {
class Context;
}  // namespace corral::tls

namespace corral::http {

class Connection;

// One request and its response. Handlers may answer later (keep the pointer);
// answering after the peer left is a harmless no-op.
class Exchange {
 public:
  explicit Exchange(std::weak_ptr<Connection> conn, bool keepAlive, bool head);
  ~Exchange();
  void respond(Response response);
  // Starts a chunked streaming response (status + headers now, body via write()).
  bool startStream(int status, Headers headers);
  // Queues a chunk. False (and the connection is closed) if the peer is gone or
  // has more than the server's stream buffer limit unread: slow consumers are cut off.
  bool write(std::string_view data);
  void end();
  bool closed() const;
  size_t bufferedBytes() const;
  // Called once when the connection closes while this exchange is open.
  void onClose(std::function<void()> cb);

 private:
  friend class Connection;
  std::weak_ptr<Connection> conn_;
  bool keepAlive_;
  bool head_;
  bool done_ = false;
  bool streaming_ = false;
  std::function<void()> onClose_;
};

using Handler = std::function<void(Request&, std::shared_ptr<Exchange>)>;

struct ServerOptions {
  size_t maxHeaderBytes = 64 * 1024;
  size_t maxBodyBytes = 4 * 1024 * 1024;
  size_t maxStreamBufferBytes = 8 * 1024 * 1024;
  uint64_t idleTimeoutMs = 60 * 1000;
  // A request must arrive whole within this long of its first byte: a client
  // trickling a request head holds a connection no longer than that.
  uint64_t headerReadTimeoutMs = 10 * 1000;
  // With this many connections open, new ones are closed as soon as they are
  // accepted (one log line per burst, counted in
  // corral_http_connections_refused_total).
  size_t maxConnections = 4096;
  // Serve HTTPS with this server context (tls/tls_context.h); null: plain
  // HTTP. A plain HTTP request to a TLS server is answered 400 in plain text
  // and the connection closed.
  std::shared_ptr<const tls::Context> tls;
};

class Server {
 public:
  Server(Loop& loop, Handler handler, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (port 0 picks one); returns the bound port.
  Result<int> listen(const std::string& host, int port);
  // Accepts on a socket already bound and listening (taken over from another
  // process, reload/takeover.h); owns it from now on. Returns its port.
  Result<int> adopt(int fd);
  // Stops accepting and closes every connection.
  void close();
  size_t connectionCount() const;

 private:
  friend class Connection;
  void onConnection(int status);
  void refuseConnection();
  void forget(Connection* conn);

  Loop& loop_;
  Handler handler_;
  ServerOptions options_;
  uv_tcp_t* listener_ = nullptr;
  std::shared_ptr<struct ServerConnections> conns_;
  uint64_t lastRefusalMs_ = 0;  // loop time of the last connection refused at the cap
  uint64_t refusedInBurst_ = 0;
};

// Serialises a response head. contentLength < 0 means chunked.
std::string formatResponseHead(const Response& r, long long contentLength, bool keepAlive);

}  // namespace corral::http
