#include "base/http_server.h"

#include "base/http_request_parser.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <unordered_map>

#include "base/json.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/tls/tls_context.h"
#include "base/tls/tls_stream.h"

namespace corral::http {

struct ServerConnections {
  std::unordered_map<Connection*, std::shared_ptr<Connection>> all;
};

namespace {
struct WriteReq {
  uv_write_t req;
  std::string data;
  Connection* conn;  // owns the stream; its callbacks are skipped once the stream is closing
};
}  // namespace

// Lifetime (base/loop.h): the server owns its connections and destroys them
// only through Loop::deleteLater (forget()), so no callback of a connection
// outlives it or destroys it from inside; the connection owns its stream and
// timers, so their callbacks use raw `this`. Exchanges hold a weak_ptr to it
// (Exchange::conn_): a handler owns its exchange, not the connection, and may
// answer after the peer left.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server* server, Loop& loop)
      : server_(server),
        idle_(loop),
        headerTimer_(loop),
        parser_(
            RequestParser::Limits{server->options_.maxHeaderBytes, server->options_.maxBodyBytes}) {
    tcp_ = new uv_tcp_t;
    uv_tcp_init(loop.raw(), tcp_);
    tcp_->data = this;
    if (const auto& ctx = server->options_.tls) {
      tls_ = std::make_unique<tls::TlsStream>(tls::TlsStream::Role::kServer, ctx->raw(), ctx);
    }
  }

  ~Connection() { closeAndDelete(tcp_); }

  uv_tcp_t* tcp() { return tcp_; }

