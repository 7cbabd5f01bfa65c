// reload_load: the reload benchmark's clients (bench/reload/run.py) in one
// native, single-threaded epoll process on the load core. A Python probe's own
// p99 was 6-15 ms, far above what the benchmark must judge (p99 during changes
// within 1 ms of steady state, event -> live under 10 ms), so the clients are
// here, where one request costs microseconds and no allocation.
//
//  * an OPEN-LOOP probe: a request every 1/--rate s from t0 whether or not
//    earlier ones answered (an idle keep-alive connection or a new one; at most
//    kProbeInFlight at once, later ones wait), latency from the scheduled time,
//    so a stalled proxy shows as a run of long latencies;
//  * --long long-lived keep-alive connections, opened before t0 and held across
//    the phase, each sending a GET every --long-interval * U(0.8, 1.2) s;
//  * live checks commanded on stdin by the driver, one line each:
//      check <id> <t_submit> backend <host> <path> <X-Backend wanted>
//      check <id> <t_submit> serves  <host> <path> <backend>,<backend>,...
//      check <id> <t_submit> gone    <host> <path> -
//      cancel <id>
//    (each check line may end with a fanout: requests per poll round, sent at
//    once, e.g. the route's backend count), each polling the route until the
//    change answers, every poll on a new
//    connection: "live" is what a new client sees, as with the Python checker
//    this replaces (a held connection can stay with a draining old process
//    of a reloading peer, or with the server connection a proxy keeps for
//    the client's session); live seconds = answer time - t_submit
//    (CLOCK_MONOTONIC, the clock of Python's time.monotonic()).
//
// Prints "ready <t0>" once the long-lived connections are open; ends when the
// duration is over, stdin is closed and no check is pending, and writes the
// figures to --out as JSON (the layout run.py reads: t0, duration, rate,
// open_long_s, probe, long_lived, live; "tool" is the tool's own lateness).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench/reload/http_response_parser.h"

namespace corral::bench {
namespace {

using Ns = int64_t;
constexpr Ns kSecond = 1'000'000'000;
constexpr Ns kRequestTimeout = 5 * kSecond;
// The probe's requests in flight at once: beyond it a request waits (its
// latency still counts from its scheduled time), so a stall shows as latency
// instead of the probe opening ever more connections.
constexpr size_t kProbeInFlight = 64;
// Long-lived connections are opened this many at a time so the proxy's accept
// queue never overflows.
constexpr size_t kOpenBatch = 100;
// A check asks again this soon after an answer from another backend of its
// route (round robin needs up to n answers to show a change on n backends)...
constexpr Ns kCheckPollFast = 100'000;
// ...and this soon after any other answer that is not the change yet.
constexpr Ns kCheckPollSlow = 500'000;
// All checks together send at most this many requests per second (a token
// bucket of kCheckPollBurst): about the rest of the benchmark's load (wrk
// ~3.6k/s, the probe 0.5k/s), so that neither a burst of 500 changes (500
// checks' first rounds at once were thousands of connects in a millisecond,
// a storm of the checker's own making that the probe then measured) nor a
// peer taking seconds per change (its pending checks polling all the while)
// turns the checks into the load the benchmark measures. A lone check at 10
// changes/s is never held back.
constexpr double kCheckPollBudget = 4'000;
constexpr Ns kCheckPollBurst = 10'000'000;  // 40 requests at once at most
// A check's polls are at most its age / this apart (1%).
constexpr Ns kCheckResolution = 100;
constexpr uint32_t kMaxFanout = 32;
constexpr size_t kMaxCommandLine = 4096;
constexpr uint32_t kNone = UINT32_MAX;
constexpr uint32_t kStdinTag = UINT32_MAX;

Ns nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Ns{ts.tv_sec} * kSecond + ts.tv_nsec;
}
double toSeconds(Ns t) { return static_cast<double>(t) / kSecond; }
Ns fromSeconds(double s) { return static_cast<Ns>(std::llround(s * kSecond)); }

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "reload_load: %s\n", why.c_str());
  std::exit(2);
}

// The failure kind names the benchmark has always reported (run.py counts
// "reset" as a TCP reset).
std::string errnoKind(int err) {
  switch (err) {
    case ECONNRESET:
      return "reset";
    case ECONNREFUSED:
      return "refused";
    case EPIPE:
      return "broken_pipe";
    case ETIMEDOUT:
      return "timeout";
    default: {
      const char* name = strerrorname_np(err);
      return std::string("os_") + (name ? name : std::to_string(err));
    }
  }
}

struct Options {
  std::string ip = "127.0.0.1";
  int port = 0;
  std::string targets;
  double duration = -1;
  double rate = 500;
  long long_count = 1000;
  double long_interval = 10;
  uint64_t seed = 1;
  std::string out;
  double live_timeout = 15;
};

double parseNumber(const char* flag, const char* v, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(v, &end);
  if (errno != 0 || end == v || *end != '\0' || !(d >= lo && d <= hi)) {
    die(std::string(flag) + " wants a number in [" + std::to_string(lo) + ", " +
        std::to_string(hi) + "], got '" + v + "'");
  }
  return d;
}

