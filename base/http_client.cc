#include "base/http_client.h"

#include <llhttp.h>

#include <cstring>

#include "base/log.h"

namespace corral::http {

namespace {

class ClientCall : public StreamHandle, public std::enable_shared_from_this<ClientCall> {
 public:
  ClientCall(Loop& loop, std::string host, int port, Request req, ClientOptions options)
      : loop_(loop),
        host_(std::move(host)),
        port_(port),
        req_(std::move(req)),
        options_(options),
        timer_(loop) {
    llhttp_settings_init(&settings_);
    settings_.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      auto* c = self(p);
      if (c->lastWasValue_) c->resp_.headers.emplace_back();
      c->resp_.headers.back().first.append(at, n);
      c->lastWasValue_ = false;
      return 0;
    };
    settings_.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      auto* c = self(p);
      if (c->resp_.headers.empty()) c->resp_.headers.emplace_back();
      c->resp_.headers.back().second.append(at, n);
      c->lastWasValue_ = true;
      return 0;
    };
    settings_.on_headers_complete = [](llhttp_t* p) {
      auto* c = self(p);
      c->resp_.status = p->status_code;
      if (c->streaming_) {
        c->timer_.stop();
        if (c->stream_.onHead) c->stream_.onHead(c->resp_);
      }
      return c->cancelled_ ? -1 : 0;
    };
    settings_.on_body = [](llhttp_t* p, const char* at, size_t n) {
      auto* c = self(p);
      if (c->streaming_) {
        if (c->stream_.onData) c->stream_.onData(std::string_view(at, n));
        return c->cancelled_ ? -1 : 0;
      }
      if (c->resp_.body.size() + n > c->options_.maxBodyBytes) return -1;
      c->resp_.body.append(at, n);
      return 0;
    };
    settings_.on_message_complete = [](llhttp_t* p) {
      self(p)->complete_ = true;
      return 0;
    };
    llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
    parser_.data = this;
  }

  ~ClientCall() override { closeAndDelete(tcp_); }

  void startFetch(FetchCallback cb) {
    fetchCb_ = std::move(cb);
    begin();
  }
  void startStream(StreamCallbacks cbs) {
    streaming_ = true;
    stream_ = std::move(cbs);
    begin();
  }

  void cancel() override {
    cancelled_ = true;
    finish(Status::Ok(), /*notify=*/false);
  }

 private:
  static ClientCall* self(llhttp_t* p) { return static_cast<ClientCall*>(p->data); }

