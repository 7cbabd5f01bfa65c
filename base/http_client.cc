#include "base/http_client.h"

#include <charconv>
#include <cstring>

#include "base/http_response_parser.h"
#include "base/log.h"
#include "base/tls/tls_context.h"
#include "base/tls/tls_stream.h"

namespace corral::http {

namespace {

// One request on its own connection. Owned by the CancelHandle returned to
// the caller (lifetime rule, base/loop.h): it is deleted once that handle is
// released and libuv has returned every request that points at it; callbacks
// never run after the handle is released.
class ClientCall {
 public:
  ClientCall(Loop& loop, std::string host, int port, Request req, ClientOptions options)
      : loop_(loop),
        host_(std::move(host)),
        port_(port),
        req_(std::move(req)),
        options_(options),
        timer_(std::make_unique<Timer>(loop)) {
    parser_.expectResponseTo(req_.method);
  }
  ~ClientCall() { closeAndDelete(tcp_); }

  void startFetch(FetchCallback cb) {
    Busy busy(this);
    fetchCb_ = std::move(cb);
    begin();
  }
  void startStream(StreamCallbacks cbs) {
    Busy busy(this);
    streaming_ = true;
    stream_ = std::move(cbs);
    begin();
  }

  // The CancelHandle is gone: no callback runs from now on.
  void release() {
    Busy busy(this);
    released_ = true;
    if (gai_ != nullptr) uv_cancel(reinterpret_cast<uv_req_t*>(gai_));
    finish(Status::Ok(), /*notify=*/false);
  }

 private:
  // Marks a stack frame inside the call: deletion waits until the outermost
  // one returns, so the call is never destroyed inside its own callback.
  struct Busy {
    explicit Busy(ClientCall* c) : call(c) { ++call->busy_; }
    ~Busy() {
      if (--call->busy_ == 0 && call->released_ && call->pendingRequests_ == 0) delete call;
    }
    ClientCall* call;
  };

