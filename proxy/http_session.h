// One downstream HTTP/1.1 connection through the proxy. Requests are read
// with the streaming parser and handled one at a time, in order (the bytes
// of pipelined requests wait in the connection's buffer, bounded by its
// size): route, pick a peer, take a pooled or new upstream connection,
// forward the rewritten head, stream the body, parse the response as
// strictly as the request, stream it back; keep-alive on both sides. An
// Upgrade answered with 101 turns the session into a TcpTunnel.
//
// Bytes are copied between the two connections' own buffers: the parser
// only says how far each event reaches, and those byte ranges are written
// out unchanged (uv_try_write first, the rest queued from the buffer while
// reading that side stops: backpressure), so body framing reaches the other
// side exactly as validated. Only heads are rebuilt.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/http_request_parser.h"
#include "base/loop.h"
#include "proxy/connection.h"
#include "proxy/response_stream.h"
#include "proxy/route_lookup.h"
#include "proxy/stats.h"
#include "proxy/tcp_tunnel.h"
#include "proxy/tls_context.h"

namespace corral::tls {
class TlsStream;
}  // namespace corral::tls

namespace corral::proxy {

class UpstreamPool;
class AccessLog;

struct SessionOptions {
  size_t bufferBytes = 64 * 1024;  // per connection, both sides
  size_t maxHeaderBytes = 32 * 1024;
  uint64_t headerTimeoutMs = 10 * 1000;  // first byte of a request to its complete head
  uint64_t idleTimeoutMs = 60 * 1000;    // keep-alive wait for the next request
  // Non-null: one line per request (the access log, off by default); the
  // worker's, on its loop, outliving its sessions.
  AccessLog* accessLog = nullptr;
  // Counts requests that no route took (404, bad requests); may be null.
  RouteCounters* unrouted = nullptr;
  bool tls = false;  // X-Forwarded-Proto https (set with tlsStore)
  // Non-null: the client speaks TLS; each session keeps the store it
  // started with (the worker swaps in reloaded stores for new sessions).
  TlsStorePtr tlsStore;
  TunnelOptions tunnel;
};

// Why the proxy answered instead of a task (the X-Corral-Error header).
enum class ProxyError {
  kBadRequest,
  kNoRoute,
  kNoBackend,
  kConnectFailed,
  kConnectTimeout,
  kResponseTimeout,
  kBadResponse,
  kUpstreamClosed,
  kForbidden,     // BACKEND_NETWORK_ALLOWED_ACL
  kUnauthorized,  // AUTH
  kAtLimit,       // CORRAL_{n}_MAXCONN
};
const char* proxyErrorName(ProxyError e);

class HttpSession {
 public:
  // Called once when the session is over and its connections are closing.
  // The owner must not destroy the session inside it: defer the deletion.
  using DoneCallback = std::function<void(HttpSession*)>;

  HttpSession(Loop& loop, RouteLookup& routes, UpstreamPool& pool, const SessionOptions& options,
              ConnPtr client, DoneCallback done);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void start();
  // Ends the session now (shutdown of the worker).
  void close() { terminate(); }
  // A takeover drains this process: the response in progress (or the next
  // one, on an idle keep-alive connection) is the last, with Connection: close.
  void drainAfterResponse() { draining_ = true; }
  uint64_t requests() const { return requests_; }

 private:
  // kTlsTunnel: an Upgrade over TLS (wss://); the session itself copies
  // decrypted client bytes to the task and encrypts the task's bytes, since
  // TcpTunnel copies raw sockets only.
  enum class Phase { kHead, kConnecting, kExchange, kTunnel, kTlsTunnel, kClosed };