  void begin() {
    keep_ = shared_from_this();
    auto weak = weak_from_this();
    timer_.start(options_.timeoutMs, 0, [weak] {
      if (auto c = weak.lock())
        c->fail("timed out after " + std::to_string(c->options_.timeoutMs) + " ms");
    });
    sockaddr_storage addr{};
    if (uv_ip4_addr(host_.c_str(), port_, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
        uv_ip6_addr(host_.c_str(), port_, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
      connectTo(reinterpret_cast<sockaddr*>(&addr));
      return;
    }
    auto* gai = new uv_getaddrinfo_t;
    gai->data = new std::weak_ptr<ClientCall>(weak);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(
        loop_.raw(), gai,
        [](uv_getaddrinfo_t* g, int status, addrinfo* res) {
          auto* w = static_cast<std::weak_ptr<ClientCall>*>(g->data);
          if (auto c = w->lock()) {
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
          delete w;
          delete g;
        },
        host_.c_str(), nullptr, &hints);
    if (rc != 0) {
      delete static_cast<std::weak_ptr<ClientCall>*>(gai->data);
      delete gai;
      fail(std::string("cannot resolve ") + host_ + ": " + uv_strerror(rc));
    }
  }

  void connectTo(const sockaddr* addr) {
    if (done_) return;
    tcp_ = new uv_tcp_t;
    uv_tcp_init(loop_.raw(), tcp_);
    tcp_->data = this;
    auto* cr = new uv_connect_t;
    cr->data = new std::weak_ptr<ClientCall>(weak_from_this());
    int rc = uv_tcp_connect(cr, tcp_, addr, [](uv_connect_t* req, int status) {
      auto* w = static_cast<std::weak_ptr<ClientCall>*>(req->data);
      if (auto c = w->lock()) c->onConnect(status);
      delete w;
      delete req;
    });
    if (rc != 0) {
      delete static_cast<std::weak_ptr<ClientCall>*>(cr->data);
      delete cr;
      fail(std::string("cannot connect to ") + host_ + ":" + std::to_string(port_) + ": " +
           uv_strerror(rc));
    }
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
    auto* w = new uv_write_t;
    w->data = new std::weak_ptr<ClientCall>(weak_from_this());
    uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    uv_write(w, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1, [](uv_write_t* req, int status) {
      auto* wp = static_cast<std::weak_ptr<ClientCall>*>(req->data);
      if (auto c = wp->lock()) {
        if (status < 0) c->fail(std::string("write failed: ") + uv_strerror(status));
      }
      delete wp;
      delete req;
    });
    uv_read_start(reinterpret_cast<uv_stream_t*>(tcp_), allocReadBuffer,
                  [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                    auto* c = static_cast<ClientCall*>(s->data);
                    auto keep = c->shared_from_this();
                    if (n > 0) c->onData(buf->base, static_cast<size_t>(n));
                    delete[] buf->base;
                    if (n == UV_EOF)
                      c->onEof();
                    else if (n < 0)
                      c->fail(std::string("read failed: ") + uv_strerror(static_cast<int>(n)));
                  });
  }

  void onData(const char* data, size_t n) {
    if (done_) return;
    llhttp_errno_t err = llhttp_execute(&parser_, data, n);
    if (done_) return;
    if (err != HPE_OK) {
      fail(std::string("bad HTTP response: ") + llhttp_get_error_reason(&parser_));
      return;
    }
    if (complete_) succeed();
  }

  void onEof() {
    if (done_) return;
    if (!complete_) {
      llhttp_errno_t err = llhttp_finish(&parser_);
      if (err != HPE_OK || !complete_) {
        fail("connection closed before the response was complete");
        return;
      }
    }
    succeed();
  }

  void succeed() {
    if (streaming_) {
      finish(Status::Ok(), true);
    } else {
      done_ = true;
      auto cb = std::move(fetchCb_);
      Response r = std::move(resp_);
      finish(Status::Ok(), false);
      if (cb) cb(std::move(r));
    }
  }

  void fail(const std::string& why) {
    if (done_) return;
    if (streaming_) {
      finish(makeError(why), true);
    } else {
      done_ = true;
      auto cb = std::move(fetchCb_);
      finish(Status::Ok(), false);
      if (cb) cb(makeError(why));
    }
  }

  void finish(Status st, bool notify) {
    done_ = true;
    timer_.stop();
    if (tcp_) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_));
      closeAndDelete(tcp_);
      tcp_ = nullptr;
    }
    if (notify && streaming_ && stream_.onEnd) {
      auto cb = std::move(stream_.onEnd);
      stream_ = {};
      cb(st);
    }
    stream_ = {};
    // Release the self-reference last: this may destroy us.
    auto keep = std::move(keep_);
  }

  Loop& loop_;
  std::string host_;
  int port_;
  Request req_;
  ClientOptions options_;
  Timer timer_;
  uv_tcp_t* tcp_ = nullptr;
  llhttp_t parser_;
  llhttp_settings_t settings_;
  Response resp_;
  std::string out_;
  bool lastWasValue_ = true;
  bool complete_ = false;
  bool done_ = false;
  bool cancelled_ = false;
  bool streaming_ = false;
  FetchCallback fetchCb_;
  StreamCallbacks stream_;
  std::shared_ptr<ClientCall> keep_;
};

}  // namespace

void fetch(Loop& loop, const std::string& host, int port, Request req, FetchCallback cb,
           ClientOptions options) {
  // push_back, not `= "/"`: GCC 12 at -O3 flags the literal assignment with a
  // false -Wrestrict (GCC bug 105329).
  if (req.target.empty()) req.target.push_back('/');
  auto call = std::make_shared<ClientCall>(loop, host, port, std::move(req), options);
  call->startFetch(std::move(cb));
}

std::shared_ptr<StreamHandle> openStream(Loop& loop, const std::string& host, int port, Request req,
                                         StreamCallbacks callbacks, ClientOptions options) {
  auto call = std::make_shared<ClientCall>(loop, host, port, std::move(req), options);
  call->startStream(std::move(callbacks));
  return call;
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
