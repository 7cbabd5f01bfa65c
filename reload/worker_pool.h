// WorkerPool: N worker threads, each running its own corral::Loop, sharing
// nothing but immutable snapshots and posted closures.
//
// * Sockets first: start() binds every listener's sockets (one SO_REUSEPORT
//   socket per worker, reload/sockets.h) and makes every worker's service
//   before any thread runs, so a bad address, a port in use or a service that
//   cannot start is an error value returned by start().
// * One slot per worker holds the snapshot it serves (a shared_ptr<const T>,
//   type-erased as AnySnapshot). publish() is latest-wins: each worker is
//   woken through Loop::post at most once per batch and takes the newest
//   snapshot offered; worker code reads its slot with no lock (Worker::get).
//   Work that outlives one callback keeps Worker::hold<T>() and finishes on the
//   snapshot it started with. applied(v) says when every worker serves v
//   (its service's onSnapshot included).
// * A worker never frees the snapshot it stops serving: it hands its
//   reference to the pool, and the next publish() drops them on the
//   publishing thread (the control loop). So the old version of a mass change
//   (most of a 100,000-route snapshot) is freed there, never between a
//   worker's requests; it lives until the next publish or stop(). Work that
//   still holds an old snapshot when it ends drops that reference where it is.
// * Listeners live in a per-worker ListenerSet keyed by address:
//   addListener()/removeListener() open or close one listener on every worker
//   at runtime (bind errors come back to the caller; the workers open their
//   sockets in order), the others keep serving.
// * stop() closes every listener and asks every service to close its handles,
//   lets each loop run until it has none, joins, then checks that no handle
//   was left behind (closedCleanly()).
// Cross-thread: only publish/addListener/removeListener/stop post to workers
// (Loop::post); the pool joins its threads before destroying what they use.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include "base/loop.h"
#include "base/result.h"
#include "reload/listener_set.h"
#include "reload/sockets.h"

namespace corral::reload {

// An immutable snapshot of any type: what a pool publishes and a pipeline builds.
struct AnySnapshot {
  std::shared_ptr<const void> ptr;
  const std::type_info* type = nullptr;

  template <typename T>
  static AnySnapshot of(std::shared_ptr<const T> p) {
    return AnySnapshot{std::move(p), &typeid(T)};
  }
  explicit operator bool() const { return ptr != nullptr; }
  // Null when empty or of another type.
  template <typename T>
  std::shared_ptr<const T> as() const {
    if (!ptr || *type != typeid(T)) return nullptr;
    return std::static_pointer_cast<const T>(ptr);
  }
};

class Worker;

// Snapshots the workers stopped serving, until the next publish() frees them.
struct RetiredSnapshots {
  std::mutex mu;
  std::vector<AnySnapshot> list;
};

// What runs on one worker: made by the pool's factory on the caller's thread
// before the worker's thread starts; every other call is on the worker's loop.
class WorkerService {
 public:
  virtual ~WorkerService() = default;
  // A listener of this worker is ready (see ListenerSet::OnReady).
  virtual void onReady(Worker& worker, Listener& listener) = 0;
  // A newer snapshot is in the worker's slot.
  virtual void onSnapshot(Worker& worker) {}
  // Close every handle the service owns (the pool closes the listeners).
  virtual void close(Worker& worker) = 0;
  // A takeover: the listeners stopped accepting; let open connections end
  // on their own (e.g. HTTP keep-alive closes after the current response).
  virtual void drain(Worker& worker) {}
  // Connections still open (polled while draining).
  virtual size_t openConnections(Worker& worker) { return 0; }
};

class Worker {
 public:
  int index() const { return index_; }
  Loop& loop() { return loop_; }
  ListenerSet& listeners() { return listeners_; }
  // The version of the snapshot in the slot. Loop thread.
  uint64_t version() const { return version_; }
  // The snapshot this worker serves, read with no lock. Loop thread.
  template <typename T>
  const T* get() const {
    return static_cast<const T*>(slot_.ptr.get());
  }
  // A reference for work that outlives this callback (it finishes on this snapshot).
  template <typename T>
  std::shared_ptr<const T> hold() const {
    return std::static_pointer_cast<const T>(slot_.ptr);
  }
  bool stopping() const { return stopping_; }

 private:
  friend class WorkerPool;
  explicit Worker(int index);
  void offer(AnySnapshot snapshot, uint64_t version);  // any thread
  void takeNewest();
  void openListener(const Endpoint& endpoint, UniqueFd fd, bool held);
  void closeEverything();
  void startDrain();
  size_t openHandles();

