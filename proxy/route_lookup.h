// What the HTTP session asks of the routing table and the balancers. Small
// interfaces: the table (proxy/route_table*) implements RouteLookup, each
// backend set's balancer implements PeerPicker; tests use simple ones.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace corral::http {
class RequestHead;
}
namespace corral::conf {
struct Cidr;
struct BasicAuth;
}  // namespace corral::conf

namespace corral::proxy {

struct RouteCounters;

// One task port: a stable id (connection pools and counters follow it
// across snapshots) and where it listens.
struct Peer {
  uint64_t id = 0;
  sockaddr_storage address{};
};

// How an attempt with a peer ended; feeds passive health.
enum class PeerOutcome {
  kOk,
  kConnectFailed,  // refused or unreachable
  kConnectTimeout,
  kResponseTimeout,
  kBadResponse,  // malformed or ambiguous framing from the task
  kAborted,      // the client left; says nothing about the peer
};

// What a balancer sees of a request to choose a peer.
struct PickContext {
  const http::RequestHead* head = nullptr;
  std::string_view clientIp;
  // Peers already tried for this request (a retry must go elsewhere).
  const uint64_t* tried = nullptr;
  size_t triedCount = 0;
  // Out: set by a sticky balancer to the cookie value the response must
  // set (kStickyCookieName); left empty otherwise.
  std::string* setCookie = nullptr;
  // Out: set to true when no peer was given because the route is at its
  // CORRAL_{n}_MAXCONN limit.
  bool* atLimit = nullptr;
  bool wasTried(uint64_t id) const {
    for (size_t i = 0; i < triedCount; ++i) {
      if (tried[i] == id) return true;
    }
    return false;
  }
};

// nginx's two calls: get a peer, release it with the outcome.
class PeerPicker {
 public:
  virtual ~PeerPicker() = default;
  // A peer for this request, or null when none is available.
  virtual const Peer* pick(const PickContext& ctx) = 0;
  virtual void release(const Peer& peer, PeerOutcome outcome) = 0;
};

struct RouteDecision {
  // Null: no route matches (the session answers 404).
  PeerPicker* picker = nullptr;
  // proxypass: a target starting with stripPrefix has it replaced by
  // addPrefix (both empty: the target is sent as is).
  std::string_view stripPrefix;
  std::string_view addPrefix;
  // Non-empty: the Host header sent to the task.
  std::string_view hostRewrite;
  // kRedirectToHttps: a request on a plain listener is answered 301 to
  // https://host/target. kHsts: responses over TLS carry
  // Strict-Transport-Security.
  enum Flags : uint32_t { kRedirectToHttps = 1, kHsts = 2 };
  uint32_t flags = 0;
  // Non-null and non-empty: only clients inside these networks (else 403).
  const std::vector<conf::Cidr>* allowedNetworks = nullptr;
  // Non-null: HTTP Basic credentials required (else 401).
  const conf::BasicAuth* auth = nullptr;
  int maxConnectAttempts = 3;  // distinct peers tried when connects fail
  uint64_t connectTimeoutMs = 5000;
  uint64_t responseTimeoutMs = 60 * 1000;  // head of the response, from the request's end
  // 0: the session's own defaults. Else the keep-alive wait after this
  // exchange, and the idle limit of an Upgrade tunnel it turns into.
  uint64_t idleTimeoutMs = 0;
  uint64_t tunnelIdleMs = 0;
  // CORRAL_{n}_RETRY_IDEMPOTENT: a bodiless GET/HEAD/PUT/DELETE/OPTIONS whose
  // task closed the connection without an answer goes to another task.
  bool retryIdempotent = false;
  // The backend's per-worker counters (null: not counted) and its name for
  // the access log ("/shop:0").
  RouteCounters* counters = nullptr;
  std::string_view name;
  // Keeps the snapshot that owns picker and the views alive for the exchange.
  std::shared_ptr<const void> keepAlive;
};

class RouteLookup {
 public:
  virtual ~RouteLookup() = default;
  // Fills *out for a request; false when no route matches.
  virtual bool lookup(const http::RequestHead& head, RouteDecision* out) = 0;
};

}  // namespace corral::proxy
