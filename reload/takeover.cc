#include "reload/takeover.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/share_cpu.h"
#include "reload/process_sockets.h"
#include "reload/worker_pool.h"

namespace corral::reload {

using takeover::Channel;
using takeover::SocketEntry;
using takeover::SocketKind;

namespace {

// How long a process whose hello could not be sent reads for the running
// process's refusal (already sent, or on its way).
constexpr int kRefusalReadMs = 200;

Error refusedError(const takeover::Refused& refused) {
  return makeError(ErrorKind::kUnavailable,
                   "takeover: the running process refused: " + refused.detail);
}

}  // namespace

// A connection on PATH: the channel and the poll handle that reads it.
struct Takeover::Peer {
  explicit Peer(UniqueFd fd) : channel(std::move(fd)) {}
  ~Peer() { stopReading(); }
  void stopReading() {
    // uv_close takes the fd out of the loop at once: the channel may close it after.
    closeAndDelete(poll);
    poll = nullptr;
  }
  Channel channel;
  uv_poll_t* poll = nullptr;
  int pid = 0;
  bool helloSeen = false;
  bool socketsSent = false;
};

Takeover::Takeover(Loop& loop, TakeoverOptions options)
    : loop_(loop), options_(std::move(options)), timer_(loop) {}

Takeover::~Takeover() { close(); }

Result<std::unique_ptr<Takeover>> Takeover::begin(Loop& loop, TakeoverOptions options) {
  if (options.path.empty())
    return makeError(ErrorKind::kInvalid, "--takeover: a Unix socket path is needed");
  std::unique_ptr<Takeover> t(new Takeover(loop, std::move(options)));
  Status s = t->connectToRunning();
  if (!s.ok()) return s.error();
  return t;
}

Status Takeover::connectToRunning() {
  auto fd = takeover::connectUnix(options_.path);
  if (!fd.ok()) {
    if (fd.error().kind == ErrorKind::kNotFound) {
      log::info("takeover: nothing serves {}; starting as the first generation", options_.path);
      return Status::Ok();
    }
    return fd.error();
  }
  auto peer = std::make_unique<Peer>(std::move(*fd));
  Status hello = peer->channel.send(takeover::Hello{takeover::kProtocolVersion, ::getpid()});
  if (!hello.ok()) {
    // A running process that refuses answers at once and closes, possibly
    // before the hello arrived (EPIPE here): its answer is still readable,
    // and says why better than the broken pipe does.
    auto r = peer->channel.receive(kRefusalReadMs);
    if (r.ok()) {
      if (const auto* f = std::get_if<takeover::Refused>(&r->message)) return refusedError(*f);
    }
    return hello.error();
  }
  size_t received = 0;
  for (;;) {
    auto r = peer->channel.receive(static_cast<int>(options_.waitTimeoutMs));
    if (!r.ok())
      return makeError(ErrorKind::kUnavailable,
                       "takeover from " + options_.path + ": " + r.error().message);
    if (const auto* w = std::get_if<takeover::Wait>(&r->message)) {
      log::info("takeover: the running process waits for generation pid {} to finish draining",
                w->drainingPid);
      continue;
    }
    if (const auto* f = std::get_if<takeover::Refused>(&r->message)) return refusedError(*f);
    const auto* s = std::get_if<takeover::Sockets>(&r->message);
    if (s == nullptr) {
      return makeError(ErrorKind::kUnavailable,
                       std::string("takeover: unexpected ") +
                           takeover::typeName(takeover::typeOf(r->message)) +
                           " before the sockets");
    }
    for (size_t i = 0; i < s->entries.size(); ++i) {
      const SocketEntry& e = s->entries[i];
      ++received;
      if (e.kind == SocketKind::kTakeover) {
        listener_ = std::move(r->fds[i]);
        continue;
      }
      Endpoint ep{e.host, e.port, e.kind == SocketKind::kUdp ? Transport::kUdp : Transport::kTcp,
                  static_cast<int>(e.bufferBytes)};
      ProcessSockets::get().inherit(ep, std::move(r->fds[i]));
    }
    if (s->last) break;
  }
  ProcessSockets::get().setHoldListeners(true);
  predecessor_ = std::move(peer);
  // The running process serves until we are ready: our start (routes read
  // and built, workers started) runs in the gaps it leaves on a shared core.
  bool held = holdDown();
  log::info("takeover: received {} socket(s) from the running process on {}{}", received,
            options_.path, held ? "; starting stepped down (SCHED_IDLE) until serving" : "");
  return Status::Ok();
}

void Takeover::serve(std::function<bool()> ready, std::function<void()> onDrained,
                     std::function<void(const std::string&)> onFailed) {
  ready_ = std::move(ready);
  onDrained_ = std::move(onDrained);
  onFailed_ = std::move(onFailed);
  if (!predecessor_) {
    listenForSuccessor();
    return;
  }
  deadline_ = loop_.nowMs() + options_.readyTimeoutMs;
  timer_.start(0, 20, [this] { waitUntilReady(); });
}

void Takeover::waitUntilReady() {
  if (ready_()) {
    timer_.stop();
    holdUp();
    takeOver();
    return;
  }
  if (loop_.nowMs() >= deadline_) {
    timer_.stop();
    holdUp();
    onFailed_("takeover: not ready to serve within " + std::to_string(options_.readyTimeoutMs) +
              " ms (routes not synced?); the running process keeps serving");
  }
}

void Takeover::takeOver() {
  ProcessSockets::get().setHoldListeners(false);
  std::vector<std::pair<WorkerPool*, uint64_t>> resumed;
  for (WorkerPool* pool : ProcessSockets::get().pools()) {
    resumed.emplace_back(pool, pool->resumeListeners());
  }
  // Every worker accepts before the old process stops (until then both do).
  timer_.start(0, 5, [this, resumed] {
    for (const auto& [pool, change] : resumed) {
      if (!pool->listenersApplied(change)) return;
    }
    timer_.stop();
    for (const std::string& key : ProcessSockets::get().closeUnclaimed()) {
      log::info("takeover: {} is not in this configuration; closed", key);
    }
    Status s = predecessor_->channel.send(takeover::Ready{::getpid()});
    if (!s.ok())
      log::warn("takeover: could not tell the previous generation: {}", s.error().message);
    Peer* p = predecessor_.get();
    p->poll = new uv_poll_t;
    uv_poll_init(loop_.raw(), p->poll, p->channel.fd());
    p->poll->data = this;
    uv_poll_start(p->poll, UV_READABLE | UV_DISCONNECT, [](uv_poll_t* h, int, int) {
      auto* self = static_cast<Takeover*>(h->data);
      if (self->predecessor_) self->onPeerReadable(self->predecessor_.get());
    });
    log::info("takeover: serving every socket; the previous generation stops accepting");
    listenForSuccessor();
  });
}

void Takeover::listenForSuccessor() {
  if (closed_) return;
  if (listener_.get() < 0) {
    auto l = takeover::listenUnix(options_.path);
    if (!l.ok()) {
      log::error("takeover: {}; no later generation can take over", l.error().message);
      return;
    }
    listener_ = std::move(*l);
  }
  if (listenerPoll_ == nullptr) {
    listenerPoll_ = new uv_poll_t;
    uv_poll_init(loop_.raw(), listenerPoll_, listener_.get());
    listenerPoll_->data = this;
  }
  uv_poll_start(listenerPoll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
    if (status == 0) static_cast<Takeover*>(h->data)->onSuccessorConnection();
  });
}