  void start() {
    sockaddr_storage ss{};
    int len = sizeof(ss);
    if (uv_tcp_getpeername(tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      char ip[64] = {0};
      if (ss.ss_family == AF_INET) {
        uv_ip4_name(reinterpret_cast<sockaddr_in*>(&ss), ip, sizeof(ip));
      } else {
        uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&ss), ip, sizeof(ip));
      }
      remote_ = ip;
    }
    uv_tcp_nodelay(tcp_, 1);
    armIdle();
    uv_read_start(reinterpret_cast<uv_stream_t*>(tcp_), allocReadBuffer,
                  [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                    auto* c = static_cast<Connection*>(s->data);
                    if (n > 0) c->onReceived(buf->base, static_cast<size_t>(n));
                    if (n < 0) c->close();
                  });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    idle_.stop();
    headerTimer_.stop();
    uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_));
    if (auto ex = active_.lock()) {
      if (!ex->done_ && ex->onClose_) {
        auto cb = std::move(ex->onClose_);
        cb();
      }
    }
    // The server lets go of us at the next loop turn; the handle is closed in our destructor.
    server_->forget(this);
  }

  bool closed() const { return closed_; }
  size_t buffered() const { return writeQueueBytes_; }
  size_t streamLimit() const { return server_->options_.maxStreamBufferBytes; }

  // Plaintext for the client: encrypted first on a TLS connection.
  void send(std::string data) {
    if (closed_) return;
    if (!tls_) {
      sendRaw(std::move(data));
      return;
    }
    if (!tls_->writePlain(data)) {
      log::debug("http: TLS to {} failed: {}", remote_, tls_->error());
      close();
      return;
    }
    sendRaw(tls_->takeEncrypted());
  }

  void sendRaw(std::string data) {
    if (closed_ || data.empty()) return;
    auto* w = new WriteReq;
    w->data = std::move(data);
    w->conn = this;
    writeQueueBytes_ += w->data.size();
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1,
                      [](uv_write_t* req, int status) {
                        auto* w = reinterpret_cast<WriteReq*>(req);
                        // A closing stream: the connection is being destroyed.
                        if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(req->handle))) {
                          Connection* c = w->conn;
                          c->writeQueueBytes_ -= w->data.size();
                          if (status < 0) {
                            c->close();
                          } else if (c->closeAfterWrite_ && c->writeQueueBytes_ == 0) {
                            c->close();
                          }
                        }
                        delete w;
                      });
    if (rc != 0) {
      writeQueueBytes_ -= w->data.size();
      delete w;
      close();
    }
  }

  // The exchange finished: continue with pipelined requests or close.
  void exchangeDone(bool keepAlive) {
    busy_ = false;
    active_.reset();
    if (!keepAlive) {
      if (tls_) {
        tls_->shutdown();  // close_notify: the body ends here, not truncated
        sendRaw(tls_->takeEncrypted());
      }
      closeAfterWrite_ = true;
      if (writeQueueBytes_ == 0) close();
      return;
    }
    armIdle();
    process();
  }

 private:
  void armIdle() {
    // Raw `this`: the connection owns the timer.
    idle_.start(server_->options_.idleTimeoutMs, 0, [this] {
      if (!busy_) close();
    });
  }

  // Bytes from the socket: decrypted first on a TLS connection.
  void onReceived(const char* data, size_t n) {
    if (!tls_) {
      onData(data, n);
      return;
    }
    if (closed_ || closeAfterWrite_) return;
    if (!tls_->handshakeDone() && !sawBytes_ && looksLikePlainHttp(data[0])) {
      refusePlainHttp();
      return;
    }
    sawBytes_ = true;
    tls_->feedEncrypted(std::string_view(data, n));
    std::string plain;
    tls::TlsStream::ReadStatus status = tls_->readAllPlain(&plain);
    // Handshake messages and alerts go out whatever happened.
    sendRaw(tls_->takeEncrypted());
    if (status == tls::TlsStream::ReadStatus::kError) {
      log::debug("http: TLS from {} failed: {}", remote_, tls_->error());
      close();
      return;
    }
    if (!plain.empty()) onData(plain.data(), plain.size());
    if (status == tls::TlsStream::ReadStatus::kClosed) close();
  }

  // A TLS record starts with its content type (22 for a handshake); an HTTP
  // request starts with a method's capital letter.
  static bool looksLikePlainHttp(char first) { return first >= 'A' && first <= 'Z'; }

  void refusePlainHttp() {
    log::debug("http: plain HTTP from {} on a TLS port: refused", remote_);
    Response r = messageResponse(400, "Bad Request: this port serves HTTPS; use https://");
    sendRaw(formatResponseHead(r, static_cast<long long>(r.body.size()), false) + r.body);
    closeAfterWrite_ = true;
  }

  void onData(const char* data, size_t n) {
    if (closed_ || closeAfterWrite_) return;
    inbuf_.append(data, n);
    if (!busy_) armIdle();
    process();
  }

  void process() {
    while (!busy_ && !closed_ && !closeAfterWrite_ && !inbuf_.empty()) {
      size_t consumed = 0;
      auto outcome = parser_.feed(inbuf_, &consumed);
      inbuf_.erase(0, consumed);
      if (outcome == RequestParser::Outcome::kNeedMore) {
        if (consumed > 0) armHeaderTimer();  // a request has begun
        return;
      }
      if (outcome == RequestParser::Outcome::kRequest) {
        dispatch();
        continue;
      }
      int status = parser_.errorStatus();
      const std::string& reason = parser_.errorReason();
      log::debug("http: rejecting request from {}: {}", remote_, reason);
      Response r = messageResponse(status, std::string(reasonPhrase(status)) + ": " + reason);
      send(formatResponseHead(r, static_cast<long long>(r.body.size()), false) + r.body);
      closeAfterWrite_ = true;
      inbuf_.clear();
      return;
    }
  }

  // {"message": ...}, escaped by the JSON library.
  static Response messageResponse(int status, const std::string& message) {
    Json body;
    body["message"] = message;
    return Response::json(status, dumpJson(body));
  }

  // Started by a request's first byte, stopped when it is complete.
  void armHeaderTimer() {
    if (headerTimer_.active()) return;
    // Raw `this`: the connection owns the timer (base/loop.h).
    headerTimer_.start(server_->options_.headerReadTimeoutMs, 0, [this] {
      if (busy_ || closed_) return;
      log::debug("http: closing {}: no complete request within {} ms", remote_,
                 server_->options_.headerReadTimeoutMs);
      close();
    });
  }

  void dispatch() {
    busy_ = true;
    idle_.stop();
    headerTimer_.stop();
    bool keepAlive = parser_.keepAlive();
    Request req = parser_.takeRequest();
    auto ex = std::make_shared<Exchange>(weak_from_this(), keepAlive, req.method == "HEAD");
    active_ = ex;
    req.remoteAddress = remote_;
    // Last line of defence: a handler that throws (e.g. a JSON type error on
    // hostile input) answers 500 instead of taking the process down.
    try {
      server_->handler_(req, ex);
    } catch (const std::exception& e) {
      log::error("http: handler for {} {} failed: {}", req.method, req.target, e.what());
      ex->respond(messageResponse(500, std::string("internal error: ") + e.what()));
    }
  }

  Server* server_;
  uv_tcp_t* tcp_;
  Timer idle_;
  Timer headerTimer_;
  RequestParser parser_;
  std::unique_ptr<tls::TlsStream> tls_;  // null on a plain HTTP server
  bool sawBytes_ = false;                // anything received yet (TLS only)
  std::string inbuf_;
  std::string remote_;
  bool busy_ = false;
  bool closed_ = false;
  bool closeAfterWrite_ = false;
  size_t writeQueueBytes_ = 0;
  std::weak_ptr<Exchange> active_;
};

