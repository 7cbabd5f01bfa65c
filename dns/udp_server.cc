#include "dns/udp_server.h"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "base/log.h"

namespace corral::dns {

struct UdpServer::Batch {
  std::array<std::array<uint8_t, kSlotSize>, kBatch> in;
  std::array<std::array<uint8_t, kSlotSize>, kBatch> out;
  std::array<sockaddr_storage, kBatch> peers;
  std::array<iovec, kBatch> inIov;
  std::array<iovec, kBatch> outIov;
  std::array<mmsghdr, kBatch> inMsgs;
  std::array<mmsghdr, kBatch> outMsgs;
};

UdpServer::UdpServer(WorkerContext& ctx) : ctx_(ctx), batch_(std::make_unique<Batch>()) {}
UdpServer::~UdpServer() = default;

void UdpServer::close() {
  closed_ = true;
  fd_ = -1;
}

void UdpServer::onReadable(int fd) {
  if (closed_) return;
  fd_ = fd;
  Batch& b = *batch_;
  // Bounded work per wake-up so TCP and zone updates on this loop get a turn.
  for (int round = 0; round < 16 && !closed_; ++round) {
    for (size_t i = 0; i < kBatch; ++i) {
      b.inIov[i] = iovec{b.in[i].data(), kSlotSize};
      b.inMsgs[i].msg_hdr = msghdr{};
      b.inMsgs[i].msg_hdr.msg_name = &b.peers[i];
      b.inMsgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      b.inMsgs[i].msg_hdr.msg_iov = &b.inIov[i];
      b.inMsgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd_, b.inMsgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;  // EAGAIN (drained) or an error on the socket
    if (ctx_.rrl != nullptr) {
      timespec ts{};
      clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
      nowMs_ =
          static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
    }
    unsigned m = 0;
    for (int i = 0; i < n; ++i) {
      const msghdr& h = b.inMsgs[i].msg_hdr;
      if (h.msg_flags & MSG_TRUNC) {
        ctx_.metrics->countDropped();
        continue;
      }
      const auto* peer = reinterpret_cast<const sockaddr*>(&b.peers[i]);
      size_t size = handle({b.in[i].data(), b.inMsgs[i].msg_len}, peer, b.out[m].data());
      if (size == 0) continue;
      b.outIov[m] = iovec{b.out[m].data(), size};
      b.outMsgs[m].msg_hdr = msghdr{};
      b.outMsgs[m].msg_hdr.msg_name = &b.peers[i];
      b.outMsgs[m].msg_hdr.msg_namelen = h.msg_namelen;
      b.outMsgs[m].msg_hdr.msg_iov = &b.outIov[m];
      b.outMsgs[m].msg_hdr.msg_iovlen = 1;
      ++m;
    }
    unsigned sent = 0;
    while (sent < m) {
      int k = sendmmsg(fd_, b.outMsgs.data() + sent, m - sent, MSG_DONTWAIT);
      if (k <= 0) {
        // The send buffer is full: these answers are lost like any UDP packet.
        for (; sent < m; ++sent) ctx_.metrics->countDropped();
        break;
      }
      sent += static_cast<unsigned>(k);
    }
    if (static_cast<size_t>(n) < kBatch) return;
  }
}

size_t UdpServer::handle(std::span<const uint8_t> query, const sockaddr* addr, uint8_t* slot) {
  WorkerContext& ctx = ctx_;
  std::span<uint8_t> out(ctx.buffer.data(), kMaxMessageSize);
  AnswerResult r = answer(*ctx.zone, query, Transport::kUdp, ctx.options, out);
  if (r.disposition == Disposition::kDrop) {
    ctx.metrics->countDropped();
    return 0;
  }
  bool forwardIt =
      r.disposition == Disposition::kNotOurs && r.recursionDesired && ctx.forwarder != nullptr;
  uint16_t rcode = forwardIt ? kRcodeNoError : r.rcode;
  RrlAction action = limit(addr, rcode);
  if (action == RrlAction::kDrop) return 0;
  if (action == RrlAction::kSlip) {
    // Over the rate: an empty truncated answer instead, so a real client
    // retries over TCP while a spoofed victim gets nothing larger than it sent.
    r.size = writeEmptyResponse(query, rcode, true, Transport::kUdp, ctx.options, out);
    r.rcode = rcode;
    r.truncated = true;
    if (r.size == 0) return 0;
  } else if (forwardIt) {
    forward(query, addr);
    return 0;
  }
  ctx.metrics->countQuery(r.qtype, r.rcode, false);
  if (r.truncated) ctx.metrics->countTruncated();
  if (r.size > kSlotSize) {
    send(fd_, out.first(r.size), addr);
    return 0;
  }
  std::memcpy(slot, out.data(), r.size);
  return r.size;
}

RrlAction UdpServer::limit(const sockaddr* addr, uint16_t rcode) {
  if (ctx_.rrl == nullptr) return RrlAction::kSend;
  RrlCategory category = categoryOf(rcode);
  RrlAction action = ctx_.rrl->check(addr, category, nowMs_);
  if (action != RrlAction::kSend) ctx_.metrics->countRateLimited(action, category);
  return action;
}

void UdpServer::forward(std::span<const uint8_t> query, const sockaddr* addr) {
  ctx_.metrics->countForwarded();
  sockaddr_storage peer{};
  std::memcpy(&peer, addr,
              addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  std::vector<uint8_t> saved(query.begin(), query.end());
  ctx_.forwarder->forward(query, [this, fd = fd_, peer, saved = std::move(saved)](
                                     std::span<const uint8_t> response, bool cancelled) {
    if (cancelled || ctx_.stopping || closed_) return;
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
    if (n > 0) send(fd, out.first(n), to);
  });
}

void UdpServer::send(int fd, std::span<const uint8_t> response, const sockaddr* addr) {
  socklen_t len = addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::sendto(fd, response.data(), response.size(), MSG_DONTWAIT, addr, len) < 0) {
    ctx_.metrics->countDropped();
  }
}

}  // namespace corral::dns