Options parseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) die(std::string("missing value after ") + argv[i]);
    const char* v = argv[++i];
    if (flag == "--ip") {
      o.ip = v;
    } else if (flag == "--port") {
      o.port = static_cast<int>(parseNumber(argv[i - 1], v, 1, 65535));
    } else if (flag == "--targets") {
      o.targets = v;
    } else if (flag == "--duration") {
      o.duration = parseNumber(argv[i - 1], v, 0, 86400);
    } else if (flag == "--rate") {
      o.rate = parseNumber(argv[i - 1], v, 0.001, 1e6);
    } else if (flag == "--long") {
      o.long_count = static_cast<long>(parseNumber(argv[i - 1], v, 0, 1e6));
    } else if (flag == "--long-interval") {
      o.long_interval = parseNumber(argv[i - 1], v, 0.001, 86400);
    } else if (flag == "--seed") {
      o.seed = static_cast<uint64_t>(parseNumber(argv[i - 1], v, 0, 1e15));
    } else if (flag == "--out") {
      o.out = v;
    } else if (flag == "--live-timeout") {
      o.live_timeout = parseNumber(argv[i - 1], v, 0.001, 3600);
    } else {
      die("unknown flag " + std::string(flag) +
          " (flags: --ip --port --targets --duration --rate --long --long-interval --seed --out "
          "--live-timeout)");
    }
  }
  if (o.port == 0 || o.targets.empty() || o.duration < 0 || o.out.empty()) {
    die("--port, --targets, --duration and --out are required");
  }
  return o;
}

std::vector<std::string> splitWords(std::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

// close: the proxy closes after answering, so its side, not ours, keeps the
// TIME_WAIT of a connection per request (our ephemeral ports would run out).
std::string requestFor(const std::string& host, const std::string& path, bool close) {
  return "GET " + path + " HTTP/1.1\r\nHost: " + host + (close ? "\r\nConnection: close" : "") +
         "\r\n\r\n";
}

void jsonString(FILE* f, std::string_view s) {
  std::fputc('"', f);
  for (char c : s) {
    if (c == '"' || c == '\\') {
      std::fputc('\\', f);
      std::fputc(c, f);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      std::fprintf(f, "\\u%04x", c);
    } else {
      std::fputc(c, f);
    }
  }
  std::fputc('"', f);
}

void jsonKinds(FILE* f, const std::map<std::string, long>& kinds) {
  std::fputc('{', f);
  bool first = true;
  for (const auto& [kind, n] : kinds) {
    if (!first) std::fputc(',', f);
    first = false;
    jsonString(f, kind);
    std::fprintf(f, ":%ld", n);
  }
  std::fputc('}', f);
}

long total(const std::map<std::string, long>& kinds) {
  long n = 0;
  for (const auto& [_, v] : kinds) n += v;
  return n;
}

enum class Role : uint8_t { kProbe, kLong, kCheck };
enum class ConnState : uint8_t { kClosed, kConnecting, kIdle, kBusy };
enum class CheckMode : uint8_t { kBackend, kServes, kGone };
enum class CheckStatus : uint8_t { kPending, kLive, kSuperseded, kTimeout };

struct Conn {
  int fd = -1;
  uint32_t gen = 0;  // bumped on close: an event or timer for an older socket is stale
  Role role = Role::kProbe;
  ConnState state = ConnState::kClosed;
  bool want_write = false;
  uint32_t owner = kNone;                // long-lived index or check index
  const std::string* request = nullptr;  // the request in progress (kBusy, or kConnecting to send)
  size_t sent = 0;
  size_t probe_sample = 0;  // the probe sample this request answers
  Ns deadline = 0;          // of the request (or of the connect)
  // The request-timeout list: every deadline is now + kRequestTimeout when
  // set, so appending keeps it sorted and expiry looks at the head only.
  uint32_t prev = kNone, next = kNone;
  bool listed = false;
  HttpResponseParser parser;
};

struct LongLived {
  uint32_t conn = kNone;
  const std::string* request = nullptr;
  bool reopening = false;  // the connection is being opened again after a drop or failure
  bool given_up = false;   // reopening failed: this connection stops
};

struct Check {
  std::string id;
  Ns t_submit = 0;
  Ns deadline = 0;
  CheckMode mode = CheckMode::kBackend;
  std::string request;
  std::vector<std::string> wants;
  // Requests per poll round, sent at once: a route balanced round robin over n
  // backends shows a replaced one to one of n requests, so a round of n sees the
  // change at its first chance instead of after a random walk of single polls.
  uint32_t fanout = 1;
  std::vector<uint32_t> conns;  // one per request of a round, kept across rounds
  uint32_t inflight = 0;        // requests of the current round not answered yet
  bool round_saw_200 = false;   // another backend answered: the next round comes soon
  bool prepaid = false;         // the next round has its slot in the token bucket
  CheckStatus status = CheckStatus::kPending;
  Ns live_after = 0;
  // What it saw, for the driver's log when a check never goes live.
  long answers = 0;
  int last_status = 0;
  std::string last_backend;
  std::vector<std::string> seen;  // distinct X-Backend values answered (the first few)
};

struct Sample {
  Ns t_sched = 0;
  Ns latency = -1;  // -1: failed (or never answered)
  Ns wake_lag = 0;  // how late the tool took it up: its own share of the latency
};

enum class TimerKind : uint8_t { kLongSend, kCheckPoll, kCheckDeadline };

struct Timer {
  Ns due;
  TimerKind kind;
  uint32_t index;
  uint32_t
      gen;  // the connection's (kLongSend) or the check's poll generation; stale when it moved on
  bool operator>(const Timer& o) const { return due > o.due; }
};

class LoadTool {
 public:
  explicit LoadTool(Options o) : opt_(std::move(o)), rng_(opt_.seed) {}

  int run();

 private:
  // Connections.
  uint32_t newConn(Role role, uint32_t owner);
  void freeConn(uint32_t ci);
  void closeSocket(uint32_t ci);
  // Starts connecting; false (and *kind) when it failed at once.
  bool openSocket(uint32_t ci, std::string* kind);
  void setWriteInterest(uint32_t ci, bool want);
  void listTimeout(uint32_t ci, Ns deadline);
  void unlistTimeout(uint32_t ci);
  // Sends ci's request (connecting first when closed); failures go to onFailure.
  void startRequest(uint32_t ci, const std::string* request, Ns now);
  void trySend(uint32_t ci, Ns now);
  void onEvent(uint32_t ci, uint32_t events, Ns now);
  void onConnected(uint32_t ci, Ns now);
  void readAnswer(uint32_t ci, Ns now);
  void onAnswer(uint32_t ci, Ns now);
  void onFailure(uint32_t ci, const std::string& kind, Ns now);
  void onIdleClosed(uint32_t ci);

  // Roles.
  void scheduleProbes(Ns now);
  void dispatchProbes(Ns now);
  void probeDone(uint32_t ci, Ns now, const std::string* failure);
  void longSend(uint32_t li, Ns now);
  void longNext(uint32_t li, Ns now);
  void readCommands(Ns now);
  void command(std::string_view line, Ns now);
  void checkPoll(uint32_t ki, Ns now);
  void checkRoundEnd(uint32_t ki, Ns now);
  void checkAnswer(uint32_t ki, int status, std::string_view backend, Ns now);
  void checkRetry(uint32_t ki, Ns delay, Ns now);
  void checkFinish(uint32_t ki, CheckStatus status, Ns now);

  void openLongLived();
  void runTimers(Ns now);
  Ns nextDue(Ns now) const;
  void waitEvents(Ns now, Ns until);
  bool finished(Ns now) const;
  void writeOut(double open_long_s) const;

  Options opt_;
  std::mt19937_64 rng_;
  int ep_ = -1;
  sockaddr_in addr_{};
  std::vector<std::string> target_requests_;
  std::deque<Conn> conns_;  // a deque: references stay valid as it grows
  std::vector<uint32_t> free_conns_;
  uint32_t tlist_head_ = kNone, tlist_tail_ = kNone;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  char rbuf_[64 * 1024];
  long bad_responses_logged_ = 0;

  Ns t0_ = 0, end_ = 0;
  Ns check_tat_ = 0;  // the check token bucket's theoretical arrival time
  // Probe.
  std::vector<Sample> samples_;
  size_t next_probe_ = 0;
  std::deque<size_t> probe_queue_;    // scheduled samples waiting for an in-flight slot
  std::vector<uint32_t> probe_idle_;  // idle probe connections (stack: the warmest first)
  size_t probe_in_flight_ = 0;
  std::map<std::string, long> probe_failures_;
  // Long-lived.
  std::vector<LongLived> longs_;
  size_t long_connecting_ = 0;  // during the opening batches
  bool opening_ = false;
  bool longs_closed_ = false;
  const char* sched_ = "normal";
  size_t long_busy_ = 0;
  long long_requests_ = 0, long_dropped_ = 0, long_reopened_ = 0;
  std::map<std::string, long> long_failures_;
  // Checks.
  std::deque<Check> checks_;  // a deque: a connection points at its check's request
  std::vector<uint32_t> check_poll_gen_;
  std::unordered_map<std::string, uint32_t> check_by_id_;
  size_t checks_pending_ = 0;
  bool stdin_open_ = true;
  std::string cmd_buf_;
};

// ------------------------------------------------------------------ connections

uint32_t LoadTool::newConn(Role role, uint32_t owner) {
  uint32_t ci;
  if (!free_conns_.empty()) {
    ci = free_conns_.back();
    free_conns_.pop_back();
  } else {
    ci = static_cast<uint32_t>(conns_.size());
    conns_.emplace_back();
  }
  Conn& c = conns_[ci];
  c.role = role;
  c.owner = owner;
  c.state = ConnState::kClosed;
  c.request = nullptr;
  return ci;
}

void LoadTool::freeConn(uint32_t ci) {
  closeSocket(ci);
  free_conns_.push_back(ci);
}

void LoadTool::closeSocket(uint32_t ci) {
  Conn& c = conns_[ci];
  unlistTimeout(ci);
  if (c.fd >= 0) {
    ::close(c.fd);  // closing removes it from the epoll set
    c.fd = -1;
  }
  c.gen++;
  c.state = ConnState::kClosed;
  c.want_write = false;
  c.request = nullptr;
}

bool LoadTool::openSocket(uint32_t ci, std::string* kind) {
  Conn& c = conns_[ci];
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *kind = errnoKind(errno);
    return false;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
  if (rc != 0 && errno != EINPROGRESS) {
    *kind = errnoKind(errno);
    ::close(fd);
    return false;
  }
  c.fd = fd;
  c.state = ConnState::kConnecting;
  c.want_write = true;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.u64 = ci | (uint64_t{c.gen} << 32);
  if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0)
    die(std::string("epoll_ctl: ") + std::strerror(errno));
  return true;
}

