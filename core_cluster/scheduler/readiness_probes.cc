#include "core_cluster/scheduler/readiness_probes.h"

#include <algorithm>

#include "base/http_client.h"
#include "base/log.h"

namespace corral::scheduler {

namespace {

// The task's port the check names (the first port when no definition has its name).
size_t probePortIndex(const conf::AppDefinition& def, const conf::ReadinessCheck& rc) {
  size_t portIndex = 0;
  for (size_t i = 0; i < def.portDefinitions.size(); ++i) {
    if (def.portDefinitions[i].name.value_or("") == rc.portName) portIndex = i;
  }
  return portIndex;
}

}  // namespace

ReadinessProbes::ReadinessProbes(Loop& loop, OnReady onReady)
    : loop_(loop), onReady_(std::move(onReady)) {}

bool ReadinessProbes::pending(const conf::AppDefinition& def,
                              const std::vector<const master::TaskRecord*>& tasks) const {
  if (def.readinessChecks.empty()) return false;
  for (const auto* t : tasks) {
    if (t->state == conf::TaskState::kRunning && !ready_.count(t->id)) return true;
  }
  return false;
}

void ReadinessProbes::probe(const conf::AppDefinition& def,
                            const std::vector<const master::TaskRecord*>& tasks, int64_t now) {
  if (def.readinessChecks.empty()) return;
  const auto& rc = def.readinessChecks.front();
  size_t portIndex = probePortIndex(def, rc);
  for (const auto* t : tasks) {
    if (t->state != conf::TaskState::kRunning || ready_.count(t->id) || inFlight_.count(t->id))
      continue;
    auto due = due_.find(t->id);
    if (due != due_.end() && due->second > now) continue;
    if (portIndex >= t->ports.size()) continue;
    inFlight_.insert(t->id);
    due_[t->id] = now + rc.intervalSeconds * 1000;
    http::Request req;
    req.target = rc.path;
    uint64_t key = checks_.nextKey();
    checks_.add(
        key, http::fetch(
                 loop_, t->host, t->ports[portIndex], std::move(req),
                 [this, key, id = t->id, appId = def.id, codes = rc.httpStatusCodesForReady,
                  name = rc.name](Result<http::Response> r) {
                   checks_.done(key);
                   inFlight_.erase(id);
                   if (!r.ok()) return;
                   if (std::find(codes.begin(), codes.end(), r->status) == codes.end()) return;
                   ready_.insert(id);
                   due_.erase(id);
                   log::info("task {} is ready ({} answered {})", id, name, r->status);
                   onReady_(appId);
                 },
                 http::ClientOptions{.timeoutMs = static_cast<uint64_t>(rc.timeoutSeconds) * 1000,
                                     .tls = nullptr}));
  }
}

void ReadinessProbes::forget(const std::string& taskId) {
  ready_.erase(taskId);
  due_.erase(taskId);
}

}  // namespace corral::scheduler