  // Request side.
  void onClientRead(ssize_t n);
  void pumpRequest();
  void onRequestHead();
  void buildRequestHead(const RouteDecision& route);
  // Response side.
  void onUpstreamRead(ssize_t n);
  void pumpResponse();
  bool onResponseHead();
  void buildResponseHead();
  // Writes a response head that waited for body bytes; false if the
  // session ended.
  bool flushPendingHead();
  void finishExchange();
  void switchToTunnel();
  // kTlsTunnel: moves what one side sent to the other, with backpressure.
  void pumpTlsTunnelUp();
  void pumpTlsTunnelDown();
  void armTunnelIdle();
  // Upstream connection.
  void connectUpstream();
  void onConnected();
  void onConnectFailed(PeerOutcome outcome);
  void releasePeer(PeerOutcome outcome);
  void unpark();
  bool retryOnFreshConnection();
  bool retryIdempotent();
  // Writes; at most one in flight per connection.
  bool writeTo(Conn* out, std::string_view prefix, const char* data, size_t n, size_t consume);
  void onWritten(Conn* out, int status);
  void consume(Conn* c, size_t n);
  void resumeReading(Conn* c);
  // TLS on the client side (tls_ set): encrypted bytes are read into
  // tlsIn_ and decrypted into the client's buffer; writes are encrypted
  // into tlsOut_ and written from there, one uv_write at a time.
  void stopReading(Conn* c);
  void startTlsReading();
  void onTlsRead(ssize_t n);
  void deliverTlsPlain();
  bool writeTls(std::string_view prefix, const char* data, size_t n, size_t consumeBytes);
  bool flushTls();
  void onTlsWritten(int status);
  // Counters and the access log, once per exchange.
  void beginExchange(RouteCounters* counters);
  void endExchange();
  void logAccess(uint64_t elapsedUs, bool cut);
  // Endings.
  void respondError(int status, ProxyError error, std::string_view message);
  // A final answer from the proxy itself, then the connection closes.
  // `extraHeaders`: complete "Name: value\r\n" lines.
  void respondLocal(int status, const char* errorName, std::string_view extraHeaders,
                    std::string_view message);
  // The route's own conditions (https, client networks, credentials); false
  // when the proxy answered instead.
  bool admitRequest();
  bool clientAllowed(const std::vector<conf::Cidr>& networks) const;
  // routeIdleMs: CORRAL_{n}_TIMEOUT_IDLE of the exchange just ended (0: none).
  void armIdle(uint64_t routeIdleMs = 0);
  void armResponseTimer();
  // The session's one pending timeout (a new one replaces it).
  enum class Deadline : uint8_t { kNone, kHead, kConnect, kResponse, kIdle, kLinger };
  void setDeadline(Deadline what, uint64_t ms);
  void clearDeadline() { deadline_ = Deadline::kNone; }
  void onTimer();
  void linger();
  void terminate();

  Loop& loop_;
  RouteLookup& routes_;
  UpstreamPool& pool_;
  const SessionOptions& options_;
  DoneCallback done_;
  ConnPtr client_;
  ConnPtr upstream_;
  ConnPtr parked_;  // the last clean task connection, kept for the next request
  std::unique_ptr<TcpTunnel> tunnel_;
  http::RequestStreamParser request_;
  ResponseStream response_;
  Timer timer_;
  Deadline deadline_ = Deadline::kNone;
  uint64_t deadlineAt_ = 0;  // loop time (ms) at which deadline_ expires
  uint64_t timerAt_ = 0;     // loop time timer_ fires at; 0: not armed
  std::unique_ptr<tls::TlsStream> tls_;
  std::unique_ptr<char[]> tlsIn_;
  std::string tlsOut_;      // encrypted, not yet handed to libuv
  std::string tlsWriting_;  // encrypted, in the uv_write in flight
  bool tlsReading_ = false;
  bool tlsWriteInFlight_ = false;
  Timer tlsDrain_;  // delivers plaintext the TLS layer still holds once there is room
  Phase phase_ = Phase::kHead;

  RouteDecision route_;
  const Peer* peer_ = nullptr;
  uint64_t tried_[8];
  size_t triedCount_ = 0;
  PeerOutcome lastFailure_ = PeerOutcome::kOk;

  std::string requestHead_;   // rebuilt head sent upstream (reused)
  std::string responseHead_;  // rebuilt head sent to the client (reused)
  std::string clientIp_;
  sockaddr_storage clientAddr_{};
  std::string stickyCookie_;
  // The exchange's accounting.
  RouteCounters* counters_ = nullptr;
  std::string_view routeName_;
  const char* errorName_ = nullptr;
  uint64_t startUs_ = 0;
  uint64_t bytesToClient_ = 0;
  int status_ = 0;
  bool exchangeOpen_ = false;
  bool localAnswer_ = false;  // the proxy answered itself
  bool headKnown_ = false;    // value to set on this response ("" = none)
  std::string localPort_;
  // For the access log only (kept when it is on): the task port last tried,
  // when it was picked, and how long until its response head.
  sockaddr_storage loggedPeer_{};
  bool peerLogged_ = false;
  uint64_t peerPickedUs_ = 0;
  int64_t upstreamUs_ = -1;

  // The exchange in progress.
  bool requestDone_ = false;      // the whole request was parsed (and queued upstream)
  bool responseDone_ = false;     // the whole response was parsed
  bool responseStarted_ = false;  // bytes of the response went to the client
  bool headPending_ = false;      // a response head waits for the body bytes read with it
  bool closeAfterResponse_ = false;
  bool draining_ = false;    // see drainAfterResponse()
  bool reused_ = false;      // upstream came from the pool
  bool replayable_ = false;  // no body: may be resent on a fresh connection
  bool headTimerArmed_ = false;
  bool clientEof_ = false;
  bool closing_ = false;  // a final answer is being written; close after it
  bool lingering_ = false;
  // Bytes of the source buffer covered by the write in flight to each side.
  size_t toUpstreamInFlight_ = 0;
  size_t toClientInFlight_ = 0;
  bool writingUpstream_ = false;
  bool writingClient_ = false;
  uint64_t requests_ = 0;
};

}  // namespace corral::proxy