void LoadTool::setWriteInterest(uint32_t ci, bool want) {
  Conn& c = conns_[ci];
  if (c.want_write == want || c.fd < 0) return;
  c.want_write = want;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u);
  ev.data.u64 = ci | (uint64_t{c.gen} << 32);
  ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void LoadTool::listTimeout(uint32_t ci, Ns deadline) {
  unlistTimeout(ci);
  Conn& c = conns_[ci];
  c.deadline = deadline;
  c.listed = true;
  c.prev = tlist_tail_;
  c.next = kNone;
  if (tlist_tail_ != kNone) {
    conns_[tlist_tail_].next = ci;
  } else {
    tlist_head_ = ci;
  }
  tlist_tail_ = ci;
}

void LoadTool::unlistTimeout(uint32_t ci) {
  Conn& c = conns_[ci];
  if (!c.listed) return;
  if (c.prev != kNone) {
    conns_[c.prev].next = c.next;
  } else {
    tlist_head_ = c.next;
  }
  if (c.next != kNone) {
    conns_[c.next].prev = c.prev;
  } else {
    tlist_tail_ = c.prev;
  }
  c.listed = false;
  c.prev = c.next = kNone;
}

void LoadTool::startRequest(uint32_t ci, const std::string* request, Ns now) {
  Conn& c = conns_[ci];
  c.request = request;
  c.sent = 0;
  c.parser.reset();
  listTimeout(ci, now + kRequestTimeout);
  if (c.state == ConnState::kClosed) {
    std::string kind;
    if (!openSocket(ci, &kind)) {
      c.state = ConnState::kConnecting;  // a connect that failed at once is still a failed connect
      onFailure(ci, kind, now);
    }
    return;  // the request goes once connected
  }
  c.state = ConnState::kBusy;
  trySend(ci, now);
}