  void begin() {
    timer_->start(options_.timeoutMs, 0, [this] {
      Busy busy(this);
      fail("timed out after " + std::to_string(options_.timeoutMs) + " ms");
    });
    sockaddr_storage addr{};
    if (uv_ip4_addr(host_.c_str(), port_, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
        uv_ip6_addr(host_.c_str(), port_, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
      connectTo(reinterpret_cast<sockaddr*>(&addr));
      return;
    }
    gai_ = new uv_getaddrinfo_t;
    gai_->data = this;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(
        loop_.raw(), gai_,
        [](uv_getaddrinfo_t* g, int status, addrinfo* res) {
          auto* c = static_cast<ClientCall*>(g->data);
          Busy busy(c);
          --c->pendingRequests_;
          c->gai_ = nullptr;
          delete g;
          if (!c->done_) {
            if (status != 0 || res == nullptr) {
              c->fail(std::string("cannot resolve ") + c->host_ + ": " + uv_strerror(status));
            } else {
              sockaddr_storage a{};
              memcpy(&a, res->ai_addr, res->ai_addrlen);
              reinterpret_cast<sockaddr_in*>(&a)->sin_port = htons(static_cast<uint16_t>(c->port_));
              c->connectTo(reinterpret_cast<sockaddr*>(&a));
            }
          }
          uv_freeaddrinfo(res);
        },
        host_.c_str(), nullptr, &hints);
    if (rc != 0) {
      delete gai_;
      gai_ = nullptr;
      failSoon(std::string("cannot resolve ") + host_ + ": " + uv_strerror(rc));
      return;
    }
    ++pendingRequests_;
  }

  void connectTo(const sockaddr* addr) {
    if (done_) return;
    tcp_ = new uv_tcp_t;
    uv_tcp_init(loop_.raw(), tcp_);
    tcp_->data = this;
    auto* cr = new uv_connect_t;
    cr->data = this;
    int rc = uv_tcp_connect(cr, tcp_, addr, [](uv_connect_t* req, int status) {
      auto* c = static_cast<ClientCall*>(req->data);
      delete req;
      Busy busy(c);
      --c->pendingRequests_;
      c->onConnect(status);
    });
    if (rc != 0) {
      delete cr;
      failSoon(std::string("cannot connect to ") + host_ + ":" + std::to_string(port_) + ": " +
               uv_strerror(rc));
      return;
    }
    ++pendingRequests_;
  }

  void onConnect(int status) {
    if (done_) return;
    if (status != 0) {
      fail("cannot connect to " + host_ + ":" + std::to_string(port_) + ": " + uv_strerror(status));
      return;
    }
    uv_tcp_nodelay(tcp_, 1);
    out_ = req_.method + " " + req_.target + " HTTP/1.1\r\n";
    bool hasHost = false, hasLength = false;
    for (const auto& [k, v] : req_.headers) {
      if (strcasecmp(k.c_str(), "host") == 0) hasHost = true;
      if (strcasecmp(k.c_str(), "content-length") == 0) hasLength = true;
      out_ += k + ": " + v + "\r\n";
    }
    if (!hasHost) out_ += "Host: " + host_ + ":" + std::to_string(port_) + "\r\n";
    if (!hasLength && (!req_.body.empty() || req_.method == "POST" || req_.method == "PUT")) {
      out_ += "Content-Length: " + std::to_string(req_.body.size()) + "\r\n";
    }
    out_ += "Connection: close\r\n\r\n";
    out_ += req_.body;
    if (options_.tls) {
      // The request waits for the handshake; the first read makes the ClientHello.
      tls_ = std::make_unique<tls::TlsStream>(tls::TlsStream::Role::kClient, options_.tls->raw(),
                                              options_.tls, host_);
      requestPending_ = true;
      if (!pumpTls()) return;
    } else {
      writeRaw(std::move(out_));
    }
    uv_read_start(reinterpret_cast<uv_stream_t*>(tcp_), allocReadBuffer,
                  [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                    auto* c = static_cast<ClientCall*>(s->data);
                    Busy busy(c);
                    if (n > 0) c->onReceived(buf->base, static_cast<size_t>(n));
                    if (n == UV_EOF)
                      c->onEof();
                    else if (n < 0)
                      c->fail(std::string("read failed: ") + uv_strerror(static_cast<int>(n)));
                  });
  }

  void writeRaw(std::string bytes) {
    if (done_ || bytes.empty()) return;
    struct Write {
      uv_write_t req;
      std::string data;
      ClientCall* call;
    };
    auto* w = new Write{{}, std::move(bytes), this};
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    ++pendingRequests_;
    uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1,
             [](uv_write_t* req, int status) {
               auto* w = reinterpret_cast<Write*>(req);
               ClientCall* c = w->call;
               delete w;
               Busy busy(c);
               --c->pendingRequests_;
               if (status < 0 && !c->done_) {
                 c->fail(std::string("write failed: ") + uv_strerror(status));
               }
             });
  }

  // Bytes from the socket: decrypted first over TLS.
  void onReceived(const char* data, size_t n) {
    if (done_) return;
    if (!tls_) {
      onData(data, n);
      return;
    }
    tls_->feedEncrypted(std::string_view(data, n));
    pumpTls();
  }

  // Runs the TLS layer: the handshake, the request once it is done, the
  // plaintext received. False when the call failed or finished.
  bool pumpTls() {
    std::string plain;
    tls::TlsStream::ReadStatus status = tls_->readAllPlain(&plain);
    if (status != tls::TlsStream::ReadStatus::kError && requestPending_ && tls_->handshakeDone()) {
      requestPending_ = false;
      if (!tls_->writePlain(out_)) status = tls::TlsStream::ReadStatus::kError;
      out_.clear();
    }
    writeRaw(tls_->takeEncrypted());
    if (status == tls::TlsStream::ReadStatus::kError) {
      fail("HTTPS to " + host_ + ":" + std::to_string(port_) + ": " + tls_->error());
      return false;
    }
    if (!plain.empty()) onData(plain.data(), plain.size());
    if (status == tls::TlsStream::ReadStatus::kClosed) onEof();
    return !done_;
  }

  void onData(const char* data, size_t n) {
    if (done_) return;
    // Parsed where the bytes are; only what the parser leaves is kept. Copying
    // every read into buffer_ first grew it by 64 KiB at the first read of a
    // burst of events, and that one malloc cost ~2 ms (glibc sorting the
    // chunks the burst before had freed) before the first event was handled.
    bool buffered = !buffer_.empty();
    if (buffered) buffer_.append(data, n);
    std::string_view rest = buffered ? std::string_view(buffer_) : std::string_view(data, n);
    while (!done_) {
      size_t used = 0;
      ResponseParser::Event e = parser_.feed(rest, &used);
      // Body chunks point into the bytes parsed: handle the event before
      // dropping them.
      bool more = onEvent(e);
      rest.remove_prefix(used);
      if (!more) break;
    }
    if (done_) return;
    if (buffered) {
      buffer_.erase(0, buffer_.size() - rest.size());
    } else {
      buffer_.assign(rest);
    }
  }

  void onEof() {
    if (done_) return;
    while (!done_) {
      if (!onEvent(parser_.finish())) break;
    }
    if (!done_) fail("connection closed before the response was complete");
  }

  // Handles one parser event; false when there is nothing more to parse now.
  bool onEvent(ResponseParser::Event e) {
    using Event = ResponseParser::Event;
    switch (e) {
      case Event::kNeedMore:
        return false;
      case Event::kHead:
        // 100 Continue and 103 Early Hints precede the real response.
        interim_ = parser_.status() >= 100 && parser_.status() < 200 && parser_.status() != 101;
        if (interim_) return true;
        resp_ = parser_.head();
        if (streaming_) {
          timer_->stop();
          if (stream_.onHead) stream_.onHead(resp_);
        } else {
          reserveBody();
        }
        return !done_;
      case Event::kBody:
        if (interim_) return true;
        if (streaming_) {
          if (stream_.onData) stream_.onData(parser_.bodyChunk());
          return !done_;
        }
        if (resp_.body.size() + parser_.bodyChunk().size() > options_.maxBodyBytes) {
          fail("response from " + host_ + ":" + std::to_string(port_) + " larger than " +
               std::to_string(options_.maxBodyBytes) + " bytes");
          return false;
        }
        resp_.body.append(parser_.bodyChunk());
        return true;
      case Event::kComplete:
      case Event::kUpgrade:
        if (interim_) {
          interim_ = false;
          return true;
        }
        succeed();
        return false;
      case Event::kError:
        fail("bad HTTP response from " + host_ + ":" + std::to_string(port_) + ": " +
             parser_.errorMessage());
        return false;
    }
    return false;
  }

  // A body of announced length gets its buffer at once: growing a 33 MB
  // /v2/apps answer by doubling copies it and faults in twice the pages.
  void reserveBody() {
    auto length = resp_.header("Content-Length");
    if (!length) return;
    size_t n = 0;
    auto [end, ec] = std::from_chars(length->data(), length->data() + length->size(), n);
    if (ec == std::errc() && end == length->data() + length->size() && n <= options_.maxBodyBytes) {
      resp_.body.reserve(n);
    }
  }

  void succeed() {
    if (streaming_) {
      finish(Status::Ok(), true);
    } else {
      auto cb = std::move(fetchCb_);
      Response r = std::move(resp_);
      finish(Status::Ok(), false);
      if (cb) cb(std::move(r));
    }
  }

  // For errors found before fetch() returns: the callback never runs inside it.
  void failSoon(std::string why) {
    timer_->start(0, 0, [this, why = std::move(why)] {
      Busy busy(this);
      fail(why);
    });
  }

  void fail(const std::string& why) {
    if (done_) return;
    if (streaming_) {
      finish(makeError(ErrorKind::kUnavailable, why), true);
    } else {
      auto cb = std::move(fetchCb_);
      finish(Status::Ok(), false);
      if (cb) cb(makeError(ErrorKind::kUnavailable, why));
    }
  }

  // Closes the connection; the caller's callbacks are dropped after notify.
  void finish(Status st, bool notify) {
    if (done_) return;
    done_ = true;
    // Close the timer now (it may be running this): only libuv requests may
    // keep this object after the caller is done with it.
    timer_.reset();
    if (tcp_) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_));
      closeAndDelete(tcp_);
      tcp_ = nullptr;
    }
    // The callbacks stay until deletion: one of them may be running now.
    auto onEnd = std::move(stream_.onEnd);
    if (notify && !released_ && onEnd) onEnd(st);
  }

