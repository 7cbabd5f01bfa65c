#include "reload/worker_pool.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "base/log.h"
#include "base/share_cpu.h"
#include "reload/process_sockets.h"

namespace corral::reload {

Worker::Worker(int index) : index_(index), listeners_(loop_.raw()) {
  keepAlive_ = new uv_async_t;
  uv_async_init(loop_.raw(), keepAlive_, nullptr);
}

void Worker::offer(AnySnapshot snapshot, uint64_t version) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (version <= pendingVersion_) return;  // a newer one is waiting already
    pending_ = std::move(snapshot);
    pendingVersion_ = version;
    wake = !wakeScheduled_;
    wakeScheduled_ = true;
  }
  // Coalescing: one wake-up takes whatever is newest when it runs.
  if (wake) loop_.post([this] { takeNewest(); });
}

void Worker::takeNewest() {
  AnySnapshot next;
  uint64_t version;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wakeScheduled_ = false;
    next = std::move(pending_);
    pending_ = {};
    version = pendingVersion_;
  }
  if (!next || stopping_) return;
  std::swap(slot_, next);
  version_ = version;
  if (service_) service_->onSnapshot(*this);
  // The old one goes to the pool: the next publish frees it, off this loop.
  if (retired_ != nullptr && next) {
    std::lock_guard<std::mutex> lock(retired_->mu);
    retired_->list.push_back(std::move(next));
  }
  applied_.store(version, std::memory_order_release);
}

void Worker::openListener(const Endpoint& endpoint, UniqueFd fd, bool held) {
  if (stopping_) return;
  WorkerService* service = service_.get();
  Status s = listeners_.open(
      endpoint, std::move(fd), [this, service](Listener& l) { service->onReady(*this, l); }, held);
  if (!s.ok()) log::error("worker {}: {}", index_, s.error().message);
}

void Worker::closeEverything() {
  if (stopping_) return;
  stopping_ = true;
  drainPoll_.reset();
  listeners_.closeAll();
  if (service_) service_->close(*this);
  closeAndDelete(keepAlive_);
  keepAlive_ = nullptr;
}

void Worker::startDrain() {
  if (stopping_ || drainPoll_) return;
  listeners_.stopAccepting();
  if (service_) service_->drain(*this);
  drainPoll_ = std::make_unique<Timer>(loop_);
  auto report = [this] {
    openConnections_.store(service_ ? service_->openConnections(*this) : 0,
                           std::memory_order_release);
  };
  report();
  drainPoll_->start(50, 50, report);
}

// Handles still open once the loop has nothing left to run, not counting the
// Loop's own handles (its async and deferred-deletion idle handles, whose
// data is the Loop), which it closes itself.
size_t Worker::openHandles() {
  struct Count {
    void* loop;
    size_t n = 0;
  } count{&loop_};
  uv_walk(
      loop_.raw(),
      [](uv_handle_t* h, void* arg) {
        auto* c = static_cast<Count*>(arg);
        if (uv_is_closing(h)) return;
        if (h->data == c->loop) return;
        ++c->n;
      },
      &count);
  return count.n;
}

Status WorkerPool::bindOnEveryWorker(const Endpoint& endpoint, std::vector<UniqueFd>* fds) {
  std::vector<UniqueFd> copies;
  for (size_t i = 0; i < workers_.size(); ++i) {
    auto both = ProcessSockets::get().claimOrBind(endpoint, true);
    if (!both.ok()) return both.error();
    copies.push_back(std::move(both->second));
    fds->push_back(std::move(both->first));
  }
  copies_[endpoint.key()] = std::move(copies);
  return Status::Ok();
}

