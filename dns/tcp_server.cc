#include "dns/tcp_server.h"

#include <cstring>

#include "base/log.h"

namespace corral::dns {

struct TcpServer::Connection {
  uv_tcp_t tcp;
  uv_timer_t idle;
  TcpServer* server = nullptr;
  uint64_t id = 0;
  std::vector<uint8_t> in;  // unparsed bytes
  size_t pendingWrites = 0;
  size_t pendingForwards = 0;
  int openHandles = 0;
  bool reading = false;
  bool closing = false;
  bool closeWhenFlushed = false;
};

struct TcpServer::WriteRequest {
  uv_write_t req;
  Connection* connection;
  std::vector<uint8_t> data;
};

namespace {
constexpr size_t kReadChunk = 16 * 1024;
}  // namespace

void TcpServer::close() {
  std::vector<Connection*> all;
  for (auto& [id, c] : connections_) all.push_back(c);
  for (Connection* c : all) closeConnection(c);
}

void TcpServer::accept(uv_stream_t* listener) {
  auto* c = new Connection;
  c->server = this;
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  c->openHandles = 1;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    c->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), &TcpServer::onClosed);
    return;
  }
  if (connections_.size() >= limits_.maxConnections) {
    ctx_.metrics->countTcpRejected();
    c->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), &TcpServer::onClosed);
    return;
  }
  ctx_.metrics->countTcpConnection();
  c->id = nextId_++;
  connections_.emplace(c->id, c);
  uv_tcp_nodelay(&c->tcp, 1);
  uv_timer_init(loop_, &c->idle);
  c->idle.data = c;
  c->openHandles = 2;
  // Repeating, so uv_timer_again() restarts the countdown on every read.
  uv_timer_start(&c->idle, &TcpServer::onIdle, limits_.idleTimeoutMs, limits_.idleTimeoutMs);
  c->reading = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &TcpServer::onAlloc, &TcpServer::onRead);
}

void TcpServer::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  size_t used = c->in.size();
  c->in.resize(used + kReadChunk);
  buf->base = reinterpret_cast<char*>(c->in.data() + used);
  buf->len = kReadChunk;
}

void TcpServer::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(stream->data);
  TcpServer* self = c->server;
  // Give back what the read did not fill.
  size_t unused = buf->len - static_cast<size_t>(nread > 0 ? nread : 0);
  if (buf->base != nullptr && c->in.size() >= unused) c->in.resize(c->in.size() - unused);
  if (nread < 0) {  // EOF or error
    self->closeConnection(c);
    return;
  }
  if (nread == 0) return;
  uv_timer_again(&c->idle);
  self->process(c);
}

void TcpServer::process(Connection* c) {
  size_t pos = 0;
  while (!c->closing && !c->closeWhenFlushed && c->in.size() - pos >= 2) {
    size_t length = (static_cast<size_t>(c->in[pos]) << 8) | c->in[pos + 1];
    if (length < kHeaderSize) {  // not a DNS message: garbage
      closeConnection(c);
      return;
    }
    if (c->in.size() - pos - 2 < length) break;
    handleQuery(c, {c->in.data() + pos + 2, length});
    pos += 2 + length;
  }
  if (c->closing) return;
  if (pos > 0) c->in.erase(c->in.begin(), c->in.begin() + static_cast<long>(pos));
  if (c->reading && c->pendingWrites >= limits_.maxPendingWrites) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    c->reading = false;
  }
}

void TcpServer::handleQuery(Connection* c, std::span<const uint8_t> query) {
  WorkerContext& ctx = ctx_;
  std::span<uint8_t> out(ctx.buffer.data() + 2, kMaxMessageSize);
  AnswerResult r = answer(*ctx.zone, query, Transport::kTcp, ctx.options, out);
  if (r.disposition == Disposition::kDrop) {
    ctx.metrics->countDropped();
    c->closeWhenFlushed = true;
    if (c->pendingWrites == 0 && c->pendingForwards == 0) closeConnection(c);
    return;
  }
  if (r.disposition == Disposition::kNotOurs && r.recursionDesired && ctx.forwarder != nullptr) {
    forward(c, query);
    return;
  }
  ctx.metrics->countQuery(r.qtype, r.rcode, true);
  write(c, {ctx.buffer.data() + 2, r.size});
  if (r.rcode == kRcodeFormErr) c->closeWhenFlushed = true;  // a peer sending garbage
}

