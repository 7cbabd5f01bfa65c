#include "core_cluster/scheduler/deployment_policy.h"

#include <algorithm>
#include <cmath>

namespace corral::scheduler {

namespace {

// Rolling replacement while old tasks remain: kill old ones as long as enough
// healthy instances stay up, start new ones within the room over capacity.
Step rollingStep(const conf::AppDefinition& def, const std::vector<const TaskFacts*>& current,
                 const std::vector<const TaskFacts*>& old, int stopping) {
  Step step;
  int target = def.instances;
  double mhc = def.upgradeStrategy.minimumHealthCapacity;
  double moc = def.upgradeStrategy.maximumOverCapacity;
  int minHealthy = static_cast<int>(std::ceil(target * mhc - 1e-9));
  int maxTotal = target + static_cast<int>(std::floor(target * moc + 1e-9));
  // With no room over capacity and full health required nothing could move: allow one extra.
  if (maxTotal <= target && minHealthy >= target) maxTotal = target + 1;
  int currentHealthy = 0;
  for (const auto* t : current) currentHealthy += t->healthy;
  int healthy = currentHealthy;
  for (const auto* t : old) healthy += t->healthy;
  // Tasks being stopped still hold resources: they count towards the maximum.
  int total = static_cast<int>(current.size() + old.size()) + stopping;
  // No room to start a new instance: old ones make room, down to the minimum healthy.
  bool noRoom = total >= maxTotal;
  // Unhealthy old tasks go first.
  std::vector<const TaskFacts*> oldSorted = old;
  std::stable_sort(oldSorted.begin(), oldSorted.end(),
                   [](const TaskFacts* a, const TaskFacts* b) { return a->healthy < b->healthy; });
  int excess = static_cast<int>(current.size() + old.size()) - target;
  for (const auto* t : oldSorted) {
    bool h = t->healthy;
    bool keepsCapacity = !h || healthy - 1 >= minHealthy;
    // Only kill when over target, when new healthy ones can take its place, or
    // when there is no room to start new ones.
    bool replaceable = excess > 0 || currentHealthy >= target || !h || noRoom;
    if (!keepsCapacity || !replaceable) continue;
    step.kill.push_back(t->id);
    healthy -= h;
    --excess;
  }
  step.launch = std::max(0, std::min(target - static_cast<int>(current.size()), maxTotal - total));
  return step;
}

// Scaling down: unhealthy and not-yet-running tasks go first, then by the
// app's kill selection.
std::vector<std::string> scaleDownKills(const conf::AppDefinition& def,
                                        std::vector<const TaskFacts*> live, size_t count) {
  bool youngestFirst = def.killSelection == conf::KillSelection::kYoungestFirst;
  std::stable_sort(live.begin(), live.end(), [&](const TaskFacts* a, const TaskFacts* b) {
    if (a->healthy != b->healthy) return !a->healthy;
    return youngestFirst ? a->stagedAtMs > b->stagedAtMs : a->stagedAtMs < b->stagedAtMs;
  });
  std::vector<std::string> out;
  for (size_t i = 0; i < live.size() && i < count; ++i) out.push_back(live[i]->id);
  return out;
}

}  // namespace

Step nextStep(const conf::AppDefinition& def, const std::vector<TaskFacts>& tasks) {
  std::vector<const TaskFacts*> live, current, old;
  int stopping = 0;
  bool oldStopping = false;
  for (const auto& t : tasks) {
    if (!t.active) continue;
    if (t.stopping) {
      ++stopping;
      oldStopping |= !t.current;
      continue;
    }
    live.push_back(&t);
    (t.current ? current : old).push_back(&t);
  }
  int target = def.instances;
  // Until the last old task is gone, the upgrade strategy rules.
  if (!old.empty() || oldStopping) return rollingStep(def, current, old, stopping);
  Step step;
  if (static_cast<int>(live.size()) < target) {
    step.launch = target - static_cast<int>(live.size());
  } else if (static_cast<int>(live.size()) > target) {
    step.kill = scaleDownKills(def, live, live.size() - static_cast<size_t>(target));
  }
  return step;
}

bool deploymentDone(const conf::AppDefinition& def, const std::vector<TaskFacts>& tasks) {
  int healthyCurrent = 0;
  for (const auto& t : tasks) {
    if (!t.current || t.stopping) return false;
    if (!t.active) continue;
    if (!t.healthy) return false;
    ++healthyCurrent;
  }
  return healthyCurrent == def.instances;
}

bool isLaunchFailure(conf::TaskState state, bool healthKill, bool stopRequested) {
  using S = conf::TaskState;
  if (stopRequested || !conf::isTerminal(state)) return false;
  return state == S::kFailed || state == S::kError || state == S::kLost || state == S::kDropped ||
         state == S::kFinished || healthKill;
}

double launchBackoffSeconds(const conf::AppDefinition& def, int failuresInRow) {
  double delay = def.backoffSeconds * std::pow(def.backoffFactor, failuresInRow - 1);
  return std::min(delay, static_cast<double>(def.maxLaunchDelaySeconds));
}

}  // namespace corral::scheduler
