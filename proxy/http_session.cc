#include "proxy/http_session.h"

#include <cstring>

#include "base/clock.h"
#include "base/http_message.h"
#include "base/tls/tls_stream.h"
#include "conf/proxy_labels.h"
#include "proxy/access_log.h"
#include "proxy/balancer.h"
#include "proxy/basic_auth.h"
#include "proxy/upstream_pool.h"

namespace corral::proxy {

namespace {

// Encrypted bytes read per TLS read: one full record.
constexpr size_t kTlsReadBytes = 16 * 1024 + 512;

using http::equalsIgnoreCase;
using tls::TlsStream;

// Whether `name` is one of the comma-separated tokens of a Connection value.
bool listedIn(std::string_view connection, std::string_view name) {
  while (!connection.empty()) {
    size_t comma = connection.find(',');
    std::string_view token = connection.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (equalsIgnoreCase(token, name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
}

// The header names the head builders treat specially; every header of
// every message is classified, so the length is looked at first.
enum class Special {
  kNone,
  kHost,
  kUpgrade,
  // Hop-by-hop (RFC 9110 §7.6.1): never crosses the proxy. Transfer-Encoding
  // is not among them here: bodies are forwarded with the framing they came
  // with, so the header that describes it goes along.
  kHopByHop,
  kForwardedFor,
  kForwardedOther,  // X-Forwarded-Proto, -Port, -Host: the proxy states these itself
};

Special classify(std::string_view name) {
  switch (name.size()) {
    case 2:
      return equalsIgnoreCase(name, "TE") ? Special::kHopByHop : Special::kNone;
    case 4:
      return equalsIgnoreCase(name, "Host") ? Special::kHost : Special::kNone;
    case 7:
      return equalsIgnoreCase(name, "Upgrade") ? Special::kUpgrade : Special::kNone;
    case 10:
      return equalsIgnoreCase(name, "Connection") || equalsIgnoreCase(name, "Keep-Alive")
                 ? Special::kHopByHop
                 : Special::kNone;
    case 15:
      return equalsIgnoreCase(name, "X-Forwarded-For") ? Special::kForwardedFor : Special::kNone;
    case 16:
      if (equalsIgnoreCase(name, "Proxy-Connection")) return Special::kHopByHop;
      return equalsIgnoreCase(name, "X-Forwarded-Port") ||
                     equalsIgnoreCase(name, "X-Forwarded-Host")
                 ? Special::kForwardedOther
                 : Special::kNone;
    case 17:
      return equalsIgnoreCase(name, "X-Forwarded-Proto") ? Special::kForwardedOther
                                                         : Special::kNone;
    default:
      return Special::kNone;
  }
}

// The tokens of a Connection value (the headers it names are hop-by-hop
// too), split once per head rather than once per header.
class ConnectionTokens {
 public:
  explicit ConnectionTokens(std::string_view value) : value_(value) {
    while (!value.empty()) {
      size_t comma = value.find(',');
      std::string_view token = value.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
        token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
        token.remove_suffix(1);
      if (count_ == kMax) {
        overflow_ = true;
        return;
      }
      tokens_[count_++] = token;
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  bool lists(std::string_view name) const {
    if (overflow_) return listedIn(value_, name);
    for (size_t i = 0; i < count_; ++i) {
      if (equalsIgnoreCase(tokens_[i], name)) return true;
    }
    return false;
  }

 private:
  static constexpr size_t kMax = 8;
  std::string_view value_;
  std::string_view tokens_[kMax];
  size_t count_ = 0;
  bool overflow_ = false;
};

// A status code of three digits (the parsers refuse any other).
void appendStatus(std::string& out, int status) {
  char digits[3] = {static_cast<char>('0' + status / 100 % 10),
                    static_cast<char>('0' + status / 10 % 10),
                    static_cast<char>('0' + status % 10)};
  out.append(digits, 3);
}

void appendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

}  // namespace

const char* proxyErrorName(ProxyError e) {
  switch (e) {
    case ProxyError::kBadRequest:
      return "bad-request";
    case ProxyError::kNoRoute:
      return "no-route";
    case ProxyError::kNoBackend:
      return "no-backend";
    case ProxyError::kConnectFailed:
      return "upstream-connect-failed";
    case ProxyError::kConnectTimeout:
      return "upstream-connect-timeout";
    case ProxyError::kResponseTimeout:
      return "upstream-response-timeout";
    case ProxyError::kBadResponse:
      return "upstream-bad-response";
    case ProxyError::kAtLimit:
      return "route-at-maxconn";
    case ProxyError::kUpstreamClosed:
      return "upstream-closed";
    case ProxyError::kForbidden:
      return "forbidden";
    case ProxyError::kUnauthorized:
      return "unauthorized";
  }
  return "unknown";
}

HttpSession::HttpSession(Loop& loop, RouteLookup& routes, UpstreamPool& pool,
                         const SessionOptions& options, ConnPtr client, DoneCallback done)
    : loop_(loop),
      routes_(routes),
      pool_(pool),
      options_(options),
      done_(std::move(done)),
      client_(std::move(client)),
      request_(http::RequestStreamParser::Limits{options.maxHeaderBytes}),
      response_(ResponseStream::Limits{options.maxHeaderBytes}),
      timer_(loop),
      tlsDrain_(loop) {
  client_->owner = this;
}

HttpSession::~HttpSession() {
  // Closing cancels writes in flight; their callbacks see owner == nullptr.
  if (peer_ != nullptr) releasePeer(PeerOutcome::kAborted);
}

void HttpSession::start() {
  clientIp_ = peerIp(client_.get());
  int addrLen = sizeof(clientAddr_);
  uv_tcp_getpeername(&client_->tcp, reinterpret_cast<sockaddr*>(&clientAddr_), &addrLen);
  localPort_ = std::to_string(localPort(client_.get()));
  uv_tcp_nodelay(&client_->tcp, 1);
  if (options_.tlsStore) {
    tls_ = std::make_unique<TlsStream>(TlsStream::Role::kServer,
                                       options_.tlsStore->defaultContext(), options_.tlsStore);
    tlsIn_ = std::make_unique<char[]>(kTlsReadBytes);
  }
  armIdle();
  resumeReading(client_.get());
}

// ---- reading ----

void HttpSession::stopReading(Conn* c) {
  if (c == nullptr) return;
  uv_read_stop(c->stream());
  if (c == client_.get()) tlsReading_ = false;
}

void HttpSession::resumeReading(Conn* c) {
  if (c == nullptr || c->filled == c->bufSize) return;  // full: the buffer is the bound
  if (c == client_.get() && clientEof_) return;
  if (tls_ && c == client_.get()) {
    startTlsReading();
    // Plaintext decrypted earlier (or records read earlier) waits in the
    // TLS layer while the buffer was full; no new bytes may come to flush
    // it, so it is delivered on the next loop turn.
    if (tls_->hasBuffered()) tlsDrain_.start(0, 0, [this] { deliverTlsPlain(); });
    return;
  }
  c->startReading([](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto* conn = static_cast<Conn*>(s->data);
    auto* self = static_cast<HttpSession*>(conn->owner);
    if (self == nullptr) return;
    if (conn == self->client_.get()) {
      self->onClientRead(n);
    } else if (conn == self->upstream_.get()) {
      self->onUpstreamRead(n);
    } else if (n != 0) {
      self->parked_.reset();  // an idle task connection closed or sent garbage
    }
  });
}

void HttpSession::onClientRead(ssize_t n) {
  if (n == 0) return;
  if (lingering_) {
    client_->filled = 0;  // discarded: the answer is final
    if (n < 0) terminate();
    return;
  }
  if (phase_ == Phase::kTlsTunnel) {
    if (n < 0) {
      stopReading(client_.get());
      clientEof_ = true;
    } else {
      client_->filled += static_cast<size_t>(n);
      if (client_->filled == client_->bufSize) stopReading(client_.get());
    }
    pumpTlsTunnelUp();
    return;
  }
  if (n < 0) {
    stopReading(client_.get());
    clientEof_ = true;
    // A client that leaves between requests, or before its head is
    // complete, ends the session; one that half-closes after sending its
    // request still gets the answer.
    if (n != UV_EOF || phase_ == Phase::kHead) {
      terminate();
      return;
    }
    if (!requestDone_) pumpRequest();  // ends the session if the request cannot complete
    return;
  }
  client_->filled += static_cast<size_t>(n);
  if (client_->filled == client_->bufSize) stopReading(client_.get());
  pumpRequest();
}

void HttpSession::consume(Conn* c, size_t n) {
  if (n == 0) return;
  if (n < c->filled) std::memmove(c->buf.get(), c->buf.get() + n, c->filled - n);
  c->filled -= n;
}

// Parses what the client sent and moves it on, one event at a time.
void HttpSession::pumpRequest() {
  while (!closing_ && phase_ != Phase::kClosed && client_) {
    std::string_view data(client_->buf.get(), client_->filled);
    if (phase_ == Phase::kHead) {
      if (data.empty()) return;
      size_t used = 0;
      auto event = request_.feed(data, &used);
      consume(client_.get(), used);  // head bytes are copied into the parser's head
      if (event == http::RequestStreamParser::Event::kNeedMore) {
        // The head's clock starts with its first bytes (a whole head in one
        // read never needs it).
        if (!headTimerArmed_) {
          headTimerArmed_ = true;
          setDeadline(Deadline::kHead, options_.headerTimeoutMs);
        }
        resumeReading(client_.get());
        return;
      }
      if (event == http::RequestStreamParser::Event::kError) {
        headKnown_ = false;
        respondError(request_.errorStatus(), ProxyError::kBadRequest, request_.errorReason());
        return;
      }
      onRequestHead();
      continue;
    }
    if (phase_ != Phase::kExchange || requestDone_ || writingUpstream_) return;
    // Body bytes: everything the parser consumes from here to the end of the
    // message is forwarded unchanged.
    size_t total = 0;
    for (;;) {
      size_t used = 0;
      auto event = request_.feed(data.substr(total), &used);
      total += used;
      if (event == http::RequestStreamParser::Event::kEnd) {
        requestDone_ = true;
        break;
      }
      if (event == http::RequestStreamParser::Event::kError) {
        if (responseStarted_) {
          terminate();
        } else {
          releasePeer(PeerOutcome::kAborted);
          respondError(request_.errorStatus(), ProxyError::kBadRequest, request_.errorReason());
        }
        return;
      }
      if (event == http::RequestStreamParser::Event::kNeedMore) break;
    }
    if (requestDone_ && !responseStarted_) armResponseTimer();
    if (total > 0 && !writeTo(upstream_.get(), {}, data.data(), total, total)) return;
    if (writingUpstream_) return;  // resumes in onWritten
    if (!requestDone_ && clientEof_ && client_->filled == 0) {
      terminate();  // the client left in the middle of its request
      return;
    }
    if (requestDone_) {
      // Pipelined bytes wait; keep reading so a closing client is noticed.
      resumeReading(client_.get());
      return;
    }
    resumeReading(client_.get());
    if (client_->filled == 0) return;
  }
}

void HttpSession::onRequestHead() {
  ++requests_;
  headKnown_ = true;
  headTimerArmed_ = false;
  clearDeadline();
  const http::RequestHead& head = request_.head();
  requestDone_ = responseDone_ = responseStarted_ = false;
  closeAfterResponse_ = !head.keepAlive();
  if (head.method() == "CONNECT") {
    respondError(405, ProxyError::kBadRequest, "CONNECT is not supported");
    return;
  }
  route_ = RouteDecision();
  bool routed = routes_.lookup(head, &route_) && route_.picker != nullptr;
  beginExchange(routed ? route_.counters : options_.unrouted);
  routeName_ = routed ? route_.name : std::string_view();
  if (!routed) {
    respondError(404, ProxyError::kNoRoute, "no route for this host and path");
    return;
  }
  if (!admitRequest()) return;
  stickyCookie_.clear();
  buildRequestHead(route_);
  replayable_ = !head.hasContentLength() && !head.chunked();
  triedCount_ = 0;
  lastFailure_ = PeerOutcome::kOk;
  response_.reset(head.method() == "HEAD");
  connectUpstream();
}

bool HttpSession::admitRequest() {
  const http::RequestHead& head = request_.head();
  if ((route_.flags & RouteDecision::kRedirectToHttps) && !tls_) {
    // marathon-lb: `redirect scheme https code 301`; the port goes (https
    // is served on its own port, 443 by default).
    std::string_view host = head.header("Host").value_or("");
    if (!host.empty() && host.front() == '[') {
      host = host.substr(0, host.find(']') + 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    if (host.empty()) {
      respondError(400, ProxyError::kBadRequest, "no Host to redirect to https");
      return false;
    }
    std::string location = "Location: https://";
    location.append(host);
    location.append(head.target());
    location.append("\r\n");
    respondLocal(301, nullptr, location, "moved to https");
    return false;
  }
  if (route_.allowedNetworks != nullptr && !route_.allowedNetworks->empty() &&
      !clientAllowed(*route_.allowedNetworks)) {
    respondError(403, ProxyError::kForbidden, "the client's address is not allowed on this route");
    return false;
  }
  if (route_.auth != nullptr) {
    AuthResult result = checkBasicAuth(head.header("Authorization").value_or(""), *route_.auth);
    if (result != AuthResult::kOk) {
      std::string challenge = "WWW-Authenticate: Basic realm=\"";
      for (char c : route_.auth->realm) {
        if (c == '"' || c == '\\') challenge.push_back('\\');
        challenge.push_back(c);
      }
      challenge.append("\"\r\n");
      respondLocal(401, proxyErrorName(ProxyError::kUnauthorized), challenge,
                   result == AuthResult::kMissing ? "credentials required"
                                                  : "wrong or malformed credentials");
      return false;
    }
  }
  return true;
}

bool HttpSession::clientAllowed(const std::vector<conf::Cidr>& networks) const {
  const uint8_t* bytes = nullptr;
  bool v6 = false;
  if (clientAddr_.ss_family == AF_INET) {
    bytes = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&clientAddr_)->sin_addr);
  } else if (clientAddr_.ss_family == AF_INET6) {
    bytes = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in6*>(&clientAddr_)->sin6_addr);
    v6 = true;
    // An IPv4 client on a dual-stack socket (::ffff:a.b.c.d) is matched as IPv4.
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes, kMapped, sizeof(kMapped)) == 0) {
      bytes += 12;
      v6 = false;
    }
  } else {
    return false;
  }
  for (const conf::Cidr& network : networks) {
    if (network.contains(bytes, v6)) return true;
  }
  return false;
}

void HttpSession::buildRequestHead(const RouteDecision& route) {
  const http::RequestHead& head = request_.head();
  std::string& out = requestHead_;
  out.clear();
  out.append(head.method());
  out.push_back(' ');
  std::string_view target = head.target();
  if (!route.stripPrefix.empty() &&
      target.substr(0, route.stripPrefix.size()) == route.stripPrefix) {
    out.append(route.addPrefix);
    std::string_view rest = target.substr(route.stripPrefix.size());
    if (route.addPrefix.empty() && (rest.empty() || rest.front() != '/')) out.push_back('/');
    out.append(rest);
  } else {
    out.append(target);
  }
  out.append(" HTTP/1.1\r\n");
  ConnectionTokens connection(head.header("Connection").value_or(""));
  // Over TLS too: the session then tunnels (Phase::kTlsTunnel).
  bool upgrade = head.upgradeRequested();
  std::optional<std::string_view> host;
  std::optional<std::string_view> forwardedFor;
  for (size_t i = 0; i < head.headerCount(); ++i) {
    std::string_view name = head.headerName(i);
    std::string_view value = head.headerValue(i);
    Special special = classify(name);
    if (special == Special::kHost) {
      if (!host) host = value;
      appendHeader(out, name, route.hostRewrite.empty() ? value : route.hostRewrite);
      continue;
    }
    if (special == Special::kUpgrade && upgrade) {
      appendHeader(out, name, value);
      continue;
    }
    if (special == Special::kHopByHop || special == Special::kUpgrade || connection.lists(name)) {
      continue;
    }
    // The proxy states these itself; a client's own are not trusted.
    if (special == Special::kForwardedOther) continue;
    if (special == Special::kForwardedFor) {
      if (!forwardedFor) forwardedFor = value;
      continue;
    }
    appendHeader(out, name, value);
  }
  out.append("X-Forwarded-For: ");
  if (forwardedFor) {
    out.append(*forwardedFor);
    out.append(", ");
  }
  out.append(clientIp_);
  out.append("\r\nX-Forwarded-Proto: ");
  out.append(options_.tls || tls_ ? "https" : "http");
  out.append("\r\nX-Forwarded-Port: ");
  out.append(localPort_);
  out.append("\r\n");
  if (host) appendHeader(out, "X-Forwarded-Host", *host);
  if (upgrade) out.append("Connection: upgrade\r\n");
  out.append("\r\n");
}

// ---- upstream connection ----

void HttpSession::connectUpstream() {
  phase_ = Phase::kConnecting;
  PickContext ctx;
  ctx.head = &request_.head();
  ctx.clientIp = clientIp_;
  ctx.tried = tried_;
  ctx.triedCount = triedCount_;
  ctx.setCookie = &stickyCookie_;
  bool atLimit = false;
  ctx.atLimit = &atLimit;
  peer_ = route_.picker->pick(ctx);
  if (peer_ == nullptr) {
    if (atLimit) {
      respondError(503, ProxyError::kAtLimit, "the route is at its connection limit");
    } else if (lastFailure_ == PeerOutcome::kConnectTimeout) {
      respondError(504, ProxyError::kConnectTimeout, "no task accepted the connection in time");
    } else if (lastFailure_ == PeerOutcome::kConnectFailed) {
      respondError(503, ProxyError::kConnectFailed, "no task accepted the connection");
    } else {
      respondError(503, ProxyError::kNoBackend, "no task is available for this route");
    }
    return;
  }
  tried_[triedCount_++] = peer_->id;
  if (options_.accessLog != nullptr) {
    loggedPeer_ = peer_->address;
    peerLogged_ = true;
    peerPickedUs_ = uv_hrtime() / 1000;
  }
  if (parked_ && parked_->backendId == peer_->id) {
    upstream_ = std::move(parked_);
  } else {
    unpark();
    upstream_ = pool_.take(peer_->id);
  }
  if (upstream_) {
    reused_ = true;
    upstream_->owner = this;
    onConnected();
    return;
  }
  reused_ = false;
  upstream_.reset(Conn::create(loop_.raw(), options_.bufferBytes));
  upstream_->owner = this;
  upstream_->backendId = peer_->id;
  setDeadline(Deadline::kConnect, route_.connectTimeoutMs);
  int rc = upstream_->connect(reinterpret_cast<const sockaddr*>(&peer_->address),
                              [](uv_connect_t* req, int status) {
                                auto* conn = static_cast<Conn*>(req->handle->data);
                                auto* self = static_cast<HttpSession*>(conn->owner);
                                if (self == nullptr) return;
                                if (status < 0) {
                                  self->onConnectFailed(PeerOutcome::kConnectFailed);
                                } else {
                                  self->onConnected();
                                }
                              });
  if (rc != 0) onConnectFailed(PeerOutcome::kConnectFailed);
}

void HttpSession::onConnectFailed(PeerOutcome outcome) {
  clearDeadline();
  upstream_.reset();
  lastFailure_ = outcome;
  releasePeer(outcome);
  // Nothing reached a task yet: another peer may take it.
  if (triedCount_ < static_cast<size_t>(route_.maxConnectAttempts) &&
      triedCount_ < sizeof(tried_) / sizeof(tried_[0])) {
    connectUpstream();
    return;
  }
  if (outcome == PeerOutcome::kConnectTimeout) {
    respondError(504, ProxyError::kConnectTimeout,
                 "the task did not accept the connection in time");
  } else {
    respondError(503, ProxyError::kConnectFailed, "the task refused the connection");
  }
}

void HttpSession::onConnected() {
  clearDeadline();
  phase_ = Phase::kExchange;
  if (requestDone_) armResponseTimer();  // a retry of a request read already
  resumeReading(upstream_.get());
  if (!writeTo(upstream_.get(), {}, requestHead_.data(), requestHead_.size(), 0)) return;
  pumpRequest();
}

void HttpSession::releasePeer(PeerOutcome outcome) {
  if (peer_ == nullptr) return;
  const Peer* p = peer_;
  peer_ = nullptr;
  if (route_.picker != nullptr) route_.picker->release(*p, outcome);
}

// A pooled connection the task closed just as it was reused: the request
// had no body, so it goes again on a fresh connection to the same peer.
bool HttpSession::retryOnFreshConnection() {
  if (!reused_ || !replayable_ || responseStarted_ || response_.started()) return false;
  reused_ = false;
  upstream_.reset();
  writingUpstream_ = false;
  toUpstreamInFlight_ = 0;
  // The head is built already and there is no body to resend.
  phase_ = Phase::kConnecting;
  upstream_.reset(Conn::create(loop_.raw(), options_.bufferBytes));
  upstream_->owner = this;
  upstream_->backendId = peer_->id;
  setDeadline(Deadline::kConnect, route_.connectTimeoutMs);
  int rc = upstream_->connect(reinterpret_cast<const sockaddr*>(&peer_->address),
                              [](uv_connect_t* req, int status) {
                                auto* conn = static_cast<Conn*>(req->handle->data);
                                auto* self = static_cast<HttpSession*>(conn->owner);
                                if (self == nullptr) return;
                                if (status < 0) {
                                  self->onConnectFailed(PeerOutcome::kConnectFailed);
                                  return;
                                }
                                self->onConnected();
                              });
  if (rc != 0) onConnectFailed(PeerOutcome::kConnectFailed);
  return true;
}

// CORRAL_{n}_RETRY_IDEMPOTENT: the task closed the connection without an
// answer, so the request may have reached it; an idempotent request without
// a body is sent again to a task not tried yet.
bool HttpSession::retryIdempotent() {
  if (!route_.retryIdempotent || !replayable_ || responseStarted_ || response_.started()) {
    return false;
  }
  std::string_view method = request_.head().method();
  if (method != "GET" && method != "HEAD" && method != "PUT" && method != "DELETE" &&
      method != "OPTIONS") {
    return false;
  }
  if (triedCount_ >= static_cast<size_t>(route_.maxConnectAttempts) ||
      triedCount_ >= sizeof(tried_) / sizeof(tried_[0])) {
    return false;
  }
  clearDeadline();
  upstream_.reset();
  writingUpstream_ = false;
  toUpstreamInFlight_ = 0;
  connectUpstream();
  return true;
}

// ---- response ----

void HttpSession::onUpstreamRead(ssize_t n) {
  if (n == 0) return;
  if (phase_ == Phase::kTlsTunnel) {
    if (n < 0) {
      // The task ended the tunnel: what it sent before is written (the
      // close_notify and FIN follow it), then the client is let go.
      uv_read_stop(upstream_->stream());
      linger();
      return;
    }
    upstream_->filled += static_cast<size_t>(n);
    if (upstream_->filled == upstream_->bufSize) uv_read_stop(upstream_->stream());
    pumpTlsTunnelDown();
    return;
  }
  if (n < 0) {
    uv_read_stop(upstream_->stream());
    if (retryOnFreshConnection()) return;
    // A body that runs to the connection's end is complete now.
    if (n == UV_EOF && response_.finish()) {
      responseDone_ = true;
      closeAfterResponse_ = true;
      if (!writingClient_) finishExchange();
      return;
    }
    if (responseStarted_) {
      terminate();  // cut mid-body: the client must see it was cut
      return;
    }
    releasePeer(PeerOutcome::kBadResponse);
    if (retryIdempotent()) return;
    respondError(502, ProxyError::kUpstreamClosed,
                 "the task closed the connection without an answer");
    return;
  }
  upstream_->filled += static_cast<size_t>(n);
  if (upstream_->filled == upstream_->bufSize) uv_read_stop(upstream_->stream());
  pumpResponse();
}

void HttpSession::pumpResponse() {
  while (upstream_ && !writingClient_ && !closing_ && phase_ == Phase::kExchange) {
    std::string_view data(upstream_->buf.get(), upstream_->filled);
    if (responseDone_) break;
    // In a body, even no bytes are fed: a bodiless answer ends right there.
    if (data.empty() && !response_.inBody()) break;
    if (!response_.inBody()) {
      size_t used = 0;
      auto event = response_.feed(data, &used);
      consume(upstream_.get(), used);
      if (event == ResponseStream::Event::kNeedMore) break;
      if (event == ResponseStream::Event::kError) {
        if (responseStarted_) {
          terminate();
          return;
        }
        releasePeer(PeerOutcome::kBadResponse);
        respondError(502, ProxyError::kBadResponse, response_.errorReason());
        return;
      }
      if (event == ResponseStream::Event::kHead) {
        if (!onResponseHead()) return;
        continue;
      }
      if (event == ResponseStream::Event::kEnd) {  // an interim (1xx) or bodiless answer
        responseDone_ = !response_.interim();
        continue;
      }
    }
    size_t total = 0;
    bool ended = false;
    for (;;) {
      size_t used = 0;
      auto event = response_.feed(data.substr(total), &used);
      total += used;
      if (event == ResponseStream::Event::kEnd) {
        ended = true;
        responseDone_ = !response_.interim();  // after a 1xx the final answer follows
        break;
      }
      if (event == ResponseStream::Event::kError) {
        releasePeer(PeerOutcome::kBadResponse);
        if (headPending_) {
          // Nothing went out yet: the client gets a clean 502.
          headPending_ = false;
          respondError(502, ProxyError::kBadResponse, response_.errorReason());
          return;
        }
        // The head went out already: the client is cut off, and sees a body
        // without its end; the bytes in doubt are never forwarded.
        terminate();
        return;
      }
      if (event == ResponseStream::Event::kNeedMore) break;
    }
    if (total > 0 || headPending_) {
      // A pending head goes out with the body bytes checked after it, in
      // one write (writev).
      std::string_view head;
      if (headPending_) {
        head = responseHead_;
        headPending_ = false;
        responseStarted_ = true;
      }
      if (!writeTo(client_.get(), head, data.data(), total, total)) return;
    }
    if (total == 0 && !ended) break;
  }
  if (!flushPendingHead()) return;
  if (responseDone_ && !writingClient_ && phase_ == Phase::kExchange && !lingering_) {
    finishExchange();
    return;
  }
  if (upstream_ && !writingClient_ && phase_ == Phase::kExchange) resumeReading(upstream_.get());
}

bool HttpSession::onResponseHead() {
  int status = response_.status();
  if (status == 101) {
    if (!request_.head().upgradeRequested()) {
      releasePeer(PeerOutcome::kBadResponse);
      respondError(502, ProxyError::kBadResponse, "the task switched protocols unasked");
      return false;
    }
    switchToTunnel();
    return false;
  }
  if (!response_.interim()) {
    clearDeadline();
    status_ = status;
    if (peerLogged_) upstreamUs_ = static_cast<int64_t>(uv_hrtime() / 1000 - peerPickedUs_);
  }
  buildResponseHead();
  // Written once the bytes already read after it have been parsed: a body
  // whose framing is bad from its first bytes (a bad chunk size) is then a
  // 502 rather than a response cut after its head; and a small response
  // goes out in one write.
  headPending_ = true;
  return true;
}

bool HttpSession::flushPendingHead() {
  if (!headPending_) return true;
  headPending_ = false;
  responseStarted_ = true;
  return writeTo(client_.get(), {}, responseHead_.data(), responseHead_.size(), 0);
}

void HttpSession::buildResponseHead() {
  const ResponseStream& head = response_;
  std::string& out = responseHead_;
  out.clear();
  out.append("HTTP/1.1 ");
  appendStatus(out, head.status());
  out.push_back(' ');
  out.append(head.reason().empty() ? http::reasonPhrase(head.status()) : head.reason());
  out.append("\r\n");
  ConnectionTokens connection(head.header("Connection").value_or(""));
  bool switching = head.status() == 101;
  for (size_t i = 0; i < head.headerCount(); ++i) {
    std::string_view name = head.headerName(i);
    Special special = classify(name);
    if (switching && special == Special::kUpgrade) {
      appendHeader(out, name, head.headerValue(i));
      continue;
    }
    if (special == Special::kHopByHop || special == Special::kUpgrade || connection.lists(name)) {
      continue;
    }
    appendHeader(out, name, head.headerValue(i));
  }
  if (switching) out.append("Connection: upgrade\r\n");
  if (!response_.interim() && !switching) {
    if (!stickyCookie_.empty()) {
      // marathon-lb: `cookie mesosphere_server_id insert indirect nocache`.
      out.append("Set-Cookie: ");
      out.append(kStickyCookieName);
      out.push_back('=');
      out.append(stickyCookie_);
      out.append("; path=/\r\n");
    }
    if (tls_ && (route_.flags & RouteDecision::kHsts)) {
      // marathon-lb's USE_HSTS value.
      out.append("Strict-Transport-Security: max-age=15768000\r\n");
    }
  }
  if (!response_.interim()) {
    // A body that ends with the connection can only reach the client the
    // same way.
    // An Upgrade the task declined leaves the client's next bytes in doubt
    // (they may already be the other protocol): the connection ends.
    if (response_.closeDelimited() || !request_.head().keepAlive() || !requestDone_ ||
        request_.upgraded() || draining_) {
      closeAfterResponse_ = true;
    }
    if (closeAfterResponse_) {
      out.append("Connection: close\r\n");
    } else if (request_.head().versionMinor() == 0) {
      out.append("Connection: keep-alive\r\n");
    }
  }
  out.append("\r\n");
}

void HttpSession::finishExchange() {
  clearDeadline();
  endExchange();
  bool upstreamClean = requestDone_ && response_.keepAlive() && !response_.closeDelimited() &&
                       upstream_ && upstream_->filled == 0 && !writingUpstream_;
  releasePeer(PeerOutcome::kOk);
  if (upstreamClean) {
    // Kept by the session while it lives (and watched for EOF): the next
    // request to the same task skips the pool round trip.
    parked_ = std::move(upstream_);
    resumeReading(parked_.get());
  } else {
    upstream_.reset();
  }
  writingUpstream_ = false;
  uint64_t idleMs = route_.idleTimeoutMs;
  route_ = RouteDecision();
  if (closeAfterResponse_ || !requestDone_ || clientEof_) {
    linger();
    return;
  }
  phase_ = Phase::kHead;
  armIdle(idleMs);
  resumeReading(client_.get());
  pumpRequest();  // a pipelined request may be waiting
}

void HttpSession::switchToTunnel() {
  clearDeadline();
  status_ = 101;
  endExchange();
  buildResponseHead();
  // The 101 head and whatever followed it go to the client first; the bytes
  // the client sent after its request go to the task first.
  std::string toClient = responseHead_;
  toClient.append(upstream_->buf.get(), upstream_->filled);
  std::string toUpstream(client_->buf.get(), client_->filled);
  releasePeer(PeerOutcome::kOk);
  if (tls_) {
    // The 101 and the task's first bytes go out encrypted; the client's
    // bytes after its request go to the task; from then on both pumps run.
    phase_ = Phase::kTlsTunnel;
    upstream_->filled = 0;
    armTunnelIdle();
    if (!writeTo(client_.get(), {}, toClient.data(), toClient.size(), 0)) return;
    resumeReading(upstream_.get());
    pumpTlsTunnelUp();
    return;
  }
  phase_ = Phase::kTunnel;
  stopReading(client_.get());
  stopReading(upstream_.get());
  TunnelOptions tunnel = options_.tunnel;
  if (route_.tunnelIdleMs != 0) tunnel.idleTimeoutMs = route_.tunnelIdleMs;
  tunnel_ = std::make_unique<TcpTunnel>(loop_, std::move(client_), tunnel,
                                        [this](TunnelEnd) { terminate(); });
  tunnel_->start(std::move(upstream_), std::move(toUpstream), std::move(toClient));
}

void HttpSession::armTunnelIdle() {
  uint64_t ms = route_.tunnelIdleMs != 0 ? route_.tunnelIdleMs : options_.tunnel.idleTimeoutMs;
  if (ms != 0) setDeadline(Deadline::kIdle, ms);
}

void HttpSession::pumpTlsTunnelUp() {
  if (phase_ != Phase::kTlsTunnel || !client_ || !upstream_ || writingUpstream_) return;
  if (client_->filled > 0) {
    armTunnelIdle();
    if (!writeTo(upstream_.get(), {}, client_->buf.get(), client_->filled, client_->filled)) return;
    if (writingUpstream_) return;  // resumes in onWritten
  }
  if (clientEof_) {
    terminate();  // the client is gone and everything it sent was passed on
    return;
  }
  resumeReading(client_.get());
}

void HttpSession::pumpTlsTunnelDown() {
  if (phase_ != Phase::kTlsTunnel || !client_ || !upstream_ || writingClient_) return;
  if (upstream_->filled > 0) {
    armTunnelIdle();
    if (!writeTo(client_.get(), {}, upstream_->buf.get(), upstream_->filled, upstream_->filled))
      return;
    if (writingClient_) return;  // resumes in onWritten
  }
  resumeReading(upstream_.get());
}

// ---- writing ----

// Writes `prefix` (bytes that outlive the write, e.g. a rebuilt head) and
// then data[0..n) to `out`, in one system call when the socket takes them;
// `consume` bytes of the source buffer are released once written. False if
// the session ended.
bool HttpSession::writeTo(Conn* out, std::string_view prefix, const char* data, size_t n,
                          size_t consumeBytes) {
  bool toClient = out == client_.get();
  if (toClient) bytesToClient_ += prefix.size() + n;
  if (toClient && tls_) return writeTls(prefix, data, n, consumeBytes);
  Conn* source = toClient ? upstream_.get() : client_.get();
  uv_buf_t bufs[2];
  unsigned count = 0;
  if (!prefix.empty()) {
    bufs[count++] =
        uv_buf_init(const_cast<char*>(prefix.data()), static_cast<unsigned>(prefix.size()));
  }
  if (n > 0) bufs[count++] = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(n));
  int w = count == 0 ? 0 : uv_try_write(out->stream(), bufs, count);
  if (w == UV_EAGAIN || w == UV_ENOSYS) w = 0;
  if (w < 0) {
    if (toClient) {
      terminate();
    } else if (!retryOnFreshConnection()) {
      releasePeer(PeerOutcome::kBadResponse);
      respondError(502, ProxyError::kUpstreamClosed, "the task closed the connection");
    }
    return false;
  }
  if (static_cast<size_t>(w) == prefix.size() + n) {
    if (source != nullptr) consume(source, consumeBytes);
    return true;
  }
  // The rest is queued from the source buffer, which is why the source
  // stops reading until it has gone out (backpressure).
  size_t written = static_cast<size_t>(w);
  unsigned first = 0;
  while (written >= bufs[first].len) written -= bufs[first++].len;
  bufs[first].base += written;
  bufs[first].len -= written;
  stopReading(source);
  if (toClient) {
    writingClient_ = true;
    toClientInFlight_ = consumeBytes;
  } else {
    writingUpstream_ = true;
    toUpstreamInFlight_ = consumeBytes;
  }
  int rc = uv_write(&out->writeReq, out->stream(), bufs + first, count - first,
                    [](uv_write_t* req, int status) {
                      auto* conn = static_cast<Conn*>(req->handle->data);
                      auto* self = static_cast<HttpSession*>(conn->owner);
                      if (self != nullptr) self->onWritten(conn, status);
                    });
  if (rc != 0) {
    terminate();
    return false;
  }
  return true;
}

void HttpSession::onWritten(Conn* out, int status) {
  bool toClient = out == client_.get();
  if (toClient) {
    writingClient_ = false;
    if (status < 0) {
      terminate();
      return;
    }
    if (closing_) {
      linger();
      return;
    }
    if (upstream_) consume(upstream_.get(), toClientInFlight_);
    toClientInFlight_ = 0;
    if (phase_ == Phase::kTlsTunnel) {
      pumpTlsTunnelDown();
      return;
    }
    pumpResponse();
    return;
  }
  writingUpstream_ = false;
  if (status < 0) {
    if (!retryOnFreshConnection()) {
      if (responseStarted_) {
        terminate();
      } else {
        releasePeer(PeerOutcome::kBadResponse);
        respondError(502, ProxyError::kUpstreamClosed, "the task closed the connection");
      }
    }
    return;
  }
  consume(client_.get(), toUpstreamInFlight_);
  toUpstreamInFlight_ = 0;
  if (phase_ == Phase::kTlsTunnel) {
    pumpTlsTunnelUp();
    return;
  }
  resumeReading(client_.get());
  pumpRequest();
  if (responseDone_ && !writingClient_ && phase_ == Phase::kExchange && !lingering_) {
    finishExchange();
  }
}

// ---- TLS ----

void HttpSession::startTlsReading() {
  if (tlsReading_) return;
  tlsReading_ = true;
  uv_read_start(
      client_->stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<HttpSession*>(static_cast<Conn*>(h->data)->owner);
        *buf = self == nullptr ? uv_buf_init(nullptr, 0)
                               : uv_buf_init(self->tlsIn_.get(), kTlsReadBytes);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
        auto* self = static_cast<HttpSession*>(static_cast<Conn*>(s->data)->owner);
        if (self != nullptr) self->onTlsRead(n);
      });
}

void HttpSession::onTlsRead(ssize_t n) {
  if (n == 0) return;
  if (n < 0) {
    onClientRead(n);
    return;
  }
  tls_->feedEncrypted(std::string_view(tlsIn_.get(), static_cast<size_t>(n)));
  deliverTlsPlain();
}

// Decrypts what the TLS layer holds into the client's buffer (as far as it
// has room) and hands it to the request side as if it had been read.
void HttpSession::deliverTlsPlain() {
  if (phase_ == Phase::kClosed || !client_ || !tls_) return;
  size_t total = 0;
  TlsStream::ReadStatus status = TlsStream::ReadStatus::kNeedMore;
  while (client_->filled + total < client_->bufSize) {
    size_t n = 0;
    status = tls_->readPlain(client_->buf.get() + client_->filled + total,
                             client_->bufSize - client_->filled - total, &n);
    if (status != TlsStream::ReadStatus::kData) break;
    total += n;
  }
  // Handshake messages, alerts and tickets go out whatever happened.
  if (!flushTls() || status == TlsStream::ReadStatus::kError) {
    terminate();  // a failed handshake or a forged record: nothing to answer
    return;
  }
  if (total > 0) onClientRead(static_cast<ssize_t>(total));
  if (status == TlsStream::ReadStatus::kClosed && phase_ != Phase::kClosed && client_ &&
      !clientEof_) {
    onClientRead(UV_EOF);  // close_notify: the client's end of stream
  }
}

// Encrypts and writes; the plaintext is copied into TLS records at once, so
// the source buffer is released now and backpressure follows the encrypted
// bytes still queued.
bool HttpSession::writeTls(std::string_view prefix, const char* data, size_t n,
                           size_t consumeBytes) {
  if ((!prefix.empty() && !tls_->writePlain(prefix)) ||
      (n > 0 && !tls_->writePlain(std::string_view(data, n)))) {
    terminate();
    return false;
  }
  Conn* source = upstream_.get();
  if (source != nullptr) consume(source, consumeBytes);
  if (!flushTls()) {
    terminate();
    return false;
  }
  if (tlsWriteInFlight_) {
    stopReading(source);
    writingClient_ = true;
    toClientInFlight_ = 0;
  }
  return true;
}

bool HttpSession::flushTls() {
  if (tls_->pendingEncrypted() > 0) tlsOut_ += tls_->takeEncrypted();
  if (tlsWriteInFlight_ || tlsOut_.empty()) return true;
  uv_buf_t buf = uv_buf_init(tlsOut_.data(), static_cast<unsigned>(tlsOut_.size()));
  int w = uv_try_write(client_->stream(), &buf, 1);
  if (w == UV_EAGAIN || w == UV_ENOSYS) w = 0;
  if (w < 0) return false;
  tlsOut_.erase(0, static_cast<size_t>(w));
  if (tlsOut_.empty()) return true;
  tlsWriting_.swap(tlsOut_);
  tlsOut_.clear();
  tlsWriteInFlight_ = true;
  buf = uv_buf_init(tlsWriting_.data(), static_cast<unsigned>(tlsWriting_.size()));
  int rc = uv_write(&client_->writeReq, client_->stream(), &buf, 1, [](uv_write_t* req, int st) {
    auto* self = static_cast<HttpSession*>(static_cast<Conn*>(req->handle->data)->owner);
    if (self != nullptr) self->onTlsWritten(st);
  });
  return rc == 0;
}

void HttpSession::onTlsWritten(int status) {
  tlsWriteInFlight_ = false;
  tlsWriting_.clear();
  if (status < 0 || !flushTls()) {
    terminate();
    return;
  }
  if (!tlsWriteInFlight_ && writingClient_) onWritten(client_.get(), 0);
}

// ---- endings ----

void HttpSession::respondError(int status, ProxyError error, std::string_view message) {
  respondLocal(status, proxyErrorName(error), {}, message);
}

void HttpSession::respondLocal(int status, const char* errorName, std::string_view extraHeaders,
                               std::string_view message) {
  if (responseStarted_ || !client_ || closing_) {
    terminate();
    return;
  }
  // A request refused before routing (or before its head was complete)
  // is counted too.
  if (!exchangeOpen_) beginExchange(options_.unrouted);
  localAnswer_ = true;
  status_ = status;
  errorName_ = errorName;
  clearDeadline();
  upstream_.reset();
  writingUpstream_ = false;
  closing_ = true;
  stopReading(client_.get());
  std::string body(message);
  body.push_back('\n');
  std::string& out = responseHead_;
  out.clear();
  out.append("HTTP/1.1 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(http::reasonPhrase(status));
  out.append("\r\nContent-Type: text/plain\r\n");
  if (errorName != nullptr) {
    out.append("X-Corral-Error: ");
    out.append(errorName);
    out.append("\r\n");
  }
  out.append(extraHeaders);
  out.append("Content-Length: ");
  out.append(std::to_string(body.size()));
  out.append("\r\nConnection: close\r\n\r\n");
  out.append(body);
  responseStarted_ = true;
  if (writeTo(client_.get(), {}, out.data(), out.size(), 0) && !writingClient_) linger();
}

// Closing right after a final answer while the client still sends would
// reset the connection and could destroy the answer in flight; so the write
// side is shut, and what the client still sends is read and dropped until
// it closes or a second passes.
void HttpSession::linger() {
  endExchange();  // the answer is out: waiting for the client's FIN is not its time
  if (lingering_ || !client_) {
    terminate();
    return;
  }
  lingering_ = true;
  upstream_.reset();
  client_->filled = 0;
  if (tls_) {
    tls_->shutdown();  // close_notify, written before the FIN
    if (!flushTls()) {
      terminate();
      return;
    }
  }
  uv_shutdown(&client_->shutdownReq, client_->stream(), [](uv_shutdown_t*, int) {});
  setDeadline(Deadline::kLinger, 1000);
  if (clientEof_) {
    terminate();
    return;
  }
  resumeReading(client_.get());
}

void HttpSession::armResponseTimer() { setDeadline(Deadline::kResponse, route_.responseTimeoutMs); }

void HttpSession::armIdle(uint64_t routeIdleMs) {
  headTimerArmed_ = false;
  headKnown_ = false;
  setDeadline(Deadline::kIdle, routeIdleMs != 0 ? routeIdleMs : options_.idleTimeoutMs);
}

// One deadline at a time, on one libuv timer that is only re-armed when a
// deadline comes earlier than the armed one: the usual moves (idle ->
// response -> idle, all later than the last) cost no timer call, and a timer
// that fires before the deadline re-arms itself for the rest.
void HttpSession::setDeadline(Deadline what, uint64_t ms) {
  // The loop's time, as libuv's timers count it (no clock read).
  uint64_t at = uv_now(loop_.raw()) + ms;
  deadline_ = what;
  deadlineAt_ = at;
  if (timerAt_ != 0 && timerAt_ <= at) return;
  timerAt_ = at;
  timer_.start(ms, 0, [this] { onTimer(); });
}

void HttpSession::onTimer() {
  timerAt_ = 0;
  if (deadline_ == Deadline::kNone) return;
  uint64_t now = uv_now(loop_.raw());
  if (now < deadlineAt_) {
    timerAt_ = deadlineAt_;
    timer_.start(deadlineAt_ - now, 0, [this] { onTimer(); });
    return;
  }
  Deadline what = deadline_;
  deadline_ = Deadline::kNone;
  switch (what) {
    case Deadline::kHead:
      respondError(408, ProxyError::kBadRequest, "request head not received in time");
      return;
    case Deadline::kConnect:
      onConnectFailed(PeerOutcome::kConnectTimeout);
      return;
    case Deadline::kResponse:
      releasePeer(PeerOutcome::kResponseTimeout);
      respondError(504, ProxyError::kResponseTimeout, "the task did not answer in time");
      return;
    case Deadline::kIdle:
    case Deadline::kLinger:
      terminate();
      return;
    case Deadline::kNone:
      return;
  }
}

// A parked task connection goes back to the worker's pool.
void HttpSession::unpark() {
  if (parked_) pool_.give(std::move(parked_));
}

void HttpSession::beginExchange(RouteCounters* counters) {
  exchangeOpen_ = true;
  counters_ = counters;
  routeName_ = {};
  errorName_ = nullptr;
  status_ = 0;
  localAnswer_ = false;
  bytesToClient_ = 0;
  startUs_ = uv_hrtime() / 1000;
  if (counters_ != nullptr) {
    ++counters_->requests;
    ++counters_->active;
  }
}

void HttpSession::endExchange() {
  if (!exchangeOpen_) return;
  exchangeOpen_ = false;
  uint64_t elapsedUs = uv_hrtime() / 1000 - startUs_;
  // Cut off: no status, or a status whose body did not arrive whole.
  bool cut = status_ == 0 || (!responseDone_ && !localAnswer_ && status_ != 101);
  if (counters_ != nullptr) {
    --counters_->active;
    int cls = status_ >= 100 && status_ < 600 && !cut ? status_ / 100 : 0;
    ++counters_->statusClass[cls];
    if (errorName_ != nullptr || cut) ++counters_->errors;
    counters_->latencyUsSum += elapsedUs;
    ++counters_->latencyCount;
  }
  if (options_.accessLog != nullptr) logAccess(elapsedUs, cut);
  counters_ = nullptr;
}

void HttpSession::logAccess(uint64_t elapsedUs, bool cut) {
  AccessRecord r;
  r.client = clientIp_;
  r.startWallMs = wallMs() - static_cast<int64_t>(elapsedUs / 1000);
  if (headKnown_) {
    const http::RequestHead& head = request_.head();
    r.host = head.header("Host").value_or(std::string_view());
    r.method = head.method();
    r.target = head.target();
    r.versionMinor = head.versionMinor();
  }
  r.status = cut ? 0 : status_;
  r.bytes = bytesToClient_;
  r.upstream = peerLogged_ ? &loggedPeer_ : nullptr;
  r.upstreamUs = upstreamUs_;
  r.totalUs = elapsedUs;
  r.route = routeName_;
  r.termination = errorName_ != nullptr ? std::string_view(errorName_)
                  : cut                 ? std::string_view("cut")
                                        : std::string_view();
  options_.accessLog->add(r);
  peerLogged_ = false;
  upstreamUs_ = -1;
}

void HttpSession::terminate() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  endExchange();
  deadline_ = Deadline::kNone;
  timerAt_ = 0;
  timer_.stop();
  releasePeer(PeerOutcome::kAborted);
  upstream_.reset();
  unpark();
  client_.reset();
  if (done_) done_(this);
}

}  // namespace corral::proxy