void TcpServer::forward(Connection* c, std::span<const uint8_t> query) {
  ctx_.metrics->countForwarded();
  ++c->pendingForwards;
  uint64_t id = c->id;
  std::vector<uint8_t> saved(query.begin(), query.end());
  ctx_.forwarder->forward(query, [this, id, saved = std::move(saved)](
                                     std::span<const uint8_t> response, bool cancelled) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;  // the client went away
    Connection* conn = it->second;
    --conn->pendingForwards;
    if (cancelled || ctx_.stopping || conn->closing) return;
    std::span<uint8_t> out(ctx_.buffer.data() + 2, kMaxMessageSize);
    size_t n = 0;
    uint16_t rcode = kRcodeServFail;
    if (response.size() >= kHeaderSize) {
      std::memcpy(out.data(), response.data(), response.size());
      out[0] = saved[0];
      out[1] = saved[1];
      out[3] |= 0x80;  // RA: we recursed for the client
      n = response.size();
      rcode = out[3] & 0xF;
    } else {
      ctx_.metrics->countForwardFailed();
      n = writeEmptyResponse(saved, kRcodeServFail, false, Transport::kTcp, ctx_.options, out);
    }
    Query q;
    ctx_.metrics->countQuery(parseQuery(saved, q) == ParseStatus::kOk ? q.qtype : 0, rcode, true);
    if (n > 0) write(conn, {ctx_.buffer.data() + 2, n});
  });
}

void TcpServer::write(Connection* c, std::span<const uint8_t> response) {
  if (c->closing) return;
  auto* w = new WriteRequest;
  w->connection = c;
  w->data.resize(2 + response.size());
  w->data[0] = static_cast<uint8_t>(response.size() >> 8);
  w->data[1] = static_cast<uint8_t>(response.size());
  std::memcpy(w->data.data() + 2, response.data(), response.size());
  w->req.data = w;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(w->data.data()), static_cast<unsigned>(w->data.size()));
  ++c->pendingWrites;
  int rc =
      uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1, &TcpServer::onWritten);
  if (rc != 0) {
    --c->pendingWrites;
    delete w;
    closeConnection(c);
  }
}

void TcpServer::onWritten(uv_write_t* req, int status) {
  std::unique_ptr<WriteRequest> w(static_cast<WriteRequest*>(req->data));
  Connection* c = w->connection;
  TcpServer* self = c->server;
  --c->pendingWrites;
  if (c->closing) return;
  if (status < 0) {
    self->closeConnection(c);
    return;
  }
  if (c->closeWhenFlushed && c->pendingWrites == 0 && c->pendingForwards == 0) {
    self->closeConnection(c);
    return;
  }
  if (!c->reading && c->pendingWrites < self->limits_.maxPendingWrites / 4) {
    c->reading = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &TcpServer::onAlloc, &TcpServer::onRead);
    self->process(c);  // frames that arrived while paused
  }
}

void TcpServer::onIdle(uv_timer_t* timer) {
  auto* c = static_cast<Connection*>(timer->data);
  c->server->closeConnection(c);
}

void TcpServer::closeConnection(Connection* c) {
  if (c->closing) return;
  c->closing = true;
  connections_.erase(c->id);
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
  uv_timer_stop(&c->idle);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->idle), &TcpServer::onClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), &TcpServer::onClosed);
}

void TcpServer::onClosed(uv_handle_t* handle) {
  auto* c = static_cast<Connection*>(handle->data);
  if (--c->openHandles <= 0) delete c;
}

}  // namespace corral::dns
