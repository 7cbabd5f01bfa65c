#include "proxy/tcp_tunnel.h"

namespace corral::proxy {

const char* tunnelEndName(TunnelEnd end) {
  switch (end) {
    case TunnelEnd::kDone:
      return "done";
    case TunnelEnd::kConnectFailed:
      return "connect-failed";
    case TunnelEnd::kConnectTimeout:
      return "connect-timeout";
    case TunnelEnd::kIdleTimeout:
      return "idle-timeout";
    case TunnelEnd::kError:
      return "error";
  }
  return "unknown";
}

TcpTunnel::TcpTunnel(Loop& loop, ConnPtr client, TunnelOptions options, DoneCallback done)
    : loop_(loop), options_(options), done_(std::move(done)), timer_(loop) {
  sides_[0].conn = std::move(client);
  sides_[0].conn->owner = this;
}

TcpTunnel::~TcpTunnel() {
  // Closing cancels pending writes; their callbacks see owner == nullptr.
  for (auto& s : sides_) s.conn.reset();
}

int TcpTunnel::sideOf(Conn* c, TcpTunnel** t) {
  *t = static_cast<TcpTunnel*>(c->owner);
  if (*t == nullptr) return -1;
  return (*t)->sides_[0].conn.get() == c ? 0 : 1;
}

void TcpTunnel::connect(const sockaddr* upstream) {
  Conn* c = Conn::create(loop_.raw(), sides_[0].conn->bufSize);
  sides_[1].conn.reset(c);
  c->owner = this;
  uv_tcp_nodelay(&c->tcp, 1);
  timer_.start(options_.connectTimeoutMs, 0, [this] { finish(TunnelEnd::kConnectTimeout); });
  int rc = uv_tcp_connect(&c->connectReq, &c->tcp, upstream, [](uv_connect_t* req, int status) {
    auto* conn = static_cast<Conn*>(req->handle->data);
    auto* t = static_cast<TcpTunnel*>(conn->owner);
    if (t == nullptr || t->finished_) return;
    if (status < 0) {
      t->finish(TunnelEnd::kConnectFailed);
      return;
    }
    t->begin();
  });
  if (rc != 0) finish(TunnelEnd::kConnectFailed);
}

void TcpTunnel::start(ConnPtr upstream, std::string toUpstream, std::string toClient) {
  sides_[1].conn = std::move(upstream);
  sides_[1].conn->owner = this;
  sides_[0].carry = std::move(toUpstream);
  sides_[1].carry = std::move(toClient);
  begin();
}

void TcpTunnel::begin() {
  armIdle();
  for (int i = 0; i < 2 && !finished_; ++i) {
    Side& s = sides_[i];
    s.conn->filled = 0;
    if (s.carry.empty()) {
      startReading(i);
    } else if (!forward(i, s.carry.data(), s.carry.size())) {
      return;
    } else if (!s.writing) {
      s.carry.clear();
      startReading(i);
    }
  }
}

void TcpTunnel::startReading(int i) {
  int rc = sides_[i].conn->startReading([](uv_stream_t* st, ssize_t n, const uv_buf_t*) {
    TcpTunnel* t;
    int side = sideOf(static_cast<Conn*>(st->data), &t);
    if (side >= 0) t->onRead(side, n);
  });
  if (rc != 0) finish(TunnelEnd::kError);
}

void TcpTunnel::onRead(int i, ssize_t n) {
  if (finished_) return;
  Side& s = sides_[i];
  if (n > 0) {
    lastActivityMs_ = uv_now(loop_.raw());
    forward(i, s.conn->buf.get(), static_cast<size_t>(n));
    return;
  }
  if (n == 0) return;
  if (n != UV_EOF) {
    finish(TunnelEnd::kError);
    return;
  }
  s.eof = true;
  uv_read_stop(s.conn->stream());
  if (!s.writing) shutdownOther(i);
}

bool TcpTunnel::forward(int i, const char* data, size_t n) {
  Side& s = sides_[i];
  Conn* out = sides_[1 - i].conn.get();
  s.bytes += n;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(n));
  int w = uv_try_write(out->stream(), &buf, 1);
  if (w == UV_EAGAIN || w == UV_ENOSYS) w = 0;
  if (w < 0) {
    finish(TunnelEnd::kError);
    return false;
  }
  if (static_cast<size_t>(w) == n) return true;
  // The rest goes out from the same buffer; this side stops reading until it
  // has (the other side's write queue never holds more than one buffer).
  buf = uv_buf_init(const_cast<char*>(data) + w, static_cast<unsigned>(n - w));
  s.writing = true;
  uv_read_stop(s.conn->stream());
  // The request lives in the block of the connection written to, so a write
  // cancelled by its close never touches freed memory; each connection is
  // written by one direction only, one write at a time.
  int rc = uv_write(&out->writeReq, out->stream(), &buf, 1, [](uv_write_t* req, int status) {
    TcpTunnel* t;
    int side = sideOf(static_cast<Conn*>(req->handle->data), &t);
    if (side >= 0) t->onWritten(1 - side, status);
  });
  if (rc != 0) {
    s.writing = false;
    finish(TunnelEnd::kError);
    return false;
  }
  return true;
}

void TcpTunnel::onWritten(int i, int status) {
  if (finished_) return;
  Side& s = sides_[i];
  s.writing = false;
  s.carry.clear();
  if (status < 0) {
    finish(TunnelEnd::kError);
    return;
  }
  lastActivityMs_ = uv_now(loop_.raw());
  if (s.eof) {
    shutdownOther(i);
  } else {
    startReading(i);
  }
}

void TcpTunnel::shutdownOther(int i) {
  Conn* out = sides_[1 - i].conn.get();
  int rc = uv_shutdown(&out->shutdownReq, out->stream(), [](uv_shutdown_t* req, int status) {
    TcpTunnel* t;
    int side = sideOf(static_cast<Conn*>(req->handle->data), &t);
    if (side < 0 || t->finished_) return;
    side = 1 - side;  // the direction that wrote into this connection
    // A peer that already closed its read side makes shutdown fail; the
    // direction is over either way.
    t->sides_[side].shutDown = true;
    if (t->sides_[0].shutDown && t->sides_[1].shutDown) t->finish(TunnelEnd::kDone);
  });
  if (rc != 0) finish(TunnelEnd::kError);
}

void TcpTunnel::armIdle() {
  lastActivityMs_ = uv_now(loop_.raw());
  if (options_.idleTimeoutMs == 0) return;
  timer_.start(options_.idleTimeoutMs, 0, [this] { checkIdle(); });
}

// One timer for the whole tunnel, re-armed lazily: reads and writes only
// record the time, the timer checks it when it fires.
void TcpTunnel::checkIdle() {
  uint64_t idle = uv_now(loop_.raw()) - lastActivityMs_;
  if (idle >= options_.idleTimeoutMs) {
    finish(TunnelEnd::kIdleTimeout);
    return;
  }
  timer_.start(options_.idleTimeoutMs - idle, 0, [this] { checkIdle(); });
}

size_t TcpTunnel::queuedBytes() const {
  size_t n = 0;
  for (const auto& s : sides_) {
    if (s.conn) n += uv_stream_get_write_queue_size(s.conn->stream());
  }
  return n;
}

void TcpTunnel::finish(TunnelEnd end) {
  if (finished_) return;
  finished_ = true;
  timer_.stop();
  for (auto& s : sides_) s.conn.reset();
  if (done_) done_(end);
}

}  // namespace corral::proxy