void Takeover::onSuccessorConnection() {
  if (draining_) return;
  UniqueFd fd = takeover::acceptUnix(listener_.get());
  if (fd.get() < 0) return;
  if (successor_) {
    // The generation bound: a takeover is under way (that process holds the
    // sockets and loads its routes), and a third process would make three.
    // Refused at once, so it exits instead of waiting alive.
    Peer third(std::move(fd));
    std::string why = "pid " + std::to_string(successor_->pid) +
                      " is taking over now (at most two generations); start again once it serves";
    (void)third.channel.send(takeover::Refused{takeover::RefusedReason::kBusy, why});
    log::info("takeover: refused another process while pid {} takes over", successor_->pid);
    return;
  }
  successor_ = std::make_unique<Peer>(std::move(fd));
  Peer* p = successor_.get();
  p->poll = new uv_poll_t;
  uv_poll_init(loop_.raw(), p->poll, p->channel.fd());
  p->poll->data = this;
  uv_poll_start(p->poll, UV_READABLE | UV_DISCONNECT, [](uv_poll_t* h, int, int) {
    auto* self = static_cast<Takeover*>(h->data);
    if (self->successor_) self->onPeerReadable(self->successor_.get());
  });
}

void Takeover::onPeerReadable(Peer* peer) {
  bool isSuccessor = peer == successor_.get();
  auto more = peer->channel.readSome();
  std::string problem = more.ok() ? "" : more.error().message;
  while (problem.empty()) {
    auto next = peer->channel.next();
    if (!next.ok()) {
      problem = next.error().message;
      break;
    }
    if (!*next) break;
    handle(peer, std::move(**next));
    // handle() may have let go of the peer.
    if (isSuccessor ? successor_.get() != peer : predecessor_.get() != peer) return;
  }
  bool gone = !problem.empty() || peer->channel.eof();
  if (!gone) return;
  if (!isSuccessor) {
    onPredecessorGone();
    return;
  }
  if (draining_) {
    peer->stopReading();  // it serves on; its exit is none of our business
    return;
  }
  log::warn("takeover: the new process left before serving ({}); this one serves on",
            problem.empty() ? "it closed the connection" : problem);
  dropSuccessor();
}

