// Loopback test endpoints for the data plane: a listener on port 0 that
// hands accepted connections over, and a TestPeer that records what it reads
// and writes whatever it is told (as a client or a fake task).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>

#include "base/loop.h"
#include "proxy/connection.h"

namespace corral::proxy::test {

class TestListener {
 public:
  using OnAccept = std::function<void(ConnPtr)>;
  TestListener(Loop& loop, OnAccept onAccept, size_t bufSize = 64 * 1024)
      : loop_(loop), onAccept_(std::move(onAccept)), bufSize_(bufSize) {
    tcp_ = new uv_tcp_t;
    uv_tcp_init(loop.raw(), tcp_);
    tcp_->data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    EXPECT_EQ(uv_tcp_bind(tcp_, reinterpret_cast<sockaddr*>(&addr), 0), 0);
    EXPECT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(tcp_), 128,
                        [](uv_stream_t* s, int status) {
                          auto* self = static_cast<TestListener*>(s->data);
                          if (status < 0) return;
                          ConnPtr c(Conn::create(self->loop_.raw(), self->bufSize_));
                          if (uv_accept(s, c->stream()) != 0) return;
                          ++self->accepted;
                          self->onAccept_(std::move(c));
                        }),
              0);
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(tcp_, reinterpret_cast<sockaddr*>(&bound), &len);
    port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  ~TestListener() { closeAndDelete(tcp_); }
  sockaddr_in address() const {
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", port, &a);
    return a;
  }
  int port = 0;
  int accepted = 0;

 private:
  Loop& loop_;
  OnAccept onAccept_;
  size_t bufSize_;
  uv_tcp_t* tcp_;
};

// One end of a test connection: collects what arrives, writes on demand.
class TestPeer {
 public:
  explicit TestPeer(ConnPtr conn) : conn_(std::move(conn)) { conn_->owner = this; }
  // A client connecting to `port` on loopback.
  TestPeer(Loop& loop, int port) : conn_(Conn::create(loop.raw(), 64 * 1024)) {
    conn_->owner = this;
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", port, &a);
    uv_tcp_connect(&conn_->connectReq, &conn_->tcp, reinterpret_cast<sockaddr*>(&a),
                   [](uv_connect_t* req, int status) {
                     auto* c = static_cast<Conn*>(req->handle->data);
                     auto* p = static_cast<TestPeer*>(c->owner);
                     if (p == nullptr) return;
                     if (status < 0) {
                       p->error = status;
                       return;
                     }
                     p->connected = true;
                     p->read();
                   });
  }
  ~TestPeer() = default;  // ConnPtr closes

  void read() {
    conn_->startReading([](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
      auto* p = static_cast<TestPeer*>(static_cast<Conn*>(s->data)->owner);
      if (p == nullptr) return;
      if (n > 0) {
        p->received += n;
        if (p->keep) p->data.append(buf->base, static_cast<size_t>(n));
        if (p->onData) p->onData(*p, std::string_view(buf->base, static_cast<size_t>(n)));
      } else if (n == UV_EOF) {
        p->eof = true;
      } else if (n < 0) {
        p->error = static_cast<int>(n);
      }
    });
  }
  void pause() { uv_read_stop(conn_->stream()); }
  // Queued writes keep their bytes alive here until written.
  void write(std::string bytes) {
    auto* w = new PendingWrite{{}, std::move(bytes), this};
    uv_buf_t b = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    queued += w->bytes.size();
    uv_write(&w->req, conn_->stream(), &b, 1, [](uv_write_t* req, int status) {
      auto* w = reinterpret_cast<PendingWrite*>(req);
      auto* c = static_cast<Conn*>(req->handle->data);
      if (c->owner != nullptr) {
        w->peer->queued -= w->bytes.size();
        w->peer->written += w->bytes.size();
        if (status < 0) w->peer->error = status;
      }
      delete w;
    });
  }
  void shutdown() {
    uv_shutdown(&conn_->shutdownReq, conn_->stream(), [](uv_shutdown_t*, int) {});
  }
  // Closes with a TCP RST instead of a FIN.
  void reset() {
    Conn* c = conn_.release();
    c->owner = nullptr;
    uv_tcp_close_reset(&c->tcp, [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
  }
  Conn* conn() { return conn_.get(); }

  bool connected = false;
  bool keep = true;  // keep what arrives in `data`
  // Called after each read with the bytes just read (a scripted fake task).
  std::function<void(TestPeer&, std::string_view)> onData;
  std::string data;
  size_t received = 0;
  size_t queued = 0;
  size_t written = 0;
  bool eof = false;
  int error = 0;

 private:
  struct PendingWrite {
    uv_write_t req;
    std::string bytes;
    TestPeer* peer;
  };
  ConnPtr conn_;
};

inline std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + (i * 7 + i / 251) % 61);
  return s;
}

}  // namespace corral::proxy::test