  int index_;
  Loop loop_;
  ListenerSet listeners_;
  std::unique_ptr<WorkerService> service_;
  RetiredSnapshots* retired_ = nullptr;  // the pool's; outlives this worker's thread
  uv_async_t* keepAlive_ = nullptr;      // keeps run() going until stop
  AnySnapshot slot_;
  uint64_t version_ = 0;
  bool stopping_ = false;
  std::unique_ptr<Timer> drainPoll_;  // while draining: reports openConnections()
  std::thread thread_;

  std::mutex mu_;  // guards the three below: the hand-over from publish()
  AnySnapshot pending_;
  uint64_t pendingVersion_ = 0;
  bool wakeScheduled_ = false;

  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> listenerChanges_{0};
  std::atomic<size_t> leftoverHandles_{0};
  std::atomic<bool> finished_{false};
  std::atomic<size_t> openConnections_{SIZE_MAX};  // SIZE_MAX: not reported yet
};

struct PoolOptions {
  int workers = 1;
  // Opened on every worker before the threads start. Endpoints with port 0
  // on the same host share one port free for all their transports.
  std::vector<Endpoint> listeners;
};

class WorkerPool {
 public:
  using ServiceFactory = std::function<Result<std::unique_ptr<WorkerService>>(Worker&)>;

  static Result<std::unique_ptr<WorkerPool>> start(PoolOptions options, AnySnapshot first,
                                                   ServiceFactory factory);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Hands `snapshot` to every worker; returns its version. Thread-safe.
  uint64_t publish(AnySnapshot snapshot);
  template <typename T>
  uint64_t publish(std::shared_ptr<const T> snapshot) {
    return publish(AnySnapshot::of(std::move(snapshot)));
  }
  // True once every worker serves version `version` or newer.
  bool applied(uint64_t version) const;

  // Control thread. Binds one socket per worker now (errors come back here),
  // then each worker opens its own. Returns the endpoint with its port
  // resolved; listenersApplied(listenerChanges()) tells when all have it.
  Result<Endpoint> addListener(Endpoint endpoint);
  // Control thread. Closes the listener with that key on every worker.
  Status removeListener(const std::string& key);
  // The listeners open (or being opened) on every worker, by key.
  const std::map<std::string, Endpoint>& endpoints() const { return endpoints_; }
  uint64_t listenerChanges() const { return listenerChanges_; }
  bool listenersApplied(uint64_t change) const;

  int size() const { return static_cast<int>(workers_.size()); }
  // The service of worker i: its atomics may be read from any thread.
  WorkerService& service(int i) const { return *workers_[i]->service_; }

  // Takeover (reload/takeover.h). Listeners opened while
  // ProcessSockets::holdListeners() take nothing until this; returns the
  // listener change that listenersApplied() confirms.
  uint64_t resumeListeners();
  // Every listening socket of every worker (the pool's copies: valid until
  // releaseSockets()), for the next generation.
  std::vector<std::pair<Endpoint, int>> sockets() const;
  void releaseSockets();
  // Stop accepting (ListenerSet::stopAccepting) and let every service drain;
  // listeners can no longer be added.
  void drain();
  // While draining: connections still open on every worker (SIZE_MAX until
  // every worker reported once).
  size_t openConnections() const;

  // Closes every listener and handle, runs each loop until empty, joins. Idempotent.
  void stop();
  // True when every worker loop ended with no handle left open.
  bool closedCleanly() const;

 private:
  WorkerPool() = default;
  // Inherited sockets first (ProcessSockets), then new ones; keeps copies.
  Status bindOnEveryWorker(const Endpoint& endpoint, std::vector<UniqueFd>* fds);
  void run();

  std::vector<std::unique_ptr<Worker>> workers_;
  std::map<std::string, Endpoint> endpoints_;
  // A copy of every worker's socket per listener, for the next generation.
  std::map<std::string, std::vector<UniqueFd>> copies_;
  bool draining_ = false;
  std::unique_ptr<RetiredSnapshots> retired_ = std::make_unique<RetiredSnapshots>();
  std::mutex publishMu_;  // versions reach each worker in order
  uint64_t version_ = 1;
  uint64_t listenerChanges_ = 0;
  bool running_ = false;
  bool stopped_ = false;
};

}  // namespace corral::reload