void Takeover::handle(Peer* peer, takeover::Received received) {
  const takeover::Message& m = received.message;
  if (peer == predecessor_.get()) {
    if (const auto* d = std::get_if<takeover::Draining>(&m)) {
      predecessorPid_ = d->pid;
      log::info("takeover: generation pid {} stopped accepting and drains", d->pid);
    }
    return;
  }
  if (const auto* h = std::get_if<takeover::Hello>(&m)) {
    peer->pid = h->pid;
    peer->helloSeen = true;
    if (h->version != takeover::kProtocolVersion) {
      (void)peer->channel.send(takeover::Refused{takeover::RefusedReason::kVersion,
                                                 "takeover protocol " + std::to_string(h->version) +
                                                     " asked, this process speaks " +
                                                     std::to_string(takeover::kProtocolVersion)});
      dropSuccessor();
      return;
    }
    if (predecessor_) {
      // The generation bound: the sockets go out once our predecessor exited,
      // which it does at once when told Finish.
      log::info(
          "takeover: pid {} asks to take over; it waits until generation pid {} ends, which is "
          "told to finish its drain now",
          h->pid, predecessorPid_);
      (void)peer->channel.send(takeover::Wait{predecessorPid_});
      Status told = predecessor_->channel.send(takeover::Finish{h->pid});
      if (!told.ok()) {
        log::warn("takeover: telling generation pid {} to finish failed: {}", predecessorPid_,
                  told.error().message);
      }
      return;
    }
    sendSockets(peer);
    return;
  }
  if (std::holds_alternative<takeover::Ready>(m) && peer->socketsSent) {
    startDrain(peer);
    return;
  }
  if (const auto* fin = std::get_if<takeover::Finish>(&m); fin != nullptr && draining_) {
    finishNow(fin->waitingPid);
    return;
  }
  log::warn("takeover: unexpected {} from pid {}; dropping it",
            takeover::typeName(takeover::typeOf(m)), peer->pid);
  dropSuccessor();
}

void Takeover::finishNow(int waitingPid) {
  if (done_ || finishFor_ != 0) return;
  finishFor_ = waitingPid;
  deadline_ = 0;  // the drain timer's next turn (now) ends the drain
  // From the timer, as every end of a drain, not from inside this channel's
  // own read callback (onDrained stops the service).
  timer_.start(0, 50, [this] { checkDrain(); });
}