  Loop& loop_;
  std::string host_;
  int port_;
  Request req_;
  ClientOptions options_;
  std::unique_ptr<Timer> timer_;
  uv_tcp_t* tcp_ = nullptr;
  std::unique_ptr<tls::TlsStream> tls_;  // null for plain HTTP
  bool requestPending_ = false;          // TLS: the request waits for the handshake
  uv_getaddrinfo_t* gai_ = nullptr;
  int pendingRequests_ = 0;  // libuv requests (resolve, connect, write) pointing at this
  int busy_ = 0;             // frames of this call on the stack
  bool released_ = false;    // the CancelHandle is gone
  ResponseParser parser_;
  std::string buffer_;  // received bytes the parser has not consumed yet
  bool interim_ = false;
  Response resp_;
  std::string out_;
  bool done_ = false;
  bool streaming_ = false;
  FetchCallback fetchCb_;
  StreamCallbacks stream_;
};

}  // namespace

CancelHandle fetch(Loop& loop, const std::string& host, int port, Request req, FetchCallback cb,
                   ClientOptions options) {
  if (req.target.empty())
    req.target.push_back('/');  // not `= "/"`: GCC 12 -O3 false -Wrestrict (bug 105329)
  auto* call = new ClientCall(loop, host, port, std::move(req), options);
  CancelHandle handle([call] { call->release(); });
  call->startFetch(std::move(cb));
  return handle;
}