void LoadTool::trySend(uint32_t ci, Ns now) {
  Conn& c = conns_[ci];
  const std::string& req = *c.request;
  while (c.sent < req.size()) {
    ssize_t n = ::send(c.fd, req.data() + c.sent, req.size() - c.sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      setWriteInterest(ci, true);
      return;
    }
    onFailure(ci, errnoKind(n < 0 ? errno : EPIPE), now);
    return;
  }
  setWriteInterest(ci, false);
}

void LoadTool::onEvent(uint32_t ci, uint32_t events, Ns now) {
  Conn& c = conns_[ci];
  if (c.state == ConnState::kConnecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      onFailure(ci, errnoKind(err), now);
      return;
    }
    onConnected(ci, now);
    return;
  }
  if ((events & EPOLLOUT) && c.state == ConnState::kBusy && c.sent < c.request->size()) {
    trySend(ci, now);
    if (conns_[ci].state != ConnState::kBusy) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readAnswer(ci, now);
}

void LoadTool::onConnected(uint32_t ci, Ns now) {
  Conn& c = conns_[ci];
  if (c.role == Role::kLong) {
    LongLived& l = longs_[c.owner];
    if (opening_) long_connecting_--;
    if (l.reopening) {
      l.reopening = false;
      long_reopened_++;
    }
  }
  if (c.request == nullptr) {  // an opening long-lived connection: idle until its first send
    unlistTimeout(ci);
    c.state = ConnState::kIdle;
    setWriteInterest(ci, false);
    return;
  }
  c.state = ConnState::kBusy;
  trySend(ci, now);
}

