#include "dns/udp_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "base/log.h"

namespace corral::dns {
namespace {

struct SendRequest {
  uv_udp_send_t req;
  std::vector<uint8_t> data;
};

}  // namespace

Status UdpServer::start(uv_loop_t* loop, int fd) {
  handle_ = new uv_udp_t;
  int rc = uv_udp_init(loop, handle_);
  if (rc != 0) {
    delete handle_;
    handle_ = nullptr;
    ::close(fd);
    return makeError(std::string("uv_udp_init: ") + uv_strerror(rc));
  }
  handle_->data = this;
  rc = uv_udp_open(handle_, fd);
  if (rc == 0) rc = uv_udp_recv_start(handle_, &UdpServer::onAlloc, &UdpServer::onRecv);
  if (rc != 0) {
    close();
    return makeError(std::string("dns udp: ") + uv_strerror(rc));
  }
  return Status::Ok();
}

void UdpServer::close() {
  if (handle_ == nullptr) return;
  uv_udp_recv_stop(handle_);
  uv_close(reinterpret_cast<uv_handle_t*>(handle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_udp_t*>(h); });
  handle_ = nullptr;
}

void UdpServer::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<UdpServer*>(handle->data);
  buf->base = reinterpret_cast<char*>(self->recv_.data());
  buf->len = self->recv_.size();
}

void UdpServer::onRecv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                       unsigned flags) {
  auto* self = static_cast<UdpServer*>(handle->data);
  if (nread <= 0 || addr == nullptr) return;  // nothing, or an error on the socket
  if (flags & UV_UDP_PARTIAL) {
    self->ctx_.metrics->countDropped();
    return;
  }
  self->handle({reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)}, addr);
}

void UdpServer::handle(std::span<const uint8_t> query, const sockaddr* addr) {
  WorkerContext& ctx = ctx_;
  std::span<uint8_t> out(ctx.buffer.data(), kMaxMessageSize);
  AnswerResult r = answer(*ctx.zone, query, Transport::kUdp, ctx.options, out);
  if (r.disposition == Disposition::kDrop) {
    ctx.metrics->countDropped();
    return;
  }
  if (r.disposition == Disposition::kNotOurs && r.recursionDesired && ctx.forwarder != nullptr) {
    forward(query, addr);
    return;
  }
  ctx.metrics->countQuery(r.qtype, r.rcode, false);
  if (r.truncated) ctx.metrics->countTruncated();
  send(out.first(r.size), addr);
}

void UdpServer::forward(std::span<const uint8_t> query, const sockaddr* addr) {
  ctx_.metrics->countForwarded();
  sockaddr_storage peer{};
  std::memcpy(&peer, addr,
              addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  std::vector<uint8_t> saved(query.begin(), query.end());
  ctx_.forwarder->forward(query, [this, peer, saved = std::move(saved)](
                                     std::span<const uint8_t> response, bool cancelled) {
    if (cancelled || ctx_.stopping || handle_ == nullptr) return;
    WorkerContext& ctx = ctx_;
    std::span<uint8_t> out(ctx.buffer.data(), kMaxMessageSize);
    const auto* to = reinterpret_cast<const sockaddr*>(&peer);
    Query q;
    if (parseQuery(saved, q) != ParseStatus::kOk) return;
    size_t limit = responseLimit(q, Transport::kUdp, ctx.options);
    size_t n = 0;
    uint16_t rcode = kRcodeServFail;
    if (response.size() >= kHeaderSize && response.size() <= limit) {
      std::memcpy(out.data(), response.data(), response.size());
      out[0] = saved[0];
      out[1] = saved[1];
      out[3] |= 0x80;  // RA: we recursed for the client
      n = response.size();
      rcode = out[3] & 0xF;
    } else if (response.size() >= kHeaderSize) {
      n = writeEmptyResponse(saved, kRcodeNoError, true, Transport::kUdp, ctx.options, out);
      rcode = kRcodeNoError;
      ctx.metrics->countTruncated();
    } else {
      ctx.metrics->countForwardFailed();
      n = writeEmptyResponse(saved, kRcodeServFail, false, Transport::kUdp, ctx.options, out);
    }
    ctx.metrics->countQuery(q.qtype, rcode, false);
    if (n > 0) send(out.first(n), to);
  });
}

void UdpServer::send(std::span<const uint8_t> response, const sockaddr* addr) {
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(const_cast<uint8_t*>(response.data())),
                             static_cast<unsigned>(response.size()));
  int rc = uv_udp_try_send(handle_, &buf, 1, addr);
  if (rc >= 0) return;
  if (rc != UV_EAGAIN) {
    log::debug("dns udp: send failed: {}", uv_strerror(rc));
    return;
  }
  // The socket buffer is full: queue a copy.
  auto* req = new SendRequest;
  req->data.assign(response.begin(), response.end());
  req->req.data = req;
  buf = uv_buf_init(reinterpret_cast<char*>(req->data.data()),
                    static_cast<unsigned>(req->data.size()));
  rc = uv_udp_send(&req->req, handle_, &buf, 1, addr,
                   [](uv_udp_send_t* r, int) { delete static_cast<SendRequest*>(r->data); });
  if (rc != 0) delete req;
}

}  // namespace corral::dns