std::string formatResponseHead(const Response& r, long long contentLength, bool keepAlive) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " ";
  out += reasonPhrase(r.status);
  out += "\r\n";
  for (const auto& [k, v] : r.headers) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  if (contentLength >= 0) {
    out += "Content-Length: " + std::to_string(contentLength) + "\r\n";
  } else {
    out += "Transfer-Encoding: chunked\r\n";
  }
  out += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
  return out;
}

Exchange::Exchange(std::weak_ptr<Connection> conn, bool keepAlive, bool head)
    : conn_(std::move(conn)), keepAlive_(keepAlive), head_(head) {}

Exchange::~Exchange() {
  // A handler that dropped the exchange without answering must not wedge the connection.
  if (!done_) {
    if (auto c = conn_.lock()) {
      if (!c->closed()) {
        done_ = true;
        if (streaming_) {
          c->send("0\r\n\r\n");
          c->exchangeDone(keepAlive_);
        } else {
          Response r = Response::json(500, "{\"message\":\"no response produced\"}");
          c->send(formatResponseHead(r, static_cast<long long>(r.body.size()), false) + r.body);
          c->exchangeDone(false);
        }
      }
    }
  }
}

void Exchange::respond(Response response) {
  if (done_ || streaming_) return;
  done_ = true;
  auto c = conn_.lock();
  if (!c || c->closed()) return;
  std::string out =
      formatResponseHead(response, static_cast<long long>(response.body.size()), keepAlive_);
  if (!head_) out += response.body;
  c->send(std::move(out));
  c->exchangeDone(keepAlive_);
}

bool Exchange::startStream(int status, Headers headers) {
  if (done_ || streaming_) return false;
  auto c = conn_.lock();
  if (!c || c->closed()) return false;
  streaming_ = true;
  Response r;
  r.status = status;
  r.headers = std::move(headers);
  c->send(formatResponseHead(r, -1, keepAlive_));
  return true;
}

bool Exchange::write(std::string_view data) {
  if (done_ || !streaming_) return false;
  auto c = conn_.lock();
  if (!c || c->closed()) return false;
  if (data.empty()) return true;
  if (c->buffered() > c->streamLimit()) {
    log::warn("http: cutting off slow stream consumer with {} bytes unread", c->buffered());
    c->close();
    return false;
  }
  char size[32];
  int n = snprintf(size, sizeof(size), "%zx\r\n", data.size());
  std::string chunk(size, static_cast<size_t>(n));
  chunk.append(data);
  chunk.append("\r\n");
  c->send(std::move(chunk));
  return true;
}