void LoadTool::readAnswer(uint32_t ci, Ns now) {
  // Bounded: a connection gets a few reads per wake, the others their turn.
  for (int reads = 0; reads < 16; ++reads) {
    Conn& c = conns_[ci];
    ssize_t n = ::recv(c.fd, rbuf_, sizeof rbuf_, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (c.state != ConnState::kBusy) {
      // Closed (or, unasked, spoken to) while idle: a client would not reuse it.
      onIdleClosed(ci);
      return;
    }
    if (n < 0) {
      onFailure(ci, errnoKind(errno), now);
      return;
    }
    if (n == 0) {
      if (c.parser.finishOnClose() == HttpResponseParser::State::kDone) {
        onAnswer(ci, now);
        if (conns_[ci].state == ConnState::kIdle) onIdleClosed(ci);
      } else {
        onFailure(ci, "closed", now);
      }
      return;
    }
    size_t used = 0;
    auto st = c.parser.feed(rbuf_, static_cast<size_t>(n), &used);
    if (st == HttpResponseParser::State::kMalformed) {
      if (++bad_responses_logged_ <= 10) {  // the first few say why; the count is in the figures
        std::fprintf(stderr, "reload_load: bad response: %.*s\n",
                     static_cast<int>(c.parser.error().size()), c.parser.error().data());
      }
      onFailure(ci, "bad_response", now);
      return;
    }
    if (st == HttpResponseParser::State::kDone) {
      bool extra = used < static_cast<size_t>(n);
      onAnswer(ci, now);
      if (conns_[ci].state != ConnState::kIdle) return;
      // Bytes nobody asked for follow the answer: the connection is out of step.
      if (extra) {
        onIdleClosed(ci);
        return;
      }
      // Read on: a close right behind the answer is seen now, before the
      // connection is handed out again.
    }
  }
}

void LoadTool::onAnswer(uint32_t ci, Ns now) {
  Conn& c = conns_[ci];
  unlistTimeout(ci);
  int status = c.parser.status();
  bool close_after = c.parser.closeAfter();
  c.state = ConnState::kIdle;
  c.request = nullptr;
  setWriteInterest(ci, false);
  switch (c.role) {
    case Role::kProbe: {
      std::string failure;
      if (status != 200) failure = "status_" + std::to_string(status);
      probeDone(ci, now, status == 200 ? nullptr : &failure);
      if (close_after) {
        freeConn(ci);
      } else {
        probe_idle_.push_back(ci);
      }
      break;
    }
    case Role::kLong: {
      uint32_t li = c.owner;
      long_busy_--;
      long_requests_++;
      if (status != 200) long_failures_["status_" + std::to_string(status)]++;
      if (close_after) onIdleClosed(ci);  // the proxy said it closes: counted as dropped
      if (now >= end_) {
        closeSocket(ci);  // the phase is over: done with this connection
      } else {
        longNext(li, now);
      }
      break;
    }
    case Role::kCheck: {
      uint32_t ki = c.owner;
      // Asked with Connection: close: the next poll is a new client.
      std::string backend(c.parser.backend());
      closeSocket(ci);
      checkAnswer(ki, status, backend, now);
      break;
    }
  }
}

void LoadTool::onFailure(uint32_t ci, const std::string& kind, Ns now) {
  Conn& c = conns_[ci];
  bool was_connecting = c.state == ConnState::kConnecting;
  closeSocket(ci);
  switch (c.role) {
    case Role::kProbe:
      probeDone(ci, now, &kind);
      freeConn(ci);
      break;
    case Role::kLong: {
      uint32_t li = c.owner;
      LongLived& l = longs_[li];
      if (opening_) {
        die("cannot open long-lived connection " + std::to_string(li) + " to " + opt_.ip + ":" +
            std::to_string(opt_.port) + ": " + kind);
      }
      if (was_connecting && l.reopening) {
        long_failures_["reopen_" + kind]++;
        l.given_up = true;
        long_busy_--;
        return;
      }
      long_failures_[kind]++;
      long_busy_--;
      l.reopening = true;  // the next send opens a new connection
      longNext(li, now);
      break;
    }
    case Role::kCheck:
      // Not the change yet: the next round asks again on new connections.
      checkRoundEnd(c.owner, now);
      break;
  }
}

void LoadTool::onIdleClosed(uint32_t ci) {
  Conn& c = conns_[ci];
  switch (c.role) {
    case Role::kProbe: {
      auto it = std::find(probe_idle_.begin(), probe_idle_.end(), ci);
      if (it != probe_idle_.end()) probe_idle_.erase(it);
      freeConn(ci);
      break;
    }
    case Role::kLong:
      closeSocket(ci);
      // After the phase the connections only wait for the checks to settle
      // (and are closed by us): a proxy's idle timeout then is no drop.
      if (nowNs() < end_) long_dropped_++;
      longs_[c.owner].reopening = true;
      break;
    case Role::kCheck:
      closeSocket(ci);  // the next poll reconnects
      break;
  }
}

// ------------------------------------------------------------------ probe

void LoadTool::scheduleProbes(Ns now) {
  while (next_probe_ < samples_.size() && samples_[next_probe_].t_sched <= now) {
    samples_[next_probe_].wake_lag = now - samples_[next_probe_].t_sched;
    probe_queue_.push_back(next_probe_++);
  }
}

void LoadTool::dispatchProbes(Ns now) {
  while (!probe_queue_.empty() && probe_in_flight_ < kProbeInFlight) {
    size_t sample = probe_queue_.front();
    probe_queue_.pop_front();
    uint32_t ci;
    if (!probe_idle_.empty()) {
      ci = probe_idle_.back();
      probe_idle_.pop_back();
    } else {
      ci = newConn(Role::kProbe, kNone);
    }
    probe_in_flight_++;
    conns_[ci].probe_sample = sample;
    const std::string& req = target_requests_[sample % target_requests_.size()];
    startRequest(ci, &req, now);
  }
}

void LoadTool::probeDone(uint32_t ci, Ns now, const std::string* failure) {
  Sample& s = samples_[conns_[ci].probe_sample];
  probe_in_flight_--;
  if (failure) {
    probe_failures_[*failure]++;
    s.latency = -1;
  } else {
    s.latency = now - s.t_sched;
  }
}

// ------------------------------------------------------------------ long-lived

void LoadTool::openLongLived() {
  longs_.resize(static_cast<size_t>(opt_.long_count));
  opening_ = true;
  for (size_t start = 0; start < longs_.size(); start += kOpenBatch) {
    size_t stop = std::min(longs_.size(), start + kOpenBatch);
    Ns now = nowNs();
    for (size_t li = start; li < stop; ++li) {
      LongLived& l = longs_[li];
      l.conn = newConn(Role::kLong, static_cast<uint32_t>(li));
      l.request = &target_requests_[li % target_requests_.size()];
      std::string kind;
      if (!openSocket(l.conn, &kind)) die("cannot open long-lived connection: " + kind);
      listTimeout(l.conn, now + kRequestTimeout);
      long_connecting_++;
    }
    // Each turn either connects one or times one out (5 s): bounded.
    for (int turns = 0; long_connecting_ > 0 && turns < 100000; ++turns) {
      Ns t = nowNs();
      runTimers(t);
      waitEvents(t, tlist_head_ != kNone ? conns_[tlist_head_].deadline : t + kSecond);
    }
  }
  opening_ = false;
}

void LoadTool::longSend(uint32_t li, Ns now) {
  LongLived& l = longs_[li];
  if (l.given_up || now >= end_) return;
  Conn& c = conns_[l.conn];
  if (c.state == ConnState::kClosed) {
    // Dropped or failed since the last send (counted then): open a new one.
    l.reopening = true;
  }
  long_busy_++;
  startRequest(l.conn, l.request, now);
}

void LoadTool::longNext(uint32_t li, Ns now) {
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  Ns due = now + fromSeconds(opt_.long_interval * jitter(rng_));
  if (due < end_) timers_.push({due, TimerKind::kLongSend, li, 0});
}

// ------------------------------------------------------------------ checks

void LoadTool::readCommands(Ns now) {
  for (int reads = 0; reads < 64; ++reads) {
    ssize_t n = ::read(STDIN_FILENO, rbuf_, sizeof rbuf_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      stdin_open_ = false;
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, STDIN_FILENO, nullptr);
      if (!cmd_buf_.empty()) die("stdin ended inside a command line: '" + cmd_buf_ + "'");
      return;
    }
    cmd_buf_.append(rbuf_, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = cmd_buf_.find('\n', start)) != std::string::npos; start = nl + 1) {
      command(std::string_view(cmd_buf_).substr(start, nl - start), now);
    }
    cmd_buf_.erase(0, start);
    if (cmd_buf_.size() > kMaxCommandLine) die("command line longer than 4096 bytes on stdin");
  }
}