Result<std::unique_ptr<WorkerPool>> WorkerPool::start(PoolOptions options, AnySnapshot first,
                                                      ServiceFactory factory) {
  if (options.workers < 1)
    return makeError(ErrorKind::kInvalid, "workers must be at least 1", "/workers");
  if (!first)
    return makeError(ErrorKind::kInternal, "the worker pool needs a first snapshot to serve");
  // A takeover keeps at least the previous generation's worker count: each
  // worker serves one inherited socket per listener, and a socket nobody
  // serves would strand the connections queued on it.
  options.workers =
      std::max<int>(options.workers, static_cast<int>(ProcessSockets::get().mostInheritedPerKey()));
  bool held = ProcessSockets::get().holdListeners();
  std::unique_ptr<WorkerPool> pool(new WorkerPool());
  for (int i = 0; i < options.workers; ++i) {
    pool->workers_.push_back(std::unique_ptr<Worker>(new Worker(i)));
    Worker& w = *pool->workers_.back();
    w.retired_ = pool->retired_.get();
    w.slot_ = first;
    w.version_ = 1;
    w.applied_.store(1);
  }
  // Port 0: endpoints on one host share one port free for all their transports.
  std::map<std::string, std::vector<Transport>> anyPort;
  for (const auto& ep : options.listeners) {
    if (ep.port == 0) anyPort[ep.host].push_back(ep.transport);
  }
  std::map<std::string, uint16_t> picked;
  for (const auto& [host, transports] : anyPort) {
    auto port = pickFreePort(host, transports);
    if (!port.ok()) return port.error();
    picked[host] = *port;
  }
  // Every socket of every worker, bound before any service or thread exists.
  std::vector<std::pair<Endpoint, std::vector<UniqueFd>>> sockets;
  for (Endpoint ep : options.listeners) {
    if (ep.port == 0) ep.port = picked[ep.host];
    if (pool->endpoints_.count(ep.key()))
      return makeError(ErrorKind::kInvalid, ep.describe() + ": listed twice");
    std::vector<UniqueFd> fds;
    Status s = pool->bindOnEveryWorker(ep, &fds);
    if (!s.ok()) return s.error();
    pool->endpoints_[ep.key()] = ep;
    sockets.emplace_back(ep, std::move(fds));
  }
  for (auto& w : pool->workers_) {
    auto service = factory(*w);
    if (!service.ok()) return service.error();  // ~WorkerPool closes what was made
    w->service_ = std::move(*service);
  }
  for (auto& [ep, fds] : sockets) {
    for (size_t i = 0; i < fds.size(); ++i) {
      Worker& w = *pool->workers_[i];
      WorkerService* service = w.service_.get();
      Status s = w.listeners_.open(
          ep, std::move(fds[i]), [&w, service](Listener& l) { service->onReady(w, l); }, held);
      if (!s.ok()) return s.error();
    }
  }
  pool->run();
  ProcessSockets::get().addPool(pool.get());
  return pool;
}

void WorkerPool::run() {
  running_ = true;
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->thread_ = std::thread([worker] {
      // Started by a generation held down while it takes over (share_cpu.h):
      // a worker serves at the normal policy.
      startAtNormalPolicy();
      worker->loop_.run();
      size_t left = worker->openHandles();
      if (left > 0)
        log::error("worker {}: loop ended with {} handle(s) open", worker->index_, left);
      worker->leftoverHandles_.store(left);
      worker->finished_.store(true);
    });
  }
}

WorkerPool::~WorkerPool() {
  stop();
  ProcessSockets::get().removePool(this);
}

uint64_t WorkerPool::publish(AnySnapshot snapshot) {
  uint64_t version;
  {
    std::lock_guard<std::mutex> lock(publishMu_);
    version = ++version_;
    if (stopped_) return version;
    for (auto& w : workers_) w->offer(snapshot, version);
  }
  std::vector<AnySnapshot> retired;
  {
    std::lock_guard<std::mutex> lock(retired_->mu);
    retired.swap(retired_->list);
  }
  return version;  // `retired` is freed here, on the publishing thread
}

bool WorkerPool::applied(uint64_t version) const {
  for (const auto& w : workers_) {
    if (w->applied_.load(std::memory_order_acquire) < version) return false;
  }
  return true;
}