CancelHandle openStream(Loop& loop, const std::string& host, int port, Request req,
                        StreamCallbacks callbacks, ClientOptions options) {
  auto* call = new ClientCall(loop, host, port, std::move(req), options);
  CancelHandle handle([call] { call->release(); });
  call->startStream(std::move(callbacks));
  return handle;
}

std::string Endpoint::hostPort() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Endpoint> parseEndpoint(std::string_view text, int defaultPort) {
  Endpoint e;
  std::string_view rest = text;
  if (rest.substr(0, 8) == "https://") {
    e.https = true;
    rest.remove_prefix(8);
  } else if (rest.substr(0, 7) == "http://") {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    // Appended, not "'" + std::string(text): GCC 12 at -O3 warns (-Wrestrict)
    // on that form, a known false positive.
    std::string message(1, '\'');
    message.append(text).append("': only http:// and https:// are spoken");
    return makeError(ErrorKind::kInvalid, std::move(message));
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (!splitHostPort(rest, defaultPort, &e.host, &e.port)) {
    std::string message(1, '\'');
    message.append(text).append("': expected host:port, http://host:port or https://host:port");
    return makeError(ErrorKind::kInvalid, std::move(message));
  }
  return e;
}

bool splitHostPort(std::string_view hostPort, int defaultPort, std::string* host, int* port) {
  *port = defaultPort;
  if (!hostPort.empty() && hostPort.front() == '[') {
    auto close = hostPort.find(']');
    if (close == std::string_view::npos) return false;
    *host = std::string(hostPort.substr(1, close - 1));
    hostPort.remove_prefix(close + 1);
    if (hostPort.empty()) return true;
    if (hostPort.front() != ':') return false;
    hostPort.remove_prefix(1);
  } else {
    auto colon = hostPort.rfind(':');
    if (colon == std::string_view::npos) {
      *host = std::string(hostPort);
      return !host->empty();
    }
    *host = std::string(hostPort.substr(0, colon));
    hostPort.remove_prefix(colon + 1);
  }
  if (hostPort.empty() || hostPort.size() > 5) return false;
  int p = 0;
  for (char c : hostPort) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + (c - '0');
  }
  if (p <= 0 || p > 65535) return false;
  *port = p;
  return !host->empty();
}

}  // namespace corral::http