// A command the driver got wrong is a bug in the driver: say so and stop,
// rather than report figures for checks that never ran.
void LoadTool::command(std::string_view line, Ns now) {
  std::vector<std::string> w = splitWords(line);
  if (w.empty()) return;
  std::string shown(line);
  if (w[0] == "cancel" && w.size() == 2) {
    auto it = check_by_id_.find(w[1]);
    if (it == check_by_id_.end()) die("cancel of unknown check '" + w[1] + "'");
    // A check that already went live stays live: it was seen before the change that superseded it.
    if (checks_[it->second].status == CheckStatus::kPending)
      checkFinish(it->second, CheckStatus::kSuperseded, now);
    return;
  }
  if (w[0] != "check" || (w.size() != 7 && w.size() != 8)) {
    die("bad command '" + shown +
        "' (want: check <id> <t_submit> <backend|serves|gone> <host> <path> <want> [<fanout>], "
        "or cancel <id>)");
  }
  Check k;
  k.id = w[1];
  if (k.id.size() > 64 || check_by_id_.count(k.id))
    die("check id '" + k.id + "' is too long or not new");
  char* end = nullptr;
  double t = std::strtod(w[2].c_str(), &end);
  if (end == w[2].c_str() || *end != '\0' || !(t > 0)) die("bad t_submit in '" + shown + "'");
  k.t_submit = fromSeconds(t);
  k.deadline = k.t_submit + fromSeconds(opt_.live_timeout);
  if (w[3] == "backend") {
    k.mode = CheckMode::kBackend;
    k.wants = {w[6]};
  } else if (w[3] == "serves") {
    k.mode = CheckMode::kServes;
    for (size_t s = 0; s <= w[6].size();) {
      size_t comma = std::min(w[6].find(',', s), w[6].size());
      if (comma > s) k.wants.push_back(w[6].substr(s, comma - s));
      s = comma + 1;
    }
    if (k.wants.empty()) die("serves check without backends: '" + shown + "'");
  } else if (w[3] == "gone") {
    k.mode = CheckMode::kGone;
  } else {
    die("bad check mode '" + w[3] + "' (backend, serves or gone)");
  }
  if (w[5].empty() || w[5][0] != '/') die("check path must start with '/': '" + shown + "'");
  k.request = requestFor(w[4], w[5], /*close=*/true);
  if (w.size() == 8) {
    char* fend = nullptr;
    unsigned long f = std::strtoul(w[7].c_str(), &fend, 10);
    if (fend == w[7].c_str() || *fend != '\0' || f < 1 || f > kMaxFanout)
      die("bad fanout in '" + shown + "' (1.." + std::to_string(kMaxFanout) + ")");
    k.fanout = static_cast<uint32_t>(f);
  }
  uint32_t ki = static_cast<uint32_t>(checks_.size());
  check_by_id_[k.id] = ki;
  checks_.push_back(std::move(k));
  check_poll_gen_.push_back(0);
  checks_pending_++;
  timers_.push({checks_[ki].deadline, TimerKind::kCheckDeadline, ki, 0});
  checkPoll(ki, now);
}

void LoadTool::checkPoll(uint32_t ki, Ns now) {
  Check& k = checks_[ki];
  if (k.status != CheckStatus::kPending || k.inflight > 0) return;
  // The token bucket (as a theoretical arrival time): a round that is over the
  // budget books its slot now and starts when the slot comes, so waiting rounds
  // go in order and each is looked at twice, not at every other round's start.
  if (!k.prepaid) {
    Ns start = std::max(now, check_tat_ - kCheckPollBurst);
    check_tat_ =
        std::max(check_tat_, start) + fromSeconds(static_cast<double>(k.fanout) / kCheckPollBudget);
    if (start > now) {
      k.prepaid = true;
      timers_.push({start, TimerKind::kCheckPoll, ki, ++check_poll_gen_[ki]});
      return;
    }
  }
  k.prepaid = false;
  while (k.conns.size() < k.fanout) k.conns.push_back(newConn(Role::kCheck, ki));
  k.inflight = k.fanout;
  k.round_saw_200 = false;
  // A request that fails at once ends here (checkRoundEnd) before the next starts;
  // one that shows the change finishes the check, which frees the round.
  std::vector<uint32_t> round = k.conns;
  for (uint32_t ci : round) {
    if (checks_[ki].status != CheckStatus::kPending) break;
    startRequest(ci, &checks_[ki].request, now);
  }
}

void LoadTool::checkRoundEnd(uint32_t ki, Ns now) {
  Check& k = checks_[ki];
  if (k.status != CheckStatus::kPending || k.inflight == 0) return;
  if (--k.inflight == 0) checkRetry(ki, k.round_saw_200 ? kCheckPollFast : kCheckPollSlow, now);
}

void LoadTool::checkAnswer(uint32_t ki, int status, std::string_view backend, Ns now) {
  Check& k = checks_[ki];
  k.answers++;
  k.last_status = status;
  k.last_backend.assign(backend);
  if (k.seen.size() < 16 && std::find(k.seen.begin(), k.seen.end(), backend) == k.seen.end()) {
    k.seen.emplace_back(backend);
  }
  bool live = false;
  switch (k.mode) {
    case CheckMode::kBackend:
      live = status == 200 && backend == k.wants[0];
      break;
    case CheckMode::kServes:
      live = status == 200 && std::find(k.wants.begin(), k.wants.end(), backend) != k.wants.end();
      break;
    case CheckMode::kGone:
      live = status != 200;
      break;
  }
  if (live) {
    k.live_after = now - k.t_submit;
    checkFinish(ki, CheckStatus::kLive, now);
    return;
  }
  if (k.mode == CheckMode::kBackend && status == 200) k.round_saw_200 = true;
  checkRoundEnd(ki, now);
}

void LoadTool::checkRetry(uint32_t ki, Ns delay, Ns now) {
  // A change not live after a while is timed to within kCheckResolution of
  // its age: a peer taking a second per change is asked every 10 ms, not
  // thousands of times a second for as long as it takes (that load would
  // count as its CPU per change).
  Ns relative = (now - checks_[ki].t_submit) / kCheckResolution;
  timers_.push({now + std::max(delay, relative), TimerKind::kCheckPoll, ki, ++check_poll_gen_[ki]});
}

