// The listening sockets of this process as one takeover sees them: what a
// previous generation handed over and is waiting to be claimed, the worker
// pools whose sockets go to the next generation, and the control loop's own
// listeners (admin, HTTP API). Process-wide, so that the services binding
// sockets (proxy, DNS) need not know a takeover happens: WorkerPool and
// controlListener() claim inherited sockets before binding new ones.
// Control thread only (the mutex guards against a pool stopped elsewhere).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "reload/sockets.h"

namespace corral::reload {

class WorkerPool;

class ProcessSockets {
 public:
  static ProcessSockets& get();

  // A socket of the previous generation, claimable by `endpoint.key()`.
  void inherit(const Endpoint& endpoint, UniqueFd fd);
  // One inherited socket for `key`; an invalid fd when none is left.
  UniqueFd claim(const std::string& key);
  // The inherited socket for `endpoint` when there is one, else a new one
  // bound now; plus a close-on-exec duplicate of it (kept for handing over
  // to the next generation).
  Result<std::pair<UniqueFd, UniqueFd>> claimOrBind(const Endpoint& endpoint, bool reusePort);
  // The most sockets inherited for one key (the previous worker count).
  size_t mostInheritedPerKey() const;
  // Closes the inherited sockets nobody claimed; returns their keys.
  std::vector<std::string> closeUnclaimed();

  // While true, listeners open without accepting (WorkerPool::resumeListeners
  // starts them): a new generation must not take connections before it can
  // route them.
  bool holdListeners() const;
  void setHoldListeners(bool hold);

  void addPool(WorkerPool* pool);
  void removePool(WorkerPool* pool);
  std::vector<WorkerPool*> pools() const;

  // Control-loop listeners: an inherited one for host:port, or a new bound
  // and listening socket; a copy is kept to hand to the next generation.
  Result<UniqueFd> controlListener(const std::string& host, int port);
  // The kept copies, by endpoint (the fds stay owned here).
  std::vector<std::pair<Endpoint, int>> controlListeners() const;
  // After a handover: the next generation has them; drop our copies.
  void releaseControlListeners();

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::pair<Endpoint, std::vector<UniqueFd>>> inherited_;
  bool hold_ = false;
  std::vector<WorkerPool*> pools_;
  std::vector<std::pair<Endpoint, UniqueFd>> controls_;
};

}  // namespace corral::reload