void Exchange::end() {
  if (done_ || !streaming_) return;
  done_ = true;
  auto c = conn_.lock();
  if (!c || c->closed()) return;
  c->send("0\r\n\r\n");
  c->exchangeDone(keepAlive_);
}

bool Exchange::closed() const {
  auto c = conn_.lock();
  return !c || c->closed();
}

size_t Exchange::bufferedBytes() const {
  auto c = conn_.lock();
  return c ? c->buffered() : 0;
}

void Exchange::onClose(std::function<void()> cb) { onClose_ = std::move(cb); }

Server::Server(Loop& loop, Handler handler, ServerOptions options)
    : loop_(loop),
      handler_(std::move(handler)),
      options_(options),
      conns_(std::make_shared<ServerConnections>()) {}

Server::~Server() { close(); }

Result<int> Server::listen(const std::string& host, int port) {
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return makeError(ErrorKind::kInvalid, "cannot listen on '" + host + "': not an IP address");
  }
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_.raw(), listener_);
  listener_->data = this;
  int rc = uv_tcp_bind(listener_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 511, [](uv_stream_t* s, int status) {
      static_cast<Server*>(s->data)->onConnection(status);
    });
  }
  if (rc != 0) {
    closeAndDelete(listener_);
    listener_ = nullptr;
    return makeError(ErrorKind::kUnavailable, "cannot listen on " + host + ":" +
                                                  std::to_string(port) + ": " + uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  return static_cast<int>(ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
}

Result<int> Server::adopt(int fd) {
  listener_ = new uv_tcp_t;
  uv_tcp_init(loop_.raw(), listener_);
  listener_->data = this;
  int rc = uv_tcp_open(listener_, fd);
  if (rc != 0) ::close(fd);  // not the handle's: closed here as promised
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 511, [](uv_stream_t* s, int status) {
      static_cast<Server*>(s->data)->onConnection(status);
    });
  }
  if (rc != 0) {
    closeAndDelete(listener_);
    listener_ = nullptr;
    return makeError(ErrorKind::kUnavailable,
                     std::string("cannot listen on an adopted socket: ") + uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  return static_cast<int>(ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
}

void Server::onConnection(int status) {
  if (status < 0) return;
  if (conns_->all.size() >= options_.maxConnections) {
    refuseConnection();
    return;
  }
  auto conn = std::make_shared<Connection>(this, loop_);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_),
                reinterpret_cast<uv_stream_t*>(conn->tcp())) != 0) {
    return;
  }
  conns_->all[conn.get()] = conn;
  conn->start();
}

void Server::refuseConnection() {
  // Accepted only to be closed: left in the backlog it would be retried.
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(loop_.raw(), tcp);
  uv_accept(reinterpret_cast<uv_stream_t*>(listener_), reinterpret_cast<uv_stream_t*>(tcp));
  closeAndDelete(tcp);
  static metrics::Counter& refused = metrics::global().counter(
      "corral_http_connections_refused_total",
      "Connections closed at once because the server had its maximum open.");
  refused.inc();
  // One line per burst: a burst ends after a second without refusals.
  uint64_t now = loop_.nowMs();
  if (refusedInBurst_ == 0 || now - lastRefusalMs_ > 1000) {
    log::warn("http: {} connections open, the limit: refusing new connections", conns_->all.size());
    refusedInBurst_ = 0;
  }
  ++refusedInBurst_;
  lastRefusalMs_ = now;
}

// Rule 3: a connection forgets itself from inside its own callbacks, so its
// destruction waits for the next loop turn.
void Server::forget(Connection* conn) {
  auto it = conns_->all.find(conn);
  if (it == conns_->all.end()) return;
  loop_.deleteLater(std::make_unique<std::shared_ptr<Connection>>(std::move(it->second)));
  conns_->all.erase(it);
}

void Server::close() {
  if (listener_) {
    closeAndDelete(listener_);
    listener_ = nullptr;
  }
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [k, v] : conns_->all) all.push_back(v);
  for (auto& c : all) c->close();
  conns_->all.clear();
}

size_t Server::connectionCount() const { return conns_->all.size(); }

}  // namespace corral::http