void LoadTool::checkFinish(uint32_t ki, CheckStatus status, Ns now) {
  Check& k = checks_[ki];
  k.status = status;
  checks_pending_--;
  check_poll_gen_[ki]++;                     // its pending poll timer, if any, is stale now
  for (uint32_t ci : k.conns) freeConn(ci);  // answers still on their way are stale
  k.conns.clear();
  k.inflight = 0;
}

// ------------------------------------------------------------------ the loop

void LoadTool::runTimers(Ns now) {
  // Requests past their deadline (the list is sorted by deadline).
  for (size_t n = 0; tlist_head_ != kNone && conns_[tlist_head_].deadline <= now && n < 100000;
       ++n) {
    onFailure(tlist_head_, "timeout", now);
  }
  for (size_t n = 0; !timers_.empty() && timers_.top().due <= now && n < 100000; ++n) {
    Timer t = timers_.top();
    timers_.pop();
    switch (t.kind) {
      case TimerKind::kLongSend:
        longSend(t.index, now);
        break;
      case TimerKind::kCheckPoll:
        if (t.gen == check_poll_gen_[t.index]) checkPoll(t.index, now);
        break;
      case TimerKind::kCheckDeadline:
        if (checks_[t.index].status == CheckStatus::kPending)
          checkFinish(t.index, CheckStatus::kTimeout, now);
        break;
    }
  }
}

Ns LoadTool::nextDue(Ns now) const {
  Ns due = now + kSecond;
  if (next_probe_ < samples_.size()) due = std::min(due, samples_[next_probe_].t_sched);
  if (!timers_.empty()) due = std::min(due, timers_.top().due);
  if (tlist_head_ != kNone) due = std::min(due, conns_[tlist_head_].deadline);
  if (now < end_) due = std::min(due, end_);
  return due;
}

void LoadTool::waitEvents(Ns now, Ns until) {
  epoll_event events[256];
  Ns wait = std::max<Ns>(0, until - now);
  timespec ts{static_cast<time_t>(wait / kSecond), static_cast<long>(wait % kSecond)};
  int n = ::epoll_pwait2(ep_, events, 256, &ts, nullptr);
  if (n < 0) {
    if (errno == EINTR) return;
    die(std::string("epoll_pwait2: ") + std::strerror(errno));
  }
  Ns t = nowNs();
  for (int i = 0; i < n; ++i) {
    uint32_t ci = static_cast<uint32_t>(events[i].data.u64);
    uint32_t gen = static_cast<uint32_t>(events[i].data.u64 >> 32);
    if (ci == kStdinTag) {
      readCommands(t);
      continue;
    }
    // An event for a socket closed earlier in this batch (its slot may hold a new one).
    if (conns_[ci].gen != gen || conns_[ci].fd < 0) continue;
    onEvent(ci, events[i].events, t);
  }
}

bool LoadTool::finished(Ns now) const {
  if (now < end_) return false;
  bool load_done = next_probe_ == samples_.size() && probe_queue_.empty() &&
                   probe_in_flight_ == 0 && long_busy_ == 0;
  return load_done && !stdin_open_ && checks_pending_ == 0;
}

int LoadTool::run() {
  FILE* tf = std::fopen(opt_.targets.c_str(), "r");
  if (!tf) die("cannot read --targets " + opt_.targets + ": " + std::strerror(errno));
  char line[4096];
  while (std::fgets(line, sizeof line, tf)) {
    std::vector<std::string> w = splitWords(std::string_view(line, std::strcspn(line, "\n")));
    if (w.size() == 2) target_requests_.push_back(requestFor(w[0], w[1], /*close=*/false));
  }
  std::fclose(tf);
  if (target_requests_.empty()) die("no \"host path\" lines in " + opt_.targets);

  addr_.sin_family = AF_INET;
  addr_.sin_port = htons(static_cast<uint16_t>(opt_.port));
  if (::inet_pton(AF_INET, opt_.ip.c_str(), &addr_.sin_addr) != 1)
    die("--ip is not an IPv4 address: " + opt_.ip);

  // Thousands of sockets: take every descriptor the hard limit allows.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Timers fire within 1 us instead of the default 50 us slack: a late wake-up
  // would count as the proxy's latency.
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  // The load core also runs wrk and the backends: at normal priority the tool
  // woke up to 1-2 ms late at p99 behind them (measured), which the probe then
  // reported as the proxy's latency. It sleeps between events and never spins,
  // so a real-time priority costs the others little; without the privilege it
  // runs as it is (the JSON says which).
  sched_param sp{};
  sp.sched_priority = 1;
  if (::sched_setscheduler(0, SCHED_FIFO, &sp) == 0) {
    sched_ = "fifo";
  } else if (::setpriority(PRIO_PROCESS, 0, -10) == 0) {
    sched_ = "nice-10";
  }
  std::signal(SIGPIPE, SIG_IGN);

  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) die(std::string("epoll_create1: ") + std::strerror(errno));

  Ns t_open = nowNs();
  openLongLived();
  Ns opened = nowNs();
  t0_ = opened + kSecond / 5;
  end_ = t0_ + fromSeconds(opt_.duration);
  size_t probes = static_cast<size_t>(std::ceil(opt_.duration * opt_.rate - 1e-9));
  samples_.resize(probes);
  for (size_t k = 0; k < probes; ++k)
    samples_[k].t_sched = t0_ + fromSeconds(static_cast<double>(k) / opt_.rate);
  // A client opens a connection to send on it: the first request leaves within
  // 0.8 intervals, so that an opened but silent connection never meets a
  // proxy's timeout for the first request (HAProxy's `timeout http-request`,
  // 10 s here) and counts as a failure of the proxy.
  for (uint32_t li = 0; li < longs_.size(); ++li) {
    std::uniform_real_distribution<double> offset(0.0, 0.8 * opt_.long_interval);
    timers_.push({t0_ + fromSeconds(offset(rng_)), TimerKind::kLongSend, li, 0});
  }

  // Commands on stdin (a pipe from the driver); anything epoll cannot watch
  // (/dev/null, a file) means no checks.
  ::fcntl(STDIN_FILENO, F_SETFL, ::fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  epoll_event sev{};
  sev.events = EPOLLIN;
  sev.data.u64 = kStdinTag;
  if (::epoll_ctl(ep_, EPOLL_CTL_ADD, STDIN_FILENO, &sev) != 0) stdin_open_ = false;

  std::printf("ready %.6f\n", toSeconds(t0_));
  std::fflush(stdout);

  // Bounded: checks end by their deadline, requests by theirs; past this the
  // driver has stopped talking to us.
  Ns hard_end = end_ + fromSeconds(opt_.live_timeout) + 2 * kRequestTimeout + 5 * kSecond;
  for (;;) {
    Ns now = nowNs();
    scheduleProbes(now);
    dispatchProbes(now);
    runTimers(now);
    dispatchProbes(now);
    if (now >= end_ && !longs_closed_) {
      // The phase is over: held connections that are idle close now (busy
      // ones close when their answer comes), as a client going away would.
      longs_closed_ = true;
      for (const LongLived& l : longs_) {
        if (conns_[l.conn].state == ConnState::kIdle) closeSocket(l.conn);
      }
    }
    if (finished(now)) break;
    if (now >= hard_end) {
      std::fprintf(stderr, "reload_load: stopped at the hard end (stdin %s, %zu checks pending)\n",
                   stdin_open_ ? "open" : "closed", checks_pending_);
      break;
    }
    waitEvents(now, std::min(nextDue(now), hard_end));
  }
  writeOut(toSeconds(opened - t_open));
  return 0;
}