Result<Endpoint> WorkerPool::addListener(Endpoint endpoint) {
  if (stopped_) return makeError(ErrorKind::kUnavailable, "the worker pool is stopped");
  if (draining_)
    return makeError(ErrorKind::kUnavailable, "draining: the next generation listens now");
  if (endpoint.port == 0) {
    auto port = pickFreePort(endpoint.host, {endpoint.transport});
    if (!port.ok()) return port.error();
    endpoint.port = *port;
  }
  if (endpoints_.count(endpoint.key())) {
    return makeError(ErrorKind::kConflict, endpoint.describe() + ": already listening there");
  }
  std::vector<UniqueFd> fds;
  Status s = bindOnEveryWorker(endpoint, &fds);
  if (!s.ok()) return s.error();
  endpoints_[endpoint.key()] = endpoint;
  uint64_t change = ++listenerChanges_;
  bool held = ProcessSockets::get().holdListeners();
  for (size_t i = 0; i < workers_.size(); ++i) {
    Worker* w = workers_[i].get();
    // std::function must be copyable: the socket travels as a plain fd and is
    // owned again on the worker.
    int fd = fds[i].release();
    w->loop_.post([w, endpoint, fd, change, held] {
      w->openListener(endpoint, UniqueFd(fd), held);
      w->listenerChanges_.store(change, std::memory_order_release);
    });
  }
  return endpoint;
}

Status WorkerPool::removeListener(const std::string& key) {
  if (stopped_) return makeError(ErrorKind::kUnavailable, "the worker pool is stopped");
  if (endpoints_.erase(key) == 0) return makeError(ErrorKind::kNotFound, "no listener " + key);
  copies_.erase(key);
  uint64_t change = ++listenerChanges_;
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->loop_.post([worker, key, change] {
      worker->listeners_.close(key);
      worker->listenerChanges_.store(change, std::memory_order_release);
    });
  }
  return Status::Ok();
}

bool WorkerPool::listenersApplied(uint64_t change) const {
  for (const auto& w : workers_) {
    if (w->listenerChanges_.load(std::memory_order_acquire) < change) return false;
  }
  return true;
}

uint64_t WorkerPool::resumeListeners() {
  uint64_t change = ++listenerChanges_;
  if (stopped_) return change;
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->loop_.post([worker, change] {
      worker->listeners_.resumeAll();
      worker->listenerChanges_.store(change, std::memory_order_release);
    });
  }
  return change;
}

std::vector<std::pair<Endpoint, int>> WorkerPool::sockets() const {
  std::vector<std::pair<Endpoint, int>> out;
  for (const auto& [key, fds] : copies_) {
    for (const auto& fd : fds) out.emplace_back(endpoints_.at(key), fd.get());
  }
  return out;
}

void WorkerPool::releaseSockets() { copies_.clear(); }

void WorkerPool::drain() {
  if (stopped_ || draining_) return;
  draining_ = true;
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->loop_.post([worker] { worker->startDrain(); });
  }
}

size_t WorkerPool::openConnections() const {
  size_t total = 0;
  for (const auto& w : workers_) {
    size_t n = w->openConnections_.load(std::memory_order_acquire);
    if (n == SIZE_MAX) return SIZE_MAX;
    total += n;
  }
  return total;
}

void WorkerPool::stop() {
  {
    std::lock_guard<std::mutex> lock(publishMu_);
    if (stopped_) return;
    stopped_ = true;
  }
  copies_.clear();  // the sockets close with the last listener
  if (running_) {
    // Posted after every listener change, so those run (and close) first.
    for (auto& w : workers_) {
      Worker* worker = w.get();
      worker->loop_.post([worker] { worker->closeEverything(); });
    }
    for (auto& w : workers_) w->thread_.join();
  } else {
    // start() failed before any thread ran: close on this thread.
    for (auto& w : workers_) {
      w->closeEverything();
      w->loop_.run();
      w->leftoverHandles_.store(w->openHandles());
      w->finished_.store(true);
    }
  }
}

bool WorkerPool::closedCleanly() const {
  for (const auto& w : workers_) {
    if (!w->finished_.load() || w->leftoverHandles_.load() != 0) return false;
  }
  return true;
}

}  // namespace corral::reload