void Takeover::sendSockets(Peer* peer) {
  std::vector<std::pair<SocketEntry, int>> all;
  for (WorkerPool* pool : ProcessSockets::get().pools()) {
    for (const auto& [ep, fd] : pool->sockets()) {
      SocketKind kind = ep.transport == Transport::kUdp ? SocketKind::kUdp : SocketKind::kTcp;
      all.push_back(
          {SocketEntry{kind, ep.host, ep.port, static_cast<uint32_t>(ep.bufferBytes)}, fd});
    }
  }
  for (const auto& [ep, fd] : ProcessSockets::get().controlListeners()) {
    all.push_back({SocketEntry{SocketKind::kControl, ep.host, ep.port, 0}, fd});
  }
  all.push_back({SocketEntry{SocketKind::kTakeover, options_.path, 0, 0}, listener_.get()});
  for (size_t from = 0; from < all.size(); from += takeover::kMaxSocketsPerMessage) {
    size_t to = std::min(all.size(), from + takeover::kMaxSocketsPerMessage);
    takeover::Sockets msg;
    msg.last = to == all.size();
    std::vector<int> fds;
    for (size_t i = from; i < to; ++i) {
      msg.entries.push_back(all[i].first);
      fds.push_back(all[i].second);
    }
    Status s = peer->channel.send(msg, fds);
    if (!s.ok()) {
      log::warn("takeover: handing sockets to pid {} failed: {}", peer->pid, s.error().message);
      dropSuccessor();
      return;
    }
  }
  peer->socketsSent = true;
  log::info("takeover: handed {} socket(s) to pid {}; it serves once ready", all.size(), peer->pid);
}

void Takeover::startDrain(Peer* peer) {
  draining_ = true;
  // The successor serves PATH now (it has the listener).
  closeAndDelete(listenerPoll_);
  listenerPoll_ = nullptr;
  listener_.reset();
  for (WorkerPool* pool : ProcessSockets::get().pools()) {
    pool->drain();
    pool->releaseSockets();
  }
  ProcessSockets::get().releaseControlListeners();
  (void)peer->channel.send(takeover::Draining{::getpid(), 0});
  log::info(
      "takeover: pid {} serves now; this process stopped accepting and drains (at most {} ms)",
      peer->pid, options_.drainTimeoutMs);
  deadline_ = loop_.nowMs() + options_.drainTimeoutMs;
  timer_.start(50, 50, [this] { checkDrain(); });
}

void Takeover::checkDrain() {
  size_t open = 0;
  bool known = true;
  for (WorkerPool* pool : ProcessSockets::get().pools()) {
    size_t n = pool->openConnections();
    if (n == SIZE_MAX) {
      known = false;
    } else {
      open += n;
    }
  }
  bool empty = known && open == 0;
  if (!empty && loop_.nowMs() < deadline_) return;
  timer_.stop();
  if (empty) {
    log::info("takeover: every connection ended; exiting");
  } else if (finishFor_ != 0) {
    log::warn(
        "takeover: pid {} waits to take over (at most two generations): closing {} "
        "connection(s) still open and exiting",
        finishFor_, known ? open : 0);
  } else {
    log::warn("takeover: drain timeout ({} ms): closing {} connection(s) still open",
              options_.drainTimeoutMs, known ? open : 0);
  }
  done_ = true;
  onDrained_();
}

void Takeover::dropSuccessor() {
  // Called from the successor's own poll callback: stop reading now, delete later.
  if (successor_) successor_->stopReading();
  loop_.deleteLater(std::move(successor_));
  if (!draining_ && listenerPoll_ != nullptr) {
    uv_poll_start(listenerPoll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
      if (status == 0) static_cast<Takeover*>(h->data)->onSuccessorConnection();
    });
  }
}

void Takeover::onPredecessorGone() {
  if (predecessor_) predecessor_->stopReading();
  loop_.deleteLater(std::move(predecessor_));
  log::info("takeover: the previous generation (pid {}) exited", predecessorPid_);
  if (successor_ && successor_->helloSeen && !successor_->socketsSent)
    sendSockets(successor_.get());
}

void Takeover::close() {
  if (closed_) return;
  closed_ = true;
  timer_.stop();
  closeAndDelete(listenerPoll_);
  listenerPoll_ = nullptr;
  successor_.reset();
  predecessor_.reset();
}

}  // namespace corral::reload