void LoadTool::writeOut(double open_long_s) const {
  std::string tmp = opt_.out + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) die("cannot write " + tmp + ": " + std::strerror(errno));
  std::fprintf(f, "{\"t0\":%.6f,\"duration\":%.6f,\"rate\":%.6f,\"open_long_s\":%.6f,",
               toSeconds(t0_), opt_.duration, opt_.rate, open_long_s);
  std::fputs("\"probe\":{\"samples\":[", f);
  for (size_t k = 0; k < samples_.size(); ++k) {
    const Sample& s = samples_[k];
    if (k) std::fputc(',', f);
    if (s.latency >= 0) {
      std::fprintf(f, "[%.6f,%.4f]", toSeconds(s.t_sched), static_cast<double>(s.latency) / 1e6);
    } else {
      std::fprintf(f, "[%.6f,null]", toSeconds(s.t_sched));
    }
  }
  std::fputs("],\"failures\":", f);
  jsonKinds(f, probe_failures_);
  std::fprintf(f, ",\"failed\":%ld},", total(probe_failures_));
  std::fprintf(f,
               "\"long_lived\":{\"connections\":%zu,\"requests\":%ld,\"failures\":", longs_.size(),
               long_requests_);
  jsonKinds(f, long_failures_);
  std::fprintf(f, ",\"failed\":%ld,\"dropped\":%ld,\"reopened\":%ld},", total(long_failures_),
               long_dropped_, long_reopened_);
  std::fputs("\"live\":[", f);
  for (size_t ki = 0; ki < checks_.size(); ++ki) {
    const Check& k = checks_[ki];
    if (ki) std::fputc(',', f);
    std::fputs("{\"id\":", f);
    jsonString(f, k.id);
    static const char* const kNames[] = {"pending", "live", "superseded", "timeout"};
    std::fprintf(f, ",\"status\":\"%s\",\"s\":", kNames[static_cast<int>(k.status)]);
    if (k.status == CheckStatus::kLive) {
      std::fprintf(f, "%.6f", toSeconds(k.live_after));
    } else {
      std::fputs("null", f);
    }
    std::fprintf(f, ",\"answers\":%ld,\"last\":", k.answers);
    jsonString(f, std::to_string(k.last_status) + " " + k.last_backend);
    std::string seen;
    for (const std::string& b : k.seen) seen += (seen.empty() ? "" : ",") + b;
    std::fputs(",\"seen\":", f);
    jsonString(f, seen);
    std::fputc('}', f);
  }
  // The tool's own lateness in taking up probe requests (wake-up after its
  // timer): if this is near the probe's latency, the figures measure the tool.
  std::vector<Ns> lags;
  lags.reserve(samples_.size());
  for (const Sample& s : samples_) lags.push_back(s.wake_lag);
  std::sort(lags.begin(), lags.end());
  auto pct = [&](double p) {
    return lags.empty()
               ? 0.0
               : static_cast<double>(
                     lags[std::min(lags.size() - 1, static_cast<size_t>(p * lags.size()))]) /
                     1e6;
  };
  std::fprintf(f,
               "],\"tool\":{\"wake_lag_p50_ms\":%.4f,\"wake_lag_p99_ms\":%.4f,\"wake_lag_max_ms\":%"
               ".4f,\"sched\":\"%s\"}}\n",
               pct(0.5), pct(0.99), lags.empty() ? 0.0 : static_cast<double>(lags.back()) / 1e6,
               sched_);
  if (std::fclose(f) != 0 || std::rename(tmp.c_str(), opt_.out.c_str()) != 0) {
    die("cannot write " + opt_.out + ": " + std::strerror(errno));
  }
}

}  // namespace
}  // namespace corral::bench

int main(int argc, char** argv) {
  corral::bench::LoadTool tool(corral::bench::parseArgs(argc, argv));
  return tool.run();
}
